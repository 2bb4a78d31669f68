import { Counter, type Registry } from 'prom-client';

/** Counters of a bus; shared by every bus on one registry (tests run several). */
export interface BusMetrics {
  readonly published: Counter<'bus'>;
  readonly publishDropped: Counter<'bus' | 'reason'>;
  readonly received: Counter<'bus'>;
  readonly decodeErrors: Counter<'bus'>;
}

export function busMetrics(registry?: Registry): BusMetrics {
  const registers = registry ? [registry] : [];
  const counter = <L extends string>(name: string, help: string, labelNames: L[]): Counter<L> =>
    (registry?.getSingleMetric(name) as Counter<L> | undefined) ??
    new Counter({ name, help, labelNames, registers });
  return {
    published: counter('aiops_bus_published_batches_total', 'Batches published to the bus.', ['bus']),
    publishDropped: counter(
      'aiops_bus_publish_dropped_batches_total',
      'Batches not sent to other replicas (Redis down or backlogged); local subscribers still got them.',
      ['bus', 'reason'],
    ),
    received: counter(
      'aiops_bus_received_batches_total',
      'Batches received from other replicas through the bus.',
      ['bus'],
    ),
    decodeErrors: counter(
      'aiops_bus_decode_errors_total',
      'Bus payloads dropped because they could not be decoded.',
      ['bus'],
    ),
  };
}
