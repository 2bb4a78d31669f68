import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../open-store.js';
import { ensureTemplate, templatePath } from './data-dir-template.js';

const silent = pino({ level: 'silent' });

/** gzip magic bytes: what PGlite.dumpDataDir('gzip') writes. */
const isGzip = (path: string): boolean => {
  const head = readFileSync(path).subarray(0, 2);
  return head[0] === 0x1f && head[1] === 0x8b;
};

describe('embedded data directory template', () => {
  let cache: string;
  const saved = process.env.AIOPS_PGLITE_TEMPLATE_DIR;
  beforeAll(() => {
    // A cache of this suite's own: the shared one is used by suites running beside it.
    cache = mkdtempSync(join(tmpdir(), 'aiops-tpl-cache-'));
    process.env.AIOPS_PGLITE_TEMPLATE_DIR = cache;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.AIOPS_PGLITE_TEMPLATE_DIR;
    else process.env.AIOPS_PGLITE_TEMPLATE_DIR = saved;
    rmSync(cache, { recursive: true, force: true });
  });

  it('is written once, named after the PGlite version', async () => {
    const first = await ensureTemplate();
    expect(first.written).toBe(true);
    expect(first.path).toMatch(/pglite-\d+\.\d+\.\d+.*-datadir\.tar\.gz$/);
    expect(isGzip(first.path)).toBe(true);
    expect((await ensureTemplate()).written).toBe(false);
  }, 60_000);

  it('opens a new store from it, with the store schema and nothing of another store', async () => {
    const a = mkdtempSync(join(tmpdir(), 'aiops-tpl-a-'));
    const b = mkdtempSync(join(tmpdir(), 'aiops-tpl-b-'));
    try {
      const one = await openStore({ dataDir: a, retentionDays: 30 }, silent);
      await one.sql.query('CREATE TABLE only_in_a (x int); INSERT INTO only_in_a VALUES (1)');
      await one.close();
      const two = await openStore({ dataDir: b, retentionDays: 30 }, silent);
      try {
        const tables = await two.sql.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_tables WHERE tablename IN ('samples', 'only_in_a')",
        );
        expect(Number(tables.rows[0]!.n)).toBe(1);
      } finally {
        await two.close();
      }
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  }, 120_000);

  it('falls back to initdb and writes a good template when the template is damaged', async () => {
    writeFileSync(templatePath(), 'not a tarball');
    const dir = mkdtempSync(join(tmpdir(), 'aiops-tpl-c-'));
    try {
      const store = await openStore({ dataDir: dir, retentionDays: 30 }, silent);
      const r = await store.sql.query<{ one: number }>('SELECT 1 AS one');
      expect(r.rows[0]!.one).toBe(1);
      await store.close();
      expect(isGzip(templatePath())).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
