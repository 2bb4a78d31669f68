import { describe, expect, it } from 'vitest';
import { loadStoreMigrations } from './migrate.js';

describe('loadStoreMigrations', () => {
  it('picks each migration once, in id order, with the variant of the dialect', async () => {
    const plain = await loadStoreMigrations('postgres');
    const tsdb = await loadStoreMigrations('timescaledb');
    expect(plain.map((m) => m.id)).toEqual(['001_core', '002_samples']);
    expect(tsdb.map((m) => m.id)).toEqual(['001_core', '002_samples']);
    expect(plain[1]?.sql).toContain('USING brin');
    expect(plain[1]?.sql).not.toContain('create_hypertable');
    expect(tsdb[1]?.sql).toContain('create_hypertable');
    expect(tsdb[1]?.sql).toContain('timescaledb.materialized_only = false');
  });

  it('never ships a destructive statement', async () => {
    for (const dialect of ['postgres', 'timescaledb'] as const) {
      for (const m of await loadStoreMigrations(dialect)) {
        expect(m.sql, m.id).not.toMatch(/\b(DROP\s+(TABLE|COLUMN|SCHEMA)|TRUNCATE|DELETE\s+FROM)\b/i);
      }
    }
  });
});
