import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials as grpcCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { CollectorFactory } from './collectors/collector.js';
import { collectorFactories } from './collectors/registry.js';
import { Scheduler, type ScheduledCollector } from './collectors/scheduler.js';
import type { AgentConfig } from './config.js';
import { buildBatch, encodeBatchMessage, type Batch } from './encode/batch.js';
import { SeriesRefTable } from './encode/series-refs.js';
import { ConfigError } from './errors.js';
import { batchCapsOf, planHubConfig, type CollectorPlan } from './hub-config.js';
import type { AgentEvent, Collection } from './model/telemetry.js';
import type { Limits } from './encode/ingest-client.js';
import { startOpsServer } from './ops/http.js';
import { createAgentMetrics, type AgentMetrics } from './ops/metrics.js';
import { Batcher } from './pipeline/batcher/batcher.js';
import { Sender } from './pipeline/sender/sender.js';
import { Spool } from './pipeline/spool/spool.js';
import { AGENT_VERSION } from './version.js';

/** How often the spool backlog is sent to the hub as samples. */
const BACKLOG_REPORT_INTERVAL_MS = 10_000;

/** Decoded batches kept for the sender: about one hub window, so memory stays small. */
const RECENT_BATCHES = 8;

/** Something that runs until stopped. `stop()` is safe before start completes and safe twice. */
export interface Service {
  stop(): Promise<void>;
}

export interface AgentService extends Service {
  readonly agentId: string;
  /** Port of /healthz, /readyz, /metrics (undefined when disabled). */
  readonly httpPort: number | undefined;
  readonly metrics: AgentMetrics;
}

export interface StartAgentOptions {
  /** Collector factories to use instead of the registry (tests add deterministic ones). */
  readonly factories?: readonly CollectorFactory<unknown>[];
  /** Export process CPU/memory metrics on /metrics (standalone agent: yes; in-process beside the hub: no). */
  readonly processMetrics?: boolean;
  /**
   * Called once a batch is in the spool, before it is sent: the point from
   * which a SIGKILL can no longer lose it. For sources that resume from
   * what is durable (the reliability tests' sequence source).
   */
  readonly onSpooled?: (sequence: number, collections: readonly Collection[]) => void;
}

/**
 * Assembles and starts the agent: collectors -> scheduler -> batcher ->
 * disk spool -> sender, plus the ops HTTP server. The one call that
 * agent/main.ts and the hub's all-in-one mode make.
 */
export async function startAgent(
  config: AgentConfig,
  logger: Logger,
  options: StartAgentOptions = {},
): Promise<AgentService> {
  const factories = options.factories ?? collectorFactories;
  const log = logger.child({ component: 'agent' });
  mkdirSync(config.dataDir, { recursive: true });
  const agentId = config.agentId ?? persistentAgentId(config.dataDir, config.nodeName);
  const metrics = createAgentMetrics({ processMetrics: options.processMetrics ?? false });
  let status: 'starting' | 'ok' | 'stopping' | 'stopped' = 'starting';

  // The spool reports overflow and corruption as events in the next batch;
  // it is created after the batcher that carries them.
  // eslint-disable-next-line prefer-const -- assigned below, read by closures created first
  let spool: Spool | undefined;
  // eslint-disable-next-line prefer-const -- same
  let sender: Sender | undefined;
  const recent = new Map<number, Batch>();
  const refs = new SeriesRefTable(join(config.dataDir, 'series-refs.jsonl'), {
    sync: config.spool.fsync !== 'never',
    logger: log,
  });
  const batcher = new Batcher({
    ...config.batch,
    flush: (collections, samples) => {
      let built: Batch | undefined;
      const sequence = spool!.append(
        (seq) => encodeBatchMessage((built = buildBatch(seq, collections, refs))),
        samples,
      );
      options.onSpooled?.(sequence, collections);
      // The last few batches stay decoded for the sender (see SenderOptions.recent).
      recent.set(sequence, built!);
      for (const old of recent.keys()) {
        if (recent.size <= RECENT_BATCHES) break;
        recent.delete(old);
      }
      metrics.batchesSpooledTotal.inc();
      sender?.notify();
    },
    onError: (err, samples) => {
      metrics.batchWriteErrorsTotal.inc();
      metrics.batchWriteErrorSamplesTotal.inc(samples);
      log.error({ err, samples }, 'writing a batch to the spool failed; batch lost');
    },
  });
  const agentEvent = (
    kind: string,
    severity: AgentEvent['severity'],
    message: string,
    attributes: Record<string, string>,
  ): Collection => ({
    samples: [],
    events: [
      { timestampMs: Date.now(), kind, severity, source: 'agent', entity: agentId, message, attributes },
    ],
    inventory: [],
  });
  // The last hub's limits, so batches built after a restart and before the
  // first Welcome (the hub away, or still answering) already respect them.
  const limitsFile = join(config.dataDir, 'hub-limits.json');
  const savedLimits = readHubLimits(limitsFile, log);
  if (savedLimits) batcher.setCaps(batchCapsOf(savedLimits));
  let lastLimits = savedLimits ? JSON.stringify(savedLimits) : undefined;
  const onLimits = (limits: Limits) => {
    batcher.setCaps(batchCapsOf(limits));
    const text = JSON.stringify(limits);
    if (text === lastLimits) return;
    lastLimits = text;
    try {
      writeFileSync(`${limitsFile}.tmp`, `${text}\n`);
      renameSync(`${limitsFile}.tmp`, limitsFile);
    } catch (err) {
      // Only costs splitting (by the sender) of batches built before the next Welcome.
      log.warn({ err, path: limitsFile }, 'could not save the hub limits');
    }
  };
  const dropTotals = { records: 0, samples: 0 };
  const bootMs = Date.now();
  spool = Spool.open({
    dir: join(config.dataDir, 'spool'),
    ...config.spool,
    logger: log.child({ component: 'spool' }),
    onOverflow: (d) => {
      metrics.spoolDroppedRecordsTotal.inc(d.records);
      metrics.spoolDroppedSamplesTotal.inc(d.samples);
      dropTotals.records += d.records;
      dropTotals.samples += d.samples;
      // The event goes into the newest batch, which a long outage may drop
      // in turn; the running totals let the hub account for every drop
      // from the latest overflow event that arrives.
      batcher.add(
        agentEvent(
          'spool_overflow',
          'warning',
          `spool full: dropped ${d.records} unsent batches (${d.samples} samples)`,
          {
            records: String(d.records),
            samples: String(d.samples),
            // Running totals are per agent process; boot_ms tells processes apart.
            boot_ms: String(bootMs),
            records_total: String(dropTotals.records),
            samples_total: String(dropTotals.samples),
            first_sequence: String(d.firstSequence),
            last_sequence: String(d.lastSequence),
            bytes: String(d.bytes),
          },
        ),
      );
    },
    onCorruption: (c) => {
      metrics.spoolCorruptRecordsTotal.inc();
      metrics.spoolCorruptBytesTotal.inc(c.bytes);
      batcher.add(
        agentEvent(
          'spool_corruption',
          'error',
          `spool ${c.reason}: skipped ${c.bytes} bytes in ${c.segment}`,
          {
            segment: c.segment,
            offset: String(c.offset),
            bytes: String(c.bytes),
            reason: c.reason,
          },
        ),
      );
    },
  });

  const scheduled: ScheduledCollector[] = [];
  for (const [name, settings] of Object.entries(config.collectors)) {
    if (!settings.enabled) continue;
    const factory = factories.find((f) => f.name === name);
    if (!factory) throw new ConfigError([`collectors.${name}: no such collector in this build`]);
    const collector = factory.create(settings.options ?? factory.defaultConfig(), {
      logger: logger.child({ component: 'collector', collector: name }),
      nodeName: config.nodeName,
      now: Date.now,
    });
    scheduled.push({ collector, intervalMs: settings.intervalMs, timeoutMs: settings.timeoutMs });
  }
  const scheduler = new Scheduler({
    collectors: scheduled,
    sink: (c) => batcher.add(c),
    metrics,
    logger: log,
  });

  // The spool backlog as data in the stream (not only on /metrics), so the
  // hub's fleet view shows which nodes cannot deliver.
  const backlogTimer = setInterval(() => {
    const st = spool!.stats();
    const timestampMs = Date.now();
    const gauge = (metric: string, value: number) => ({
      series: { metric, source: 'agent', entity: '', labels: {}, kind: 'gauge' as const },
      timestampMs,
      value,
    });
    batcher.add({
      samples: [
        gauge('agent_spool_pending_records', st.pendingRecords),
        gauge('agent_spool_bytes', st.bytes),
      ],
      events: [],
      inventory: [],
    });
  }, BACKLOG_REPORT_INTERVAL_MS);
  backlogTimer.unref();

  // Hub-pushed collector settings (Welcome and later): applied when they
  // change, problems logged once per distinct push.
  // Starts as the local settings, so a hub that pushes nothing changes nothing.
  let appliedPlan = JSON.stringify(
    scheduled.map((s): CollectorPlan => ({
      name: s.collector.name,
      enabled: true,
      intervalMs: s.intervalMs,
    })),
  );
  let reportedProblems = '';
  const applyHubConfig = (collectors: Parameters<typeof planHubConfig>[0]) => {
    const { plan, problems } = planHubConfig(
      collectors,
      scheduled.map((s) => ({ name: s.collector.name, intervalMs: s.intervalMs })),
      factories.map((f) => f.name),
    );
    const problemKey = problems.join('\n');
    if (problems.length > 0 && problemKey !== reportedProblems) {
      metrics.hubConfigRejectedTotal.inc(problems.length);
      log.warn({ problems }, 'hub collector configuration partly not applied');
    }
    reportedProblems = problemKey;
    const key = JSON.stringify(plan);
    if (key === appliedPlan) return;
    const before = JSON.parse(appliedPlan) as CollectorPlan[];
    for (const p of plan) {
      const old = before.find((b) => b.name === p.name);
      if (old?.enabled === p.enabled && old.intervalMs === p.intervalMs) continue;
      scheduler.reconfigure(p.name, p);
    }
    appliedPlan = key;
    log.info({ collectors: plan }, 'collector settings from the hub applied');
  };

  sender = new Sender({
    address: config.hubAddress,
    credentials: channelCredentials(config),
    token: config.token,
    hello: {
      agentId,
      cluster: config.cluster,
      node: config.nodeName,
      version: `aiops-agent/${AGENT_VERSION}`,
      capabilities: scheduled.map((s) => s.collector.name),
    },
    spool,
    metrics,
    recent: (sequence) => recent.get(sequence),
    onLimits,
    onConfig: (cfg) => applyHubConfig(cfg.collectors),
    logger: log.child({ component: 'sender' }),
    ...config.sender,
  });

  const refreshGauges = () => {
    const st = spool!.stats();
    metrics.spoolBytes.set(st.bytes);
    metrics.spoolRecords.set(st.pendingRecords);
    metrics.spoolSegments.set(st.segments);
    metrics.spoolWrittenSequence.set(st.writtenSequence);
    metrics.spoolAckedSequence.set(st.ackedSequence);
  };
  const ops = config.http
    ? await startOpsServer({
        ...config.http,
        registry: metrics.registry,
        beforeScrape: refreshGauges,
        logger: log,
        health: () => ({
          status,
          agentId,
          sender: sender!.status(),
          spool: spool!.stats(),
          collectors: scheduler.health(),
        }),
      })
    : undefined;

  sender.start();
  scheduler.start();
  status = 'ok';
  log.info(
    {
      agentId,
      hub: config.hubAddress,
      collectors: scheduled.map((s) => s.collector.name),
      httpPort: ops?.port,
    },
    'agent started',
  );

  let stopping: Promise<void> | undefined;
  return {
    agentId,
    httpPort: ops?.port,
    metrics,
    stop: () =>
      (stopping ??= (async () => {
        status = 'stopping';
        clearInterval(backlogTimer);
        // Order matters: finish collecting, put everything in the spool,
        // then close the stream; unacked data stays spooled for next time.
        await scheduler.stop();
        // A flush can overflow the spool, which queues a spool_overflow
        // event; flush again so that event is spooled too.
        for (let i = 0; i < 3; i++) batcher.flush();
        await sender!.stop();
        spool!.close();
        refs.close();
        await ops?.close();
        status = 'stopped';
        log.info({ agentId }, 'agent stopped');
      })()),
  };
}

function channelCredentials(config: AgentConfig): ChannelCredentials {
  if (!config.tls.enabled) return grpcCredentials.createInsecure();
  const { caFile, certFile, keyFile } = config.tls;
  return grpcCredentials.createSsl(
    caFile ? readFileSync(caFile) : null,
    keyFile ? readFileSync(keyFile) : null,
    certFile ? readFileSync(certFile) : null,
  );
}

/** The limits saved from the last Welcome; undefined on a first start or when unreadable. */
function readHubLimits(path: string, log: Logger): Limits | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined; // First start, or never welcomed yet.
  }
  try {
    const v = JSON.parse(text) as Partial<Limits>;
    if (typeof v.maxSamplesPerBatch === 'number' && typeof v.maxMessageBytes === 'number') return v as Limits;
  } catch {
    // Reported below.
  }
  log.warn({ path }, 'saved hub limits unreadable; ignored until the next Welcome');
  return undefined;
}

/** Generated once and kept in the data directory, so sequences survive restarts. */
function persistentAgentId(dataDir: string, nodeName: string): string {
  const path = join(dataDir, 'agent-id');
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (/^[A-Za-z0-9._:-]{1,128}$/.test(id)) return id;
  } catch {
    // First start.
  }
  const id = `${nodeName.replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 100)}-${randomUUID().slice(0, 8)}`;
  writeFileSync(`${path}.tmp`, `${id}\n`);
  renameSync(`${path}.tmp`, path);
  return id;
}
