import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KernelLogReader, normalizePci, parseXidLine } from './xid.js';

const fixture = new URL(
  '../../../test/fixtures/gpu/kmsg/gpud-dmesg__xid-119-gsp-timeout.log',
  import.meta.url,
);

describe('Xid kernel lines', () => {
  it('finds every Xid in the recorded dmesg (five Xid 119 on PCI 0000:9b:00) and nothing else', () => {
    const lines = readFileSync(fixture, 'utf8').split('\n');
    const xids = lines.map(parseXidLine).filter((x) => x !== undefined);
    expect(xids).toHaveLength(5);
    for (const x of xids) {
      expect(x.xid).toBe(119);
      expect(x.pci).toBe('0000:9b:00');
      expect(x.message).toMatch(/Timeout after 6s of waiting for RPC response from GPU4 GSP/);
    }
  });

  it('reads /dev/kmsg records and the older format without "PCI:"', () => {
    expect(
      parseXidLine(
        "3,1234,5678901,-;NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.",
      ),
    ).toEqual({
      pci: '0000:3b:00',
      xid: 79,
      message: "pid='<unknown>', name=<unknown>, GPU has fallen off the bus.",
      bootUs: 5678901,
    });
    expect(parseXidLine('NVRM: Xid (0000:03:00): 13, Graphics Exception')).toMatchObject({
      xid: 13,
      pci: '0000:03:00',
    });
    expect(parseXidLine('NVRM: GPU at PCI:0000:9b:00: GPU-509665ad')).toBeUndefined();
  });

  it('matches kernel and nvidia-smi PCI ids', () => {
    expect(normalizePci('0000:9b:00')).toBe(normalizePci('00000000:9B:00.0'));
    expect(normalizePci('garbage')).toBeUndefined();
  });

  it('follows a recorded log file like tail -f, never returning a partial line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiops-kmsg-'));
    try {
      const path = join(dir, 'kmsg.log');
      writeFileSync(path, 'first\nsecond\npart');
      const reader = new KernelLogReader(path);
      expect(reader.poll()).toEqual(['first', 'second']);
      expect(reader.poll()).toEqual([]);
      appendFileSync(path, 'ial\nthird\n');
      expect(reader.poll()).toEqual(['partial', 'third']);
      reader.close();
      reader.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('throws when the log cannot be opened, so the collector can report the source absent', () => {
    expect(() => new KernelLogReader('/nonexistent/kmsg')).toThrow(/ENOENT/);
  });
});
