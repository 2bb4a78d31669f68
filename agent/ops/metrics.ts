import type { Counter as CounterT, Gauge as GaugeT, Registry as RegistryT } from 'prom-client';
// Only the three prom-client classes the agent uses, not the package index,
// which also loads histograms, summaries (and their digest libraries), the
// push gateway, cluster aggregation and default metrics: code the agent
// would keep in memory unused (docs/performance.md, bench:agent).
import Counter from 'prom-client/lib/counter.js';
import Gauge from 'prom-client/lib/gauge.js';
import Registry from 'prom-client/lib/registry.js';

/**
 * The agent's own Prometheus metrics (served on /metrics). One registry per
 * agent instance, not prom-client's global one, so an agent started
 * in-process beside the hub (all-in-one) or twice in a test never collides.
 */
export interface AgentMetrics {
  readonly registry: RegistryT;
  readonly collectorUp: GaugeT<'collector'>;
  readonly collectorDurationSeconds: GaugeT<'collector'>;
  readonly collectorErrorsTotal: CounterT<'collector'>;
  readonly collectorTimeoutsTotal: CounterT<'collector'>;
  readonly samplesCollectedTotal: CounterT<'collector'>;
  readonly batchesSpooledTotal: CounterT;
  readonly batchWriteErrorsTotal: CounterT;
  readonly batchWriteErrorSamplesTotal: CounterT;
  readonly spoolBytes: GaugeT;
  readonly spoolRecords: GaugeT;
  readonly spoolSegments: GaugeT;
  readonly spoolWrittenSequence: GaugeT;
  readonly spoolAckedSequence: GaugeT;
  readonly spoolDroppedRecordsTotal: CounterT;
  readonly spoolDroppedSamplesTotal: CounterT;
  readonly spoolCorruptRecordsTotal: CounterT;
  readonly spoolCorruptBytesTotal: CounterT;
  readonly senderConnected: GaugeT;
  readonly senderReconnectsTotal: CounterT;
  readonly senderPermanentErrorsTotal: CounterT<'code'>;
  readonly senderBatchesSentTotal: CounterT;
  readonly senderRejectedTotal: CounterT<'reason'>;
  readonly senderDeadLetteredTotal: CounterT<'code'>;
  readonly senderDeadLetteredSamplesTotal: CounterT;
  readonly senderDeadLetterBreakerTripsTotal: CounterT;
  readonly senderSplitBatchesTotal: CounterT;
  readonly hubConfigRejectedTotal: CounterT;
}

export function createAgentMetrics(options: { processMetrics?: boolean } = {}): AgentMetrics {
  const registry = new Registry();
  const r = [registry];
  // Process CPU and memory only for a standalone agent (in the all-in-one
  // process the hub reports them), read when scraped. Not prom-client's
  // collectDefaultMetrics: its event-loop-delay monitor (a 10 ms timer) and
  // GC observer cost about 1% of a core, half the agent's budget.
  if (options.processMetrics) {
    let cpuSeen = 0;
    new Counter({
      name: 'agent_process_cpu_seconds_total',
      help: 'User and system CPU time of the agent process.',
      registers: r,
      collect() {
        const u = process.cpuUsage();
        const seconds = (u.user + u.system) / 1e6;
        this.inc(Math.max(0, seconds - cpuSeen));
        cpuSeen = Math.max(cpuSeen, seconds);
      },
    });
    new Gauge({
      name: 'agent_process_resident_memory_bytes',
      help: 'Resident set size of the agent process.',
      registers: r,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    new Gauge({
      name: 'agent_process_heap_used_bytes',
      help: 'V8 heap in use.',
      registers: r,
      collect() {
        this.set(process.memoryUsage().heapUsed);
      },
    });
  }
  return {
    registry,
    collectorUp: new Gauge({
      name: 'agent_collector_up',
      help: '1 when the last run of the collector succeeded, 0 when it failed or timed out.',
      labelNames: ['collector'],
      registers: r,
    }),
    collectorDurationSeconds: new Gauge({
      name: 'agent_collector_duration_seconds',
      help: 'Duration of the last run of the collector.',
      labelNames: ['collector'],
      registers: r,
    }),
    collectorErrorsTotal: new Counter({
      name: 'agent_collector_errors_total',
      help: 'Failed or timed-out collector runs.',
      labelNames: ['collector'],
      registers: r,
    }),
    collectorTimeoutsTotal: new Counter({
      name: 'agent_collector_timeouts_total',
      help: 'Collector runs aborted at their timeout.',
      labelNames: ['collector'],
      registers: r,
    }),
    samplesCollectedTotal: new Counter({
      name: 'agent_samples_collected_total',
      help: 'Samples produced by collectors.',
      labelNames: ['collector'],
      registers: r,
    }),
    batchesSpooledTotal: new Counter({
      name: 'agent_batches_spooled_total',
      help: 'Batches written to the disk spool.',
      registers: r,
    }),
    batchWriteErrorsTotal: new Counter({
      name: 'agent_batch_write_errors_total',
      help: 'Batches lost because writing them to the spool failed (disk full, I/O error).',
      registers: r,
    }),
    batchWriteErrorSamplesTotal: new Counter({
      name: 'agent_batch_write_error_samples_total',
      help: 'Samples in batches lost because writing them to the spool failed.',
      registers: r,
    }),
    spoolBytes: new Gauge({ name: 'agent_spool_bytes', help: 'Bytes in spool segment files.', registers: r }),
    spoolRecords: new Gauge({
      name: 'agent_spool_records',
      help: 'Records in the spool not yet acknowledged by the hub.',
      registers: r,
    }),
    spoolSegments: new Gauge({ name: 'agent_spool_segments', help: 'Spool segment files.', registers: r }),
    spoolWrittenSequence: new Gauge({
      name: 'agent_spool_written_sequence',
      help: 'Highest batch sequence written to the spool.',
      registers: r,
    }),
    spoolAckedSequence: new Gauge({
      name: 'agent_spool_acked_sequence',
      help: 'Highest batch sequence acknowledged by the hub.',
      registers: r,
    }),
    spoolDroppedRecordsTotal: new Counter({
      name: 'agent_spool_dropped_records_total',
      help: 'Unacknowledged records dropped because the spool hit its byte bound.',
      registers: r,
    }),
    spoolDroppedSamplesTotal: new Counter({
      name: 'agent_spool_dropped_samples_total',
      help: 'Samples in records dropped because the spool hit its byte bound.',
      registers: r,
    }),
    spoolCorruptRecordsTotal: new Counter({
      name: 'agent_spool_corrupt_regions_total',
      help: 'Torn or corrupt spool regions skipped (CRC or length mismatch).',
      registers: r,
    }),
    spoolCorruptBytesTotal: new Counter({
      name: 'agent_spool_corrupt_bytes_total',
      help: 'Bytes of torn or corrupt spool data skipped.',
      registers: r,
    }),
    senderConnected: new Gauge({
      name: 'agent_sender_connected',
      help: '1 while a stream to the hub is established (Welcome received).',
      registers: r,
    }),
    senderReconnectsTotal: new Counter({
      name: 'agent_sender_reconnects_total',
      help: 'Stream (re)connection attempts after the first.',
      registers: r,
    }),
    senderPermanentErrorsTotal: new Counter({
      name: 'agent_sender_permanent_errors_total',
      help: 'Streams ended by a permanent rejection (bad token, invalid data).',
      labelNames: ['code'],
      registers: r,
    }),
    senderBatchesSentTotal: new Counter({
      name: 'agent_sender_batches_sent_total',
      help: 'Batches written to the stream (including resends after reconnect).',
      registers: r,
    }),
    senderRejectedTotal: new Counter({
      name: 'agent_sender_rejected_total',
      help: 'Samples, events or facts the hub refused, by reason (from Ack results).',
      labelNames: ['reason'],
      registers: r,
    }),
    senderDeadLetteredTotal: new Counter({
      name: 'agent_sender_dead_lettered_batches_total',
      help: 'Batches the hub refused as a whole, moved to the spool dead-letter directory, by gRPC code.',
      labelNames: ['code'],
      registers: r,
    }),
    senderDeadLetteredSamplesTotal: new Counter({
      name: 'agent_sender_dead_lettered_samples_total',
      help: 'Samples in the batches the hub refused as a whole.',
      registers: r,
    }),
    senderDeadLetterBreakerTripsTotal: new Counter({
      name: 'agent_sender_dead_letter_breaker_trips_total',
      help: 'Times the hub refused batch after batch and the sender stopped dead-lettering, keeping the spool.',
      registers: r,
    }),
    senderSplitBatchesTotal: new Counter({
      name: 'agent_sender_split_batches_total',
      help: 'Spooled batches over the hub limits replaced by smaller ones.',
      registers: r,
    }),
    hubConfigRejectedTotal: new Counter({
      name: 'agent_hub_config_rejected_total',
      help: 'Collector settings pushed by the hub that the agent could not apply (unknown collector, bad interval).',
      registers: r,
    }),
  };
}
