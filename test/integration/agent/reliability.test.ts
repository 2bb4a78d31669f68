import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStore } from '../../../hub/store/open-store.js';
import { describeWithComponent, pgMissing, pgUrl } from '../../support/components.js';
import {
  Child,
  createTestDatabase,
  freePort,
  readSpool,
  scrapeMetric,
  storedValues,
  summary,
  waitFor,
} from './harness.js';

/**
 * The agent's delivery guarantees, end to end with real processes: the real
 * agent (agent-child.ts: startAgent with the test-only sequence collector)
 * streaming to the real ingest server over the real PostgreSQL store
 * (hub-child.ts), both killed and restarted while data flows.
 */
const PER_RUN = 10;
/** One spool record per collection: 10 test samples + 3 collector health samples. */
const BATCH_SAMPLES = PER_RUN + 3;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeWithComponent(
  'PostgreSQL',
  pgMissing,
  'agent reliability (real hub, real store, real processes)',
  () => {
    let dbUrl: string;
    let dropDb: () => Promise<void>;
    let db: pg.Client;
    const dirs: string[] = [];

    beforeAll(async () => {
      ({ url: dbUrl, drop: dropDb } = await createTestDatabase(pgUrl!));
      // Migrations once, before hubs start concurrently.
      const store = await openStore(
        { databaseUrl: dbUrl, dataDir: '', retentionDays: 3650 },
        pino({ level: 'silent' }),
      );
      await store.close();
      db = new pg.Client({ connectionString: dbUrl });
      await db.connect();
    });
    afterAll(async () => {
      await db?.end();
      await dropDb?.();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    /** One scenario's hub, agent and files; a distinct cluster keeps scenarios apart in the database. */
    async function scenario(
      name: string,
      opts: { limit: number; spoolMaxBytes?: number; segmentBytes?: number; hubMaxSamplesPerBatch?: number },
    ) {
      const dir = mkdtempSync(join(tmpdir(), `aiops-rel-${name}-`));
      dirs.push(dir);
      const cluster = `rel-${name}`;
      const store = await openStore(
        { databaseUrl: dbUrl, dataDir: '', retentionDays: 3650 },
        pino({ level: 'silent' }),
      );
      const { token } = await store.enrollmentTokens.create(cluster, 'reliability test');
      await store.close();
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, token);
      const hubPort = await freePort();
      const hub = new Child('hub-child.ts', {
        AIOPS_TEST_HUB_DB: dbUrl,
        AIOPS_TEST_HUB_PORT: String(hubPort),
        AIOPS_TEST_HUB_MAX_SAMPLES_PER_BATCH: String(opts.hubMaxSamplesPerBatch ?? 0),
      });
      const agentEnv: Record<string, string> = {
        AIOPS_AGENT_HUB_ADDRESS: `127.0.0.1:${hubPort}`,
        AIOPS_AGENT_TOKEN_FILE: tokenFile,
        AIOPS_AGENT_CLUSTER: cluster,
        AIOPS_AGENT_NODE_NAME: `node-${name}`,
        AIOPS_AGENT_DATA_DIR: join(dir, 'agent'),
        AIOPS_AGENT_HTTP_ADDRESS: '127.0.0.1:0',
        AIOPS_AGENT_LOG_LEVEL: 'warn',
        AIOPS_AGENT_COLLECTORS: 'sequence',
        AIOPS_AGENT_INTERVAL_MS: '100',
        AIOPS_AGENT_BATCH_MAX_SAMPLES: String(BATCH_SAMPLES),
        AIOPS_AGENT_BATCH_MAX_AGE_MS: '50',
        AIOPS_AGENT_SPOOL_FSYNC: 'always',
        AIOPS_AGENT_SPOOL_MAX_BYTES: String(opts.spoolMaxBytes ?? 64 * 1024 * 1024),
        AIOPS_AGENT_SPOOL_SEGMENT_MAX_BYTES: String(opts.segmentBytes ?? 4096),
        AIOPS_AGENT_BACKOFF_INITIAL_MS: '100',
        AIOPS_AGENT_BACKOFF_MAX_MS: '800',
        AIOPS_TEST_SEQ_STATE: join(dir, 'seq-state'),
        AIOPS_TEST_SEQ_LOG: join(dir, 'seq-log'),
        AIOPS_TEST_SEQ_PER_RUN: String(PER_RUN),
        AIOPS_TEST_SEQ_LIMIT: String(opts.limit),
      };
      const agent = new Child('agent-child.ts', agentEnv);
      const nextValue = () => {
        try {
          return Number(readFileSync(agentEnv.AIOPS_TEST_SEQ_STATE!, 'utf8'));
        } catch {
          return 1;
        }
      };
      const generationDone = () =>
        waitFor('generation', async () => (nextValue() > opts.limit ? true : undefined), 60_000);
      /** Until the agent has nothing unacked left. */
      const drained = () =>
        waitFor(
          'agent drained',
          async () => {
            const port = agent.readyValue;
            const written = await scrapeMetric(port, 'agent_spool_written_sequence');
            const acked = await scrapeMetric(port, 'agent_spool_acked_sequence');
            return written > 0 && written === acked ? true : undefined;
          },
          60_000,
        );
      const events = async (kind: string) =>
        (
          await db.query<{ attributes: Record<string, string> }>(
            'SELECT attributes FROM events WHERE cluster = $1 AND kind = $2 ORDER BY ts, id',
            [cluster, kind],
          )
        ).rows.map((r) => r.attributes);
      const stop = async () => {
        await agent.kill('SIGTERM');
        await hub.kill('SIGKILL');
      };
      return { dir, cluster, hub, agent, agentEnv, nextValue, generationDone, drained, events, stop };
    }

    it('stores every generated sample exactly once when the hub is SIGKILLed three times mid-stream', async () => {
      const limit = 1500;
      const s = await scenario('hubkill', { limit });
      try {
        await s.hub.start();
        await s.agent.start();
        for (let i = 0; i < 3; i++) {
          await sleep(1500);
          await s.hub.kill('SIGKILL');
          await sleep(700);
          await s.hub.start();
        }
        await s.generationDone();
        await s.drained();
        const stored = await storedValues(db, s.cluster);
        expect(summary(stored)).toEqual(summary(range(1, limit)));
        expect(stored).toEqual(range(1, limit));
      } finally {
        await s.stop();
      }
    }, 120_000);

    it('resumes from its spool after the agent is SIGKILLed mid-batch: nothing lost, nothing duplicated', async () => {
      const limit = 1500;
      const s = await scenario('agentkill', { limit });
      // The default: each collection written through to the spool at once.
      s.agentEnv.AIOPS_AGENT_BATCH_MAX_AGE_MS = '0';
      // "Generated" counts a value once its batch is in the spool
      // (agent-child.ts): a value collected but killed before that is
      // collected again after the restart, as a source that resumes from
      // durable state would, so the test can demand zero loss.
      s.agentEnv.AIOPS_TEST_SEQ_DURABLE = '1';
      try {
        await s.hub.start();
        await s.agent.start();
        for (let i = 0; i < 3; i++) {
          await sleep(1200 + i * 300);
          await s.agent.kill('SIGKILL');
          await sleep(500); // let the hub commit what it received
          // Everything generated is in the spool or in the store.
          const generated = s.nextValue() - 1;
          const durable = new Set([
            ...readSpool(join(s.agentEnv.AIOPS_AGENT_DATA_DIR!, 'spool')).flatMap((r) => r.values),
            ...(await storedValues(db, s.cluster)),
          ]);
          expect(generated).toBeGreaterThan(0);
          expect(range(1, generated).filter((v) => !durable.has(v))).toEqual([]);
          await s.agent.start();
        }
        await s.generationDone();
        await s.drained();
        const stored = await storedValues(db, s.cluster);
        expect(summary(stored)).toEqual(summary(range(1, limit)));
        expect(stored).toEqual(range(1, limit));
      } finally {
        await s.stop();
      }
    }, 120_000);

    it('drops the oldest data when the hub is away longer than the spool bound, counts it, and delivers the rest', async () => {
      const limit = 600;
      const s = await scenario('overflow', { limit, spoolMaxBytes: 8192, segmentBytes: 1024 });
      try {
        await s.agent.start(); // hub not started: unreachable
        await s.generationDone();
        await sleep(300);
        // Stop it while the hub is still away (SIGTERM flushes to the spool);
        // the restarted agent finds the hub up.
        await s.agent.kill('SIGTERM');
        await s.hub.start();
        // Restarted with room to spare, so it drops nothing more (and in
        // particular not the record carrying the last overflow event).
        s.agentEnv.AIOPS_AGENT_SPOOL_MAX_BYTES = String(1024 * 1024);
        await s.agent.start();
        await s.drained();
        const stored = await storedValues(db, s.cluster);
        // The oldest values are gone, as a prefix; everything after is there once.
        const firstKept = stored[0] ?? limit + 1;
        expect(firstKept).toBeGreaterThan(1);
        expect(stored).toEqual(range(firstKept, limit));
        const lost = firstKept - 1;
        expect(lost % PER_RUN).toBe(0);
        // The hub heard about it: the latest overflow event carries the running
        // totals of the process that dropped. Each dropped record held one
        // collection: 10 test + 3 health samples, or (after the limit) 3 health
        // samples only, or no samples (an event-only record).
        const overflow = await s.events('spool_overflow');
        expect(overflow.length).toBeGreaterThan(0);
        // Totals run per agent process (boot_ms); only the first one dropped.
        const perBoot = new Map<string, { samples: number; records: number }>();
        for (const e of overflow) {
          const prev = perBoot.get(e.boot_ms!) ?? { samples: 0, records: 0 };
          perBoot.set(e.boot_ms!, {
            samples: Math.max(prev.samples, Number(e.samples_total)),
            records: Math.max(prev.records, Number(e.records_total)),
          });
        }
        expect(perBoot.size).toBe(1);
        const { samples: samplesTotal, records: recordsTotal } = [...perBoot.values()][0]!;
        const testSamplesDropped = (lost / PER_RUN) * BATCH_SAMPLES;
        expect(samplesTotal).toBeGreaterThanOrEqual(testSamplesDropped);
        expect((samplesTotal - testSamplesDropped) % 3).toBe(0);
        expect(recordsTotal).toBeGreaterThanOrEqual(lost / PER_RUN);
      } finally {
        await s.stop();
      }
    }, 120_000);

    it('skips a corrupted spool record, reports the corruption, and delivers everything else', async () => {
      const limit = 300;
      const s = await scenario('corrupt', { limit, segmentBytes: 2048 });
      try {
        await s.agent.start(); // hub not started: everything stays spooled
        await s.generationDone();
        await s.agent.kill('SIGTERM');
        const spoolDir = join(s.agentEnv.AIOPS_AGENT_DATA_DIR!, 'spool');
        const records = readSpool(spoolDir).filter((r) => r.values.length > 0);
        const victim = records[Math.floor(records.length / 2)]!;
        const segPath = join(spoolDir, victim.segment);
        const bytes = readFileSync(segPath);
        const at = victim.offset + victim.sizeBytes - 5; // inside the payload
        bytes[at] = bytes[at]! ^ 0x5a;
        writeFileSync(segPath, bytes);

        await s.hub.start();
        await s.agent.start();
        await s.drained();
        const stored = await storedValues(db, s.cluster);
        const expected = range(1, limit).filter((v) => !victim.values.includes(v));
        expect(victim.values).toHaveLength(PER_RUN);
        expect(stored).toEqual(expected);
        expect(await scrapeMetric(s.agent.readyValue, 'agent_spool_corrupt_regions_total')).toBe(1);
        const corruption = await s.events('spool_corruption');
        expect(corruption).toEqual([
          expect.objectContaining({
            segment: victim.segment,
            offset: String(victim.offset),
            reason: 'crc_mismatch',
          }),
        ]);
      } finally {
        await s.stop();
      }
    }, 120_000);

    it('splits batches built before the hub limits were known, loses nothing, and caps later ones by the saved limits', async () => {
      const limit = 200;
      const hubMax = 20;
      const s = await scenario('split', { limit, hubMaxSamplesPerBatch: hubMax });
      const spoolDir = join(s.agentEnv.AIOPS_AGENT_DATA_DIR!, 'spool');
      try {
        // Hub away and big batches (up to 1 s of collections): the spool fills
        // with batches over the limit the hub will announce.
        s.agentEnv.AIOPS_AGENT_BATCH_MAX_SAMPLES = '1000';
        s.agentEnv.AIOPS_AGENT_BATCH_MAX_AGE_MS = '1000';
        await s.agent.start();
        await s.generationDone();
        await s.agent.kill('SIGTERM'); // flushes everything to the spool
        const oversize = readSpool(spoolDir).filter((r) => r.samples > hubMax);
        expect(oversize.length).toBeGreaterThan(0);

        // Then the hub is up and the agent generates 200 more values (in
        // small batches again, so the last is spooled when generation ends).
        s.agentEnv.AIOPS_AGENT_BATCH_MAX_SAMPLES = String(BATCH_SAMPLES);
        s.agentEnv.AIOPS_AGENT_BATCH_MAX_AGE_MS = '50';
        s.agentEnv.AIOPS_TEST_SEQ_LIMIT = String(2 * limit);
        await s.hub.start();
        await s.agent.start();
        await waitFor('generation', async () => (s.nextValue() > 2 * limit ? true : undefined), 60_000);
        await s.drained();
        // Every value once: the oversized batches went as pieces within the limit.
        expect(await storedValues(db, s.cluster)).toEqual(range(1, 2 * limit));
        const port = s.agent.readyValue;
        expect(await scrapeMetric(port, 'agent_sender_split_batches_total')).toBeGreaterThanOrEqual(
          oversize.length,
        );
        expect(await scrapeMetric(port, 'agent_sender_dead_lettered_samples_total')).toBe(0);
        expect(existsSync(join(spoolDir, 'dead-letter'))).toBe(false);

        // The hub away again: batches built now, before any Welcome, already
        // respect the limits the agent saved from the last one.
        await s.agent.kill('SIGTERM');
        await s.hub.kill('SIGKILL');
        const lastSequence = readSpool(spoolDir).at(-1)?.sequence ?? 0;
        s.agentEnv.AIOPS_AGENT_BATCH_MAX_SAMPLES = '1000';
        s.agentEnv.AIOPS_AGENT_BATCH_MAX_AGE_MS = '1000';
        s.agentEnv.AIOPS_TEST_SEQ_LIMIT = String(3 * limit);
        await s.agent.start();
        await waitFor('generation', async () => (s.nextValue() > 3 * limit ? true : undefined), 60_000);
        await s.agent.kill('SIGTERM');
        const offline = readSpool(spoolDir).filter((r) => r.sequence > lastSequence);
        expect(offline.flatMap((r) => r.values).sort((a, b) => a - b)).toEqual(
          range(2 * limit + 1, 3 * limit),
        );
        expect(offline.every((r) => r.samples <= hubMax)).toBe(true);
        await s.hub.start();
        await s.agent.start();
        await s.drained();
        expect(await storedValues(db, s.cluster)).toEqual(range(1, 3 * limit));
        expect(await scrapeMetric(s.agent.readyValue, 'agent_sender_split_batches_total')).toBe(0);
      } finally {
        await s.stop();
      }
    }, 180_000);
  },
);
