import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverSockets, expandGlob, udsAddressFromConfig } from './discovery.js';

const fixtures = join(import.meta.dirname, '../../../test/fixtures/ptp');

describe('udsAddressFromConfig', () => {
  it('reads uds_address from the [global] section of a recorded ptp4l config', () => {
    expect(udsAddressFromConfig(readFileSync(join(fixtures, 'slave.cfg'), 'utf8'))).toBe(
      '/tmp/ptp-netns.prjZLu/ptp4l-slave.sock',
    );
  });

  it('falls back to /var/run/ptp4l and ignores interface sections and comments', () => {
    expect(udsAddressFromConfig('[global]\n# uds_address /x\n[eth0]\nuds_address /y\n')).toBe(
      '/var/run/ptp4l',
    );
  });
});

describe('discoverSockets', () => {
  let dir: string;
  const servers: Server[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aiops-ptp-disc-'));
    for (const name of ['ptp4l.0.socket', 'ptp4l.1.socket']) {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(join(dir, name), resolve));
      servers.push(server);
    }
    await writeFile(join(dir, 'ptp4l.2.socket'), 'not a socket');
    await writeFile(join(dir, 'ptp4l.0.config'), `[global]\nuds_address ${join(dir, 'ptp4l.1.socket')}\n`);
  });
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('expands a glob in the last path segment only', async () => {
    expect(await expandGlob(join(dir, 'ptp4l.?.socket'))).toEqual([
      join(dir, 'ptp4l.0.socket'),
      join(dir, 'ptp4l.1.socket'),
      join(dir, 'ptp4l.2.socket'),
    ]);
    expect(await expandGlob('/nonexistent-dir/ptp4l*')).toEqual([]);
  });

  it('keeps only UNIX sockets, from globs and config files, without duplicates', async () => {
    expect(await discoverSockets([join(dir, 'ptp4l.*.socket')], [join(dir, '*.config')])).toEqual([
      join(dir, 'ptp4l.0.socket'),
      join(dir, 'ptp4l.1.socket'),
    ]);
    expect(await discoverSockets([join(dir, 'none')], [])).toEqual([]);
  });
});
