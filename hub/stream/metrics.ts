import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * What the stream reports on /metrics. Nothing is dropped or coalesced
 * without a count here.
 */
export interface StreamMetrics {
  readonly connections: Gauge;
  readonly subscriptions: Gauge<'stream'>;
  readonly upgradesRejected: Counter<'reason'>;
  readonly disconnects: Counter<'reason'>;
  readonly badMessages: Counter<'code'>;
  readonly framesSent: Counter;
  readonly bytesSent: Counter;
  readonly messagesSent: Counter<'stream'>;
  /** Samples replaced by a newer value of the same series because the client was over its buffer bound. */
  readonly samplesCoalesced: Counter;
  /** Samples merged into an aggregate by a subscription's maxRateHz. */
  readonly samplesDownsampled: Counter;
  /** Messages that never reached a client, by reason. */
  readonly messagesDropped: Counter<'stream' | 'reason'>;
}

export function streamMetrics(registry: Registry): StreamMetrics {
  const counter = <L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> =>
    (registry.getSingleMetric(name) as Counter<L> | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] });
  const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []): Gauge<L> =>
    (registry.getSingleMetric(name) as Gauge<L> | undefined) ??
    new Gauge({ name, help, labelNames, registers: [registry] });
  return {
    connections: gauge('aiops_stream_connections', 'Open WebSocket stream connections.'),
    subscriptions: gauge('aiops_stream_subscriptions', 'Active stream subscriptions.', ['stream']),
    upgradesRejected: counter(
      'aiops_stream_upgrades_rejected_total',
      'WebSocket upgrades refused before the handshake.',
      ['reason'],
    ),
    disconnects: counter(
      'aiops_stream_disconnects_total',
      'Stream connections ended, by reason (client, heartbeat, slow_consumer, token_expired, revoked, abuse, shutdown).',
      ['reason'],
    ),
    badMessages: counter('aiops_stream_bad_messages_total', 'Client messages answered with an error.', [
      'code',
    ]),
    framesSent: counter('aiops_stream_frames_sent_total', 'Data frames written to clients.'),
    bytesSent: counter('aiops_stream_bytes_sent_total', 'Bytes of data frames written to clients.'),
    messagesSent: counter('aiops_stream_messages_sent_total', 'Samples, events and anomalies sent.', [
      'stream',
    ]),
    samplesCoalesced: counter(
      'aiops_stream_samples_coalesced_total',
      'Samples replaced by a newer value of their series while the client was over its buffer bound.',
    ),
    samplesDownsampled: counter(
      'aiops_stream_samples_downsampled_total',
      "Samples merged into an aggregate by a subscription's maxRateHz.",
    ),
    messagesDropped: counter(
      'aiops_stream_messages_dropped_total',
      'Messages that never reached a client (client closed with data queued, series limit).',
      ['stream', 'reason'],
    ),
  };
}
