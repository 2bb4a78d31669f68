-- TimescaleDB: samples become a hypertable of 1-day chunks. Chunks keep the
-- (series_id, ts) btree small enough to stay in memory while it is being
-- written; older chunks are compressed segmented by series_id (so a
-- per-series read decompresses only that series) and ordered by ts.
SELECT create_hypertable('samples', by_range('ts', INTERVAL '1 day'), create_default_indexes => false);
CREATE INDEX samples_series_ts_idx ON samples (series_id, ts);
ALTER TABLE samples SET (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'series_id',
  timescaledb.compress_orderby = 'ts'
);
SELECT add_compression_policy('samples', INTERVAL '2 days');

-- 1-minute rollup with real-time aggregation: queries see materialized
-- buckets plus the not yet materialized tail from the raw table. sum and n
-- (not avg) are kept so coarser buckets can be averaged exactly.
CREATE MATERIALIZED VIEW samples_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT series_id,
       time_bucket(INTERVAL '1 minute', ts) AS bucket,
       sum(value) AS sum,
       count(*) AS n,
       min(value) AS min,
       max(value) AS max,
       last(value, ts) AS last
FROM samples
GROUP BY series_id, time_bucket(INTERVAL '1 minute', ts)
WITH NO DATA;
SELECT add_continuous_aggregate_policy('samples_1m',
  start_offset => INTERVAL '3 hours',
  end_offset => INTERVAL '1 minute',
  schedule_interval => INTERVAL '1 minute');

-- 1-hour rollup built on the 1-minute one (hierarchical aggregate).
CREATE MATERIALIZED VIEW samples_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT series_id,
       time_bucket(INTERVAL '1 hour', bucket) AS bucket,
       sum(sum) AS sum,
       sum(n) AS n,
       min(min) AS min,
       max(max) AS max,
       last(last, bucket) AS last
FROM samples_1m
GROUP BY series_id, time_bucket(INTERVAL '1 hour', bucket)
WITH NO DATA;
SELECT add_continuous_aggregate_policy('samples_1h',
  start_offset => INTERVAL '3 days',
  end_offset => INTERVAL '1 hour',
  schedule_interval => INTERVAL '30 minutes');
