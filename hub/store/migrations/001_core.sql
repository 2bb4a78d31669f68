-- Core schema shared by every engine. Samples get their indexes (plain
-- PostgreSQL) or hypertable/compression/aggregates (TimescaleDB) in 002.

-- One row per series identity. Labels are a jsonb object (key order does not
-- matter to jsonb equality), so the unique constraint is the identity.
CREATE TABLE series (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cluster text NOT NULL,
  node text NOT NULL,
  source text NOT NULL,
  entity text NOT NULL,
  metric text NOT NULL,
  labels jsonb NOT NULL DEFAULT '{}'::jsonb,
  kind text NOT NULL CHECK (kind IN ('gauge', 'counter')),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT series_identity UNIQUE (cluster, node, source, entity, metric, labels, kind)
);
CREATE INDEX series_metric_idx ON series (metric);
CREATE INDEX series_cluster_node_idx ON series (cluster, node);

-- Samples are narrow on purpose (4 + 8 + 8 bytes of data per row): no
-- foreign key and no extra columns, because every byte and every index is
-- paid for at ingest rate.
CREATE TABLE samples (
  series_id integer NOT NULL,
  ts timestamptz NOT NULL,
  value double precision NOT NULL
);

-- One row per agent: the registry (hello) and the sequence high-water mark
-- that makes redelivery idempotent. The appender locks these rows.
CREATE TABLE agents (
  agent_id text PRIMARY KEY,
  cluster text NOT NULL DEFAULT '',
  node text NOT NULL DEFAULT '',
  version text NOT NULL DEFAULT '',
  capabilities text[] NOT NULL DEFAULT '{}',
  last_seen timestamptz,
  last_sequence bigint NOT NULL DEFAULT 0
);
CREATE INDEX agents_cluster_idx ON agents (cluster);

-- Severity is stored as its rank (0 info .. 3 critical) so "at least
-- warning" is a plain range condition.
CREATE TABLE events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cluster text NOT NULL,
  node text NOT NULL,
  ts timestamptz NOT NULL,
  kind text NOT NULL,
  severity smallint NOT NULL CHECK (severity BETWEEN 0 AND 3),
  source text NOT NULL,
  entity text NOT NULL,
  message text NOT NULL,
  attributes jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX events_ts_idx ON events (ts);
CREATE INDEX events_cluster_node_ts_idx ON events (cluster, node, ts);

-- Latest fact per (cluster, node, source, entity); older observations never
-- overwrite newer ones.
CREATE TABLE inventory (
  cluster text NOT NULL,
  node text NOT NULL,
  source text NOT NULL,
  entity text NOT NULL,
  kind text NOT NULL,
  observed timestamptz NOT NULL,
  attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
  absent boolean NOT NULL DEFAULT false,
  absent_reason text NOT NULL DEFAULT '',
  PRIMARY KEY (cluster, node, source, entity)
);

-- Only the SHA-256 of a token is kept; the secret is shown once.
CREATE TABLE enrollment_tokens (
  id text PRIMARY KEY,
  cluster text NOT NULL,
  description text NOT NULL DEFAULT '',
  token_sha256 bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX enrollment_tokens_cluster_idx ON enrollment_tokens (cluster);
