/**
 * SQL dialect of a store: TimescaleDB (hypertables, continuous aggregates,
 * time_bucket) or plain PostgreSQL (date_bin, retention by the hub). PGlite
 * speaks the plain dialect.
 */
export type Dialect = 'timescaledb' | 'postgres';

/** How samples reach the table: binary COPY, or multi-row INSERT from unnest (PGlite). */
export type SampleWriteMode = 'copy' | 'unnest';
