-- Plain PostgreSQL (and PGlite): one heap table. The btree on
-- (series_id, ts) serves every read path (range queries per series, latest
-- per series by a backward index scan); a BRIN on ts lets the hub's
-- retention job find expired rows without a full scan. See docs/storage.md
-- for the ingest cost of each index.
CREATE INDEX samples_series_ts_idx ON samples (series_id, ts);
CREATE INDEX samples_ts_brin ON samples USING brin (ts) WITH (pages_per_range = 32);
