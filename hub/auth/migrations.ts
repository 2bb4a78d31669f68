import type { Migration } from '../store/store.js';

/**
 * Tables of hub/auth, passed to openStore as extraMigrations. Ids start with
 * `auth_` so they sort after the store's own and never collide with another
 * module's. Times are epoch milliseconds (bigint) like the rest of the store.
 */
export const authMigrations: readonly Migration[] = [
  {
    id: 'auth_001_bindings',
    sql: `
CREATE TABLE auth_bindings (
  id text PRIMARY KEY,
  subject_kind text NOT NULL CHECK (subject_kind IN ('user', 'group', 'api-key')),
  subject text NOT NULL CHECK (subject <> ''),
  role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  -- NULL: every cluster (present and future).
  cluster text CHECK (cluster <> ''),
  created_by text NOT NULL,
  created_ms bigint NOT NULL
);
CREATE UNIQUE INDEX auth_bindings_unique ON auth_bindings (subject_kind, subject, role, COALESCE(cluster, ''));
CREATE INDEX auth_bindings_subject ON auth_bindings (subject_kind, subject);
`,
  },
  {
    id: 'auth_002_api_keys',
    sql: `
CREATE TABLE auth_api_keys (
  id text PRIMARY KEY,
  name text NOT NULL,
  -- SHA-256 of the 256-bit random secret; the secret itself is never stored.
  secret_sha256 bytea NOT NULL,
  role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  -- NULL: every cluster.
  clusters text[],
  created_by text NOT NULL,
  created_ms bigint NOT NULL,
  expires_ms bigint NOT NULL,
  revoked_ms bigint,
  last_used_ms bigint
);
`,
  },
  {
    id: 'auth_003_audit',
    sql: `
CREATE TABLE auth_audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time_ms bigint NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'unauthenticated', 'forbidden')),
  action text NOT NULL,
  principal_kind text,
  principal_id text,
  principal_name text,
  cluster text,
  method text,
  path text,
  status integer,
  reason text,
  remote_addr text
);
CREATE INDEX auth_audit_time ON auth_audit (time_ms);
`,
  },
];
