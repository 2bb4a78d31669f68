import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

/**
 * The hub's configuration: one declarative table of settings with defaults,
 * read from (lowest to highest precedence) defaults < JSON config file
 * (AIOPS_CONFIG_FILE) < environment. Secrets can also come from a file named
 * by `<ENV>_FILE`. Every problem is collected and reported at once.
 *
 * This is the only module of the hub that reads process.env; docs/configuration.md
 * is checked against SETTINGS by a test.
 */

type Kind = 'string' | 'int' | 'bool' | 'address' | 'list';

interface Setting<K extends Kind = Kind> {
  readonly env: string;
  /** Key in the JSON config file. */
  readonly key: string;
  readonly kind: K;
  readonly default: string | undefined;
  readonly description: string;
  /** Secrets may come from `<env>_FILE` and are never logged. */
  readonly secret?: boolean;
  readonly min?: number;
}

export const SETTINGS = [
  {
    env: 'AIOPS_HTTP_ADDRESS',
    key: 'httpAddress',
    kind: 'address',
    default: '127.0.0.1:8080',
    description: 'REST/WebSocket API listen address (host:port).',
  },
  {
    env: 'AIOPS_GRPC_ADDRESS',
    key: 'grpcAddress',
    kind: 'address',
    default: '127.0.0.1:4770',
    description: 'gRPC ingest listen address (host:port).',
  },
  {
    env: 'AIOPS_DATA_DIR',
    key: 'dataDir',
    kind: 'string',
    default: '.data/hub',
    description: 'Directory of the embedded PGlite store (used when no database URL is set).',
  },
  {
    env: 'AIOPS_DATABASE_URL',
    key: 'databaseUrl',
    kind: 'string',
    default: undefined,
    secret: true,
    description: 'PostgreSQL/TimescaleDB connection URL. Unset: embedded PGlite in the data directory.',
  },
  {
    env: 'AIOPS_REDIS_URL',
    key: 'redisUrl',
    kind: 'string',
    default: undefined,
    secret: true,
    description: 'Redis URL for the live-data bus between hub replicas. Unset: in-process bus.',
  },
  {
    env: 'AIOPS_RETENTION_DAYS',
    key: 'retentionDays',
    kind: 'int',
    default: '30',
    min: 1,
    description: 'Days of raw samples kept.',
  },
  {
    env: 'AIOPS_ROLLUP_1M_RETENTION_DAYS',
    key: 'rollup1mRetentionDays',
    kind: 'int',
    default: '90',
    // The 1-hour rollup is refreshed from the 1-minute one over its last 3 days.
    min: 4,
    description:
      'Days of 1-minute rollups kept (TimescaleDB). At least 4: the 1-hour rollup re-reads the last 3 days of them.',
  },
  {
    env: 'AIOPS_ROLLUP_1H_RETENTION_DAYS',
    key: 'rollup1hRetentionDays',
    kind: 'int',
    default: '730',
    min: 1,
    description: 'Days of 1-hour rollups kept (TimescaleDB).',
  },
  {
    env: 'AIOPS_ADMIN_TOKEN',
    key: 'adminToken',
    kind: 'string',
    default: undefined,
    secret: true,
    description: 'Bootstrap admin bearer token. Unset: a random one is generated at start and printed once.',
  },
  {
    env: 'AIOPS_LOG_LEVEL',
    key: 'logLevel',
    kind: 'string',
    default: 'info',
    description: 'pino log level: fatal, error, warn, info, debug, trace.',
  },
  {
    env: 'AIOPS_ALL_IN_ONE',
    key: 'allInOne',
    kind: 'bool',
    default: 'false',
    description:
      'Also start a local agent as a child process, enrolled automatically into cluster `local` (what `npm start` does).',
  },
  {
    env: 'AIOPS_AGENT_DATA_DIR',
    key: 'agentDataDir',
    kind: 'string',
    default: '.data/agent',
    description: 'All-in-one only: the local agent’s spool directory.',
  },
  {
    env: 'AIOPS_INGEST_MAX_MESSAGE_BYTES',
    key: 'ingestMaxMessageBytes',
    kind: 'int',
    default: String(4 * 1024 * 1024),
    min: 1024,
    description: 'Largest gRPC message accepted from an agent.',
  },
  {
    env: 'AIOPS_INGEST_MAX_SAMPLES_PER_BATCH',
    key: 'ingestMaxSamplesPerBatch',
    kind: 'int',
    default: '50000',
    min: 1,
    description: 'Most samples in one batch.',
  },
  {
    env: 'AIOPS_INGEST_MAX_SERIES_PER_STREAM',
    key: 'ingestMaxSeriesPerStream',
    kind: 'int',
    default: '100000',
    min: 1,
    description: 'Most distinct series one agent stream may define.',
  },
  {
    env: 'AIOPS_INGEST_MAX_LABELS_PER_SERIES',
    key: 'ingestMaxLabelsPerSeries',
    kind: 'int',
    default: '32',
    min: 0,
    description: 'Most labels on one series.',
  },
  {
    env: 'AIOPS_INGEST_MAX_LABEL_VALUE_LENGTH',
    key: 'ingestMaxLabelValueLength',
    kind: 'int',
    default: '256',
    min: 1,
    description: 'Longest label name or value.',
  },
  {
    env: 'AIOPS_INGEST_MAX_SAMPLE_AGE_MS',
    key: 'ingestMaxSampleAgeMs',
    kind: 'int',
    default: String(7 * 24 * 3600 * 1000),
    min: 1,
    description: 'Samples older than this are rejected.',
  },
  {
    env: 'AIOPS_INGEST_MAX_FUTURE_SKEW_MS',
    key: 'ingestMaxFutureSkewMs',
    kind: 'int',
    default: String(5 * 60 * 1000),
    min: 0,
    description: 'Samples further in the future than this are rejected.',
  },
  {
    env: 'AIOPS_INGEST_WRITER_CONNECTIONS',
    key: 'ingestWriterConnections',
    kind: 'int',
    default: '4',
    min: 1,
    description: 'Group-commit transactions ingest runs at once (each on its own database connection).',
  },
  {
    env: 'AIOPS_STORE_MAX_CONNECTIONS',
    key: 'storeMaxConnections',
    kind: 'int',
    default: '8',
    min: 1,
    description:
      'Connection pool size for a PostgreSQL database (ingest writers plus API queries); the embedded store always uses one.',
  },
  {
    env: 'AIOPS_OIDC_ISSUER',
    key: 'oidcIssuer',
    kind: 'string',
    default: undefined,
    description: 'OIDC issuer URL (https) whose JWT access tokens the API accepts. Unset: OIDC off.',
  },
  {
    env: 'AIOPS_OIDC_AUDIENCE',
    key: 'oidcAudience',
    kind: 'string',
    default: undefined,
    description:
      'The hub\u2019s resource identifier that access tokens must name in `aud` (required with an issuer).',
  },
  {
    env: 'AIOPS_OIDC_TYP',
    key: 'oidcTyp',
    kind: 'string',
    default: 'require',
    description:
      '`require`: tokens must have JOSE `typ: at+jwt` (RFC 9068); `allow`: also plain JWT or no typ.',
  },
  {
    env: 'AIOPS_OIDC_USERNAME_CLAIM',
    key: 'oidcUsernameClaim',
    kind: 'string',
    default: 'sub',
    description: 'Claim that names the user (like kube-apiserver --oidc-username-claim).',
  },
  {
    env: 'AIOPS_OIDC_USERNAME_PREFIX',
    key: 'oidcUsernamePrefix',
    kind: 'string',
    default: '',
    description: 'Prefix added to user names (--oidc-username-prefix).',
  },
  {
    env: 'AIOPS_OIDC_GROUPS_CLAIM',
    key: 'oidcGroupsClaim',
    kind: 'string',
    default: 'groups',
    description: 'Dot path of the groups claim, e.g. `realm_access.roles` (--oidc-groups-claim).',
  },
  {
    env: 'AIOPS_OIDC_GROUPS_PREFIX',
    key: 'oidcGroupsPrefix',
    kind: 'string',
    default: '',
    description: 'Prefix added to group names (--oidc-groups-prefix).',
  },
  {
    env: 'AIOPS_BOOTSTRAP_ADMIN_USERS',
    key: 'bootstrapAdminUsers',
    kind: 'list',
    default: '',
    description: 'Comma list of user names that are admins on all clusters from configuration.',
  },
  {
    env: 'AIOPS_BOOTSTRAP_ADMIN_GROUPS',
    key: 'bootstrapAdminGroups',
    kind: 'list',
    default: '',
    description: 'Comma list of groups whose members are admins on all clusters.',
  },
  {
    env: 'AIOPS_API_KEY_MAX_LIFETIME_DAYS',
    key: 'apiKeyMaxLifetimeDays',
    kind: 'int',
    default: '365',
    min: 1,
    description: 'Longest lifetime an API key may be created with.',
  },
  {
    env: 'AIOPS_CORS_ORIGINS',
    key: 'corsOrigins',
    kind: 'list',
    default: '',
    description: 'Comma list of browser origins (scheme://host[:port]) allowed to call the API. Empty: none.',
  },
  {
    env: 'AIOPS_RATE_LIMIT_PER_MINUTE',
    key: 'rateLimitPerMinute',
    kind: 'int',
    default: '1200',
    min: 1,
    description: 'API requests per principal (per client address before authentication) per minute.',
  },
  {
    env: 'AIOPS_AUTH_FAILURES_PER_MINUTE',
    key: 'authFailuresPerMinute',
    kind: 'int',
    default: '60',
    min: 1,
    description:
      'Failed API authentications allowed per client address per minute; then 429 until the minute ends.',
  },
  {
    env: 'AIOPS_ADMIN_TOKEN_DISABLED',
    key: 'adminTokenDisabled',
    kind: 'bool',
    default: 'false',
    description:
      'Turn the bootstrap admin token off (once OIDC bootstrap admins or API keys are set up); nothing is generated or printed.',
  },
  {
    env: 'AIOPS_BODY_LIMIT_BYTES',
    key: 'bodyLimitBytes',
    kind: 'int',
    default: String(1024 * 1024),
    min: 1024,
    description: 'Largest API request body.',
  },
  {
    env: 'AIOPS_HTTP_TLS_CERT_FILE',
    key: 'httpTlsCertFile',
    kind: 'string',
    default: undefined,
    description:
      'PEM certificate (chain) of the API; with the key file, the API serves HTTPS. Reloaded on change.',
  },
  {
    env: 'AIOPS_HTTP_TLS_KEY_FILE',
    key: 'httpTlsKeyFile',
    kind: 'string',
    default: undefined,
    description: 'PEM private key of the API certificate.',
  },
  {
    env: 'AIOPS_GRPC_TLS_CERT_FILE',
    key: 'grpcTlsCertFile',
    kind: 'string',
    default: undefined,
    description:
      'PEM certificate of the gRPC ingest; with the key file, ingest uses TLS. Reloaded on change.',
  },
  {
    env: 'AIOPS_GRPC_TLS_KEY_FILE',
    key: 'grpcTlsKeyFile',
    kind: 'string',
    default: undefined,
    description: 'PEM private key of the gRPC ingest certificate.',
  },
  {
    env: 'AIOPS_GRPC_TLS_CLIENT_CA_FILE',
    key: 'grpcTlsClientCaFile',
    kind: 'string',
    default: undefined,
    description:
      'CA bundle for agent client certificates: mutual TLS, each certificate bound to its cluster by a `URI:urn:aiops:cluster:<name>` SAN.',
  },
  {
    env: 'AIOPS_ALLOW_INSECURE_LISTEN',
    key: 'allowInsecureListen',
    kind: 'bool',
    default: 'false',
    description:
      'Allow listening on a non-loopback address without TLS (only behind a TLS-terminating proxy or mesh). Off: the hub refuses to start.',
  },
  {
    env: 'AIOPS_INGEST_WINDOW',
    key: 'ingestWindow',
    kind: 'int',
    default: '8',
    min: 1,
    description: 'Batches an agent may have in flight unacknowledged.',
  },
] as const satisfies readonly Setting[];

export interface HubConfig {
  readonly httpAddress: { host: string; port: number };
  readonly grpcAddress: { host: string; port: number };
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly retentionDays: number;
  readonly rollup1mRetentionDays: number;
  readonly rollup1hRetentionDays: number;
  readonly adminToken: string | undefined;
  readonly logLevel: string;
  readonly allInOne: boolean;
  readonly agentDataDir: string;
  readonly ingestMaxMessageBytes: number;
  readonly ingestMaxSamplesPerBatch: number;
  readonly ingestMaxSeriesPerStream: number;
  readonly ingestMaxLabelsPerSeries: number;
  readonly ingestMaxLabelValueLength: number;
  readonly ingestMaxSampleAgeMs: number;
  readonly ingestMaxFutureSkewMs: number;
  readonly ingestWindow: number;
  readonly ingestWriterConnections: number;
  readonly storeMaxConnections: number;
  readonly oidcIssuer: string | undefined;
  readonly oidcAudience: string | undefined;
  readonly oidcTyp: string;
  readonly oidcUsernameClaim: string;
  readonly oidcUsernamePrefix: string;
  readonly oidcGroupsClaim: string;
  readonly oidcGroupsPrefix: string;
  readonly bootstrapAdminUsers: readonly string[];
  readonly bootstrapAdminGroups: readonly string[];
  readonly apiKeyMaxLifetimeDays: number;
  readonly corsOrigins: readonly string[];
  readonly rateLimitPerMinute: number;
  readonly authFailuresPerMinute: number;
  readonly adminTokenDisabled: boolean;
  readonly bodyLimitBytes: number;
  readonly httpTlsCertFile: string | undefined;
  readonly httpTlsKeyFile: string | undefined;
  readonly grpcTlsCertFile: string | undefined;
  readonly grpcTlsKeyFile: string | undefined;
  readonly grpcTlsClientCaFile: string | undefined;
  readonly allowInsecureListen: boolean;
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * Builds the configuration from an environment (process.env by default) and
 * optional overrides (command-line flags). Throws ConfigError listing every problem.
 */
export function loadHubConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  overrides: Partial<Record<(typeof SETTINGS)[number]['key'], string>> = {},
): HubConfig {
  const problems: string[] = [];
  const file = readConfigFile(env.AIOPS_CONFIG_FILE, problems);
  const raw: Record<string, string | undefined> = {};

  for (const setting of SETTINGS as readonly Setting[]) {
    raw[setting.key] =
      overrides[setting.key as keyof typeof overrides] ??
      fromEnv(setting, env, problems) ??
      fileValue(file, setting, problems) ??
      setting.default;
  }

  const out: Record<string, unknown> = {};
  for (const setting of SETTINGS as readonly Setting[]) {
    out[setting.key] = convert(setting, raw[setting.key], problems);
  }
  if (typeof out.logLevel === 'string' && !LOG_LEVELS.has(out.logLevel)) {
    problems.push(`AIOPS_LOG_LEVEL: "${out.logLevel}" is not one of ${[...LOG_LEVELS].join(', ')}`);
  }
  if (typeof out.databaseUrl === 'string' && !/^postgres(ql)?:\/\//.test(out.databaseUrl)) {
    problems.push('AIOPS_DATABASE_URL: must start with postgres:// or postgresql://');
  }
  if (typeof out.redisUrl === 'string' && !/^rediss?:\/\//.test(out.redisUrl)) {
    problems.push('AIOPS_REDIS_URL: must start with redis:// or rediss://');
  }
  if ((out.oidcIssuer === undefined) !== (out.oidcAudience === undefined)) {
    problems.push('AIOPS_OIDC_ISSUER and AIOPS_OIDC_AUDIENCE must be set together');
  }
  if (
    typeof out.ingestWriterConnections === 'number' &&
    typeof out.storeMaxConnections === 'number' &&
    out.ingestWriterConnections >= out.storeMaxConnections
  ) {
    problems.push(
      'AIOPS_INGEST_WRITER_CONNECTIONS must be below AIOPS_STORE_MAX_CONNECTIONS (the API needs connections too)',
    );
  }
  if (out.redisUrl !== undefined && out.databaseUrl === undefined) {
    // Replicas share live data through Redis by series id; ids are only
    // shared when the replicas share one database.
    problems.push(
      'AIOPS_REDIS_URL (several replicas) needs AIOPS_DATABASE_URL: embedded stores are per replica',
    );
  }
  if (out.adminTokenDisabled === true && out.adminToken !== undefined) {
    problems.push('AIOPS_ADMIN_TOKEN and AIOPS_ADMIN_TOKEN_DISABLED are both set');
  }
  if (out.oidcTyp !== 'require' && out.oidcTyp !== 'allow') {
    problems.push(`AIOPS_OIDC_TYP: "${String(out.oidcTyp)}" is not require or allow`);
  }
  for (const [cert, key, name] of [
    ['httpTlsCertFile', 'httpTlsKeyFile', 'AIOPS_HTTP_TLS'],
    ['grpcTlsCertFile', 'grpcTlsKeyFile', 'AIOPS_GRPC_TLS'],
  ] as const) {
    if ((out[cert] === undefined) !== (out[key] === undefined)) {
      problems.push(`${name}_CERT_FILE and ${name}_KEY_FILE must be set together`);
    }
  }
  if (out.grpcTlsClientCaFile !== undefined && out.grpcTlsCertFile === undefined) {
    problems.push('AIOPS_GRPC_TLS_CLIENT_CA_FILE needs AIOPS_GRPC_TLS_CERT_FILE and AIOPS_GRPC_TLS_KEY_FILE');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as unknown as HubConfig;
}

function readConfigFile(path: string | undefined, problems: string[]): Record<string, unknown> {
  if (!path) return {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      problems.push(`AIOPS_CONFIG_FILE ${path}: must hold a JSON object`);
      return {};
    }
    const known = new Set((SETTINGS as readonly Setting[]).map((s) => s.key));
    for (const key of Object.keys(parsed)) {
      if (!known.has(key)) problems.push(`AIOPS_CONFIG_FILE ${path}: unknown setting "${key}"`);
    }
    return parsed as Record<string, unknown>;
  } catch (err) {
    problems.push(`AIOPS_CONFIG_FILE ${path}: ${(err as Error).message}`);
    return {};
  }
}

function fromEnv(
  setting: Setting,
  env: Readonly<Record<string, string | undefined>>,
  problems: string[],
): string | undefined {
  const direct = env[setting.env];
  const filePath = setting.secret ? env[`${setting.env}_FILE`] : undefined;
  if (direct !== undefined && direct !== '' && filePath) {
    problems.push(`${setting.env} and ${setting.env}_FILE are both set; set one`);
  }
  if (filePath) {
    try {
      return readFileSync(filePath, 'utf8').trim();
    } catch (err) {
      problems.push(`${setting.env}_FILE ${filePath}: ${(err as Error).message}`);
      return undefined;
    }
  }
  return direct === '' ? undefined : direct;
}

function fileValue(file: Record<string, unknown>, setting: Setting, problems: string[]): string | undefined {
  const v = file[setting.key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  problems.push(`config file: ${setting.key} must be a string, number or boolean`);
  return undefined;
}

function convert(setting: Setting, value: string | undefined, problems: string[]): unknown {
  if (value === undefined) return undefined;
  switch (setting.kind) {
    case 'string':
      return value;
    case 'list':
      return value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(value)) return true;
      if (/^(0|false|no|off)$/i.test(value)) return false;
      problems.push(`${setting.env}: "${value}" is not a boolean (true/false)`);
      return undefined;
    case 'int': {
      const n = Number(value);
      if (!Number.isSafeInteger(n)) {
        problems.push(`${setting.env}: "${value}" is not an integer`);
        return undefined;
      }
      if (setting.min !== undefined && n < setting.min) {
        problems.push(`${setting.env}: ${n} is below the minimum ${setting.min}`);
      }
      return n;
    }
    case 'address': {
      const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(value);
      const port = m ? Number(m[2]) : NaN;
      if (!m || port > 65535) {
        problems.push(`${setting.env}: "${value}" is not host:port`);
        return undefined;
      }
      return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
    }
  }
}

/** host:port for display, with IPv6 hosts bracketed. */
export function formatAddress(address: { host: string; port: number }): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
