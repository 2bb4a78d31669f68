// Public entry points of the store module; the rest of the hub imports the
// Store interface from ./store.js and these.
import { InputError } from '../errors.js';
import type { SampleColumns } from './postgres/pgcopy.js';
import { PgStore } from './postgres/pg-store.js';
import type { Store } from './store.js';

export { openStore, type StoreConfig } from './open-store.js';
export { copySamplesRaw } from './postgres/sample-writer.js';
export { encodeSamplesBinary, type SampleColumns } from './postgres/pgcopy.js';
export { deleteExpired } from './postgres/retention.js';

/**
 * Benchmark baseline for bench:ingest: writes rows straight into the samples
 * table of an opened store (binary COPY on PostgreSQL/TimescaleDB, one unnest
 * INSERT on PGlite), bypassing dedup, series resolution and transactions.
 * Returns the number of rows written.
 */
export async function writeSamplesRaw(store: Store, parts: readonly SampleColumns[]): Promise<number> {
  if (!(store instanceof PgStore)) throw new InputError('writeSamplesRaw needs a store opened by openStore');
  return store.writeSamplesRaw(parts);
}
