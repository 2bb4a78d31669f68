/**
 * The hub's storage interface. Ingest, the API and analysis depend on these
 * types only, never on the PostgreSQL implementation behind them
 * (hub/store/postgres/*), which runs over three engines: PostgreSQL with the
 * TimescaleDB extension, plain PostgreSQL, and embedded PGlite.
 */

export type MetricKind = 'gauge' | 'counter';
export type Severity = 'info' | 'warning' | 'error' | 'critical';

/** Full identity of one series. Two identities with equal fields are the same series. */
export interface SeriesIdentity {
  readonly cluster: string;
  readonly node: string;
  readonly source: string;
  readonly entity: string;
  readonly metric: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly kind: MetricKind;
}

export interface StoredSeries extends SeriesIdentity {
  readonly id: number;
}

export interface EventRecord {
  readonly cluster: string;
  readonly node: string;
  readonly timestampMs: number;
  readonly kind: string;
  readonly severity: Severity;
  readonly source: string;
  readonly entity: string;
  readonly message: string;
  readonly attributes: Readonly<Record<string, string>>;
}

export interface InventoryRecord {
  readonly cluster: string;
  readonly node: string;
  readonly observedMs: number;
  readonly source: string;
  readonly entity: string;
  readonly kind: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly absent: boolean;
  readonly absentReason: string;
}

/**
 * One agent batch, already validated, with series resolved to ids.
 * Samples are columnar: seriesIds[i], timestampsMs[i], values[i].
 */
export interface BatchWrite {
  readonly agentId: string;
  readonly sequence: number;
  readonly seriesIds: ArrayLike<number>;
  readonly timestampsMs: ArrayLike<number>;
  readonly values: ArrayLike<number>;
  readonly events: readonly EventRecord[];
  readonly inventory: readonly InventoryRecord[];
}

export type BatchOutcome = 'stored' | 'duplicate';

/**
 * Appender collects batches (possibly of several agents) and writes them in
 * one transaction on commit(). Contract:
 * - commit() is atomic: every batch it reports 'stored' is durable together
 *   with its agent's sequence high-water mark; none is if it throws.
 * - A batch whose sequence is <= the agent's stored high-water mark (or that
 *   repeats a sequence already in this appender) is reported 'duplicate' and
 *   writes nothing. This holds across hub restarts and replicas sharing one
 *   database (the high-water mark row is locked inside the transaction).
 * - Batches of one agent must be added in increasing sequence order.
 * - rollback() discards everything added; an appender is used once.
 */
export interface Appender {
  add(batch: BatchWrite): void;
  commit(): Promise<BatchOutcome[]>;
  rollback(): void;
}

/** Selects series. Empty/undefined fields match everything. */
export interface SeriesSelector {
  readonly cluster?: string;
  /**
   * Only series of these clusters (the caller's RBAC scope). An empty list
   * matches nothing, never everything; undefined does not filter.
   */
  readonly clusters?: readonly string[];
  readonly node?: string;
  readonly source?: string;
  readonly entity?: string;
  readonly metric?: string;
  /** Label matchers; `=` `!=` `=~` `!~` with anchored regular expressions like Prometheus. */
  readonly matchers?: readonly LabelMatcher[];
}

export interface LabelMatcher {
  readonly name: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

export type Aggregation = 'avg' | 'min' | 'max' | 'last';

export interface RangeQuery {
  readonly selector: SeriesSelector;
  readonly startMs: number;
  readonly endMs: number;
  readonly stepMs: number;
  readonly aggregation: Aggregation;
  /** Upper bound on series returned (protects the API). */
  readonly limitSeries?: number;
}

export interface RangeSeries {
  readonly series: StoredSeries;
  /** Bucket start times and aggregated values, in time order. */
  readonly points: { readonly timestampMs: number; readonly value: number }[];
}

export interface LatestValue {
  readonly series: StoredSeries;
  readonly timestampMs: number;
  readonly value: number;
}

export interface EventQuery {
  readonly cluster?: string;
  /** Only events of these clusters; empty matches nothing, undefined does not filter. */
  readonly clusters?: readonly string[];
  readonly node?: string;
  readonly source?: string;
  readonly entity?: string;
  readonly kind?: string;
  readonly minSeverity?: Severity;
  readonly startMs?: number;
  readonly endMs?: number;
  readonly limit?: number;
}

/** Where an event sits in page order: its exact time (microseconds since the epoch) and row id. */
export interface EventPosition {
  /** Decimal microseconds: events keep PostgreSQL's microsecond precision, beyond a JS number's ms. */
  readonly timeUs: string;
  readonly id: string;
}

export interface EventPageRequest {
  /** 'desc' (default): newest first. 'asc': oldest first, for a client that follows new events. */
  readonly order?: 'asc' | 'desc';
  readonly after?: EventPosition;
  readonly limit: number;
}

export interface EventPage {
  readonly events: EventRecord[];
  /** Position of the last event when more may follow, else null. */
  readonly next: EventPosition | null;
}

export interface InventoryQuery {
  readonly cluster?: string;
  /** Only facts of these clusters; empty matches nothing, undefined does not filter. */
  readonly clusters?: readonly string[];
  readonly node?: string;
  readonly source?: string;
  readonly kind?: string;
}

/** Which engine a store runs on; reported by /readyz and the logs. */
export interface StoreInfo {
  readonly engine: 'timescaledb' | 'postgres' | 'pglite';
  readonly version: string;
}

export interface Store {
  readonly info: StoreInfo;
  readonly enrollmentTokens: EnrollmentTokens;
  readonly agents: AgentRegistry;
  /** For modules with their own tables (see SqlClient). */
  readonly sql: SqlClient;
  /** Ids for identities, creating series that do not exist yet (idempotent, replica-safe). */
  resolveSeries(identities: readonly SeriesIdentity[]): Promise<number[]>;
  /** Highest sequence stored for an agent, 0 when none. */
  lastSequence(agentId: string): Promise<number>;
  appender(): Appender;

  findSeries(selector: SeriesSelector, limit?: number): Promise<StoredSeries[]>;
  queryRange(query: RangeQuery): Promise<RangeSeries[]>;
  latest(selector: SeriesSelector, limit?: number): Promise<LatestValue[]>;
  events(query: EventQuery): Promise<EventRecord[]>;
  /**
   * One page of events in a stable order (time, then insertion id), after
   * `page.after` (the `next` of the previous page). Rows are read with a
   * keyset condition, never an offset, so rows arriving between pages neither
   * repeat nor shift what is left to read.
   */
  eventPage(query: EventQuery, page: EventPageRequest): Promise<EventPage>;
  /**
   * One page of series in id order after `page.afterId`; `nextAfterId` is
   * null when no more match.
   */
  seriesPage(
    selector: SeriesSelector,
    page: { readonly afterId?: number; readonly limit: number },
  ): Promise<{ series: StoredSeries[]; nextAfterId: number | null }>;
  inventory(query: InventoryQuery): Promise<InventoryRecord[]>;
  /** Cheap liveness check of the database connection. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A per-cluster enrollment token as stored: only a hash of the secret is kept. */
export interface EnrollmentTokenInfo {
  readonly id: string;
  readonly cluster: string;
  readonly description: string;
  readonly createdMs: number;
  readonly revokedMs: number | null;
}

/**
 * Enrollment tokens authenticate agents. The secret is returned once by
 * create() and stored only as a SHA-256 hash (tokens are 256-bit random, so a
 * fast hash is enough; there is nothing to brute-force).
 */
export interface EnrollmentTokens {
  create(cluster: string, description: string): Promise<{ info: EnrollmentTokenInfo; token: string }>;
  /** The token's info when it exists and is not revoked, else null. */
  verify(token: string): Promise<EnrollmentTokenInfo | null>;
  /** All tokens, or those of one cluster, or of any of a list of clusters (empty: none). */
  list(cluster?: string | readonly string[]): Promise<EnrollmentTokenInfo[]>;
  /** Returns false when no such token. */
  revoke(id: string): Promise<boolean>;
}

/** What the hub knows about each agent, updated on every Hello. */
export interface AgentRecord {
  readonly agentId: string;
  readonly cluster: string;
  readonly node: string;
  readonly version: string;
  readonly capabilities: readonly string[];
  readonly lastSeenMs: number;
  readonly lastSequence: number;
}

export interface AgentRegistry {
  recordHello(agent: Omit<AgentRecord, 'lastSequence'>): Promise<void>;
  /** All agents, or those of one cluster, or of any of a list of clusters (empty: none). */
  list(cluster?: string | readonly string[]): Promise<AgentRecord[]>;
}

/**
 * Raw SQL access for hub modules that keep their own tables in the same
 * database (auth, audit, clusters). Their schema comes as extra migrations
 * passed to openStore, never by DDL at run time.
 */
export interface SqlClient {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<{ rows: Row[] }>;
  /** Runs fn in one transaction on one connection; rolls back when it throws. */
  transaction<T>(fn: (tx: Pick<SqlClient, 'query'>) => Promise<T>): Promise<T>;
}

/** A versioned migration contributed by a module; ids sort lexicographically and run once. */
export interface Migration {
  readonly id: string;
  readonly sql: string;
}
