import { appendFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogTail } from './log-tail.js';

describe('LogTail', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aiops-ptp-tail-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('skips history of an existing file and returns only complete new lines', async () => {
    const path = join(dir, 'a.log');
    await writeFile(path, 'old line\n');
    const tail = new LogTail(path, 1024);
    await tail.start();
    expect((await tail.read()).lines).toEqual([]);
    await appendFile(path, 'one\ntw');
    expect((await tail.read()).lines).toEqual(['one']);
    await appendFile(path, 'o\n');
    expect((await tail.read()).lines).toEqual(['two']);
  });

  it('reads a file that appears later from its start, and reports absence meanwhile', async () => {
    const path = join(dir, 'b.log');
    const tail = new LogTail(path, 1024);
    await tail.start();
    expect(await tail.read()).toEqual({ lines: [], present: false, pendingBytes: 0 });
    await writeFile(path, 'first\n');
    expect((await tail.read()).lines).toEqual(['first']);
  });

  it('restarts at offset 0 after truncation and after rotation', async () => {
    const path = join(dir, 'c.log');
    await writeFile(path, '');
    const tail = new LogTail(path, 1024);
    await tail.start();
    await writeFile(path, 'aaaaaaaaaa\n');
    expect((await tail.read()).lines).toEqual(['aaaaaaaaaa']);
    await writeFile(path, 'b\n');
    expect((await tail.read()).lines).toEqual(['b']);
    await rename(path, `${path}.1`);
    await writeFile(path, 'c\n');
    expect((await tail.read()).lines).toEqual(['c']);
  });

  it('reads at most maxReadBytes per call and leaves the rest pending', async () => {
    const path = join(dir, 'd.log');
    await writeFile(path, '');
    const tail = new LogTail(path, 8);
    await tail.start();
    await appendFile(path, '1234\n5678\nabcd\n');
    const first = await tail.read();
    expect(first.lines).toEqual(['1234']);
    expect(first.pendingBytes).toBe(7);
    expect((await tail.read()).lines).toEqual(['5678', 'abcd']);
  });
});
