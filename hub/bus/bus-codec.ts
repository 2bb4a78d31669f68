import { InputError } from '../errors.js';
import type { BusBatch } from './bus.js';

/**
 * Wire format of a batch on Redis: JSON `{"v":1,"o":origin,"b":batch}`.
 *
 * Why JSON: a batch is encoded once per publish and decoded once per
 * subscribed replica, never per WebSocket client, so its cost scales with the
 * ingest rate only. Measured (docs/performance.md, "bus codec"): ~2 µs of CPU
 * per sample to encode, ~2.4 µs to decode, ~220 bytes per sample with full
 * series identities — about 0.1 core and 11 MB/s of Redis traffic per
 * replica at 50,000 samples/s. Adequate for that target; sending identities
 * once per channel (like the ingest stream's series table) would cut it
 * several-fold and is the next step if Redis traffic matters. `o` names the
 * publishing replica so it
 * can skip its own echo (it has already delivered the batch locally).
 */
export const BUS_CODEC_VERSION = 1;

export interface BusEnvelope {
  readonly origin: string;
  readonly batch: BusBatch;
}

export function encodeBusBatch(origin: string, batch: BusBatch): string {
  return JSON.stringify({ v: BUS_CODEC_VERSION, o: origin, b: batch });
}

/** Parses and shape-checks an envelope; throws InputError on anything else. */
export function decodeBusBatch(payload: string): BusEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch (err) {
    throw new InputError('bus payload is not JSON', { cause: err });
  }
  if (!isRecord(parsed) || parsed.v !== BUS_CODEC_VERSION) {
    throw new InputError(`bus payload has no supported version (want v=${BUS_CODEC_VERSION})`);
  }
  const { o, b } = parsed;
  if (typeof o !== 'string' || !isRecord(b) || typeof b.cluster !== 'string') {
    throw new InputError('bus payload lacks origin or batch.cluster');
  }
  if (!Array.isArray(b.samples) || !Array.isArray(b.events)) {
    throw new InputError('bus payload batch lacks samples or events arrays');
  }
  if (b.anomalies !== undefined && !Array.isArray(b.anomalies)) {
    throw new InputError('bus payload batch.anomalies is not an array');
  }
  for (const s of b.samples as unknown[]) {
    if (!isRecord(s) || !isRecord(s.series) || typeof s.series.id !== 'number') {
      throw new InputError('bus payload sample lacks series.id');
    }
    if (
      !Array.isArray(s.timestampsMs) ||
      !Array.isArray(s.values) ||
      s.timestampsMs.length !== s.values.length
    ) {
      throw new InputError('bus payload sample has mismatched timestampsMs/values');
    }
  }
  return { origin: o, batch: b as unknown as BusBatch };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
