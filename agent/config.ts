import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { CollectorFactory } from './collectors/collector.js';
import { collectorFactories } from './collectors/registry.js';
import { ConfigError } from './errors.js';
import { lazyRequire } from './lazy-require.js';
import type * as Yaml from 'yaml';
import type { FsyncPolicy } from './pipeline/spool/spool.js';

/**
 * The agent's configuration: defaults < YAML/JSON file (AIOPS_AGENT_CONFIG
 * or --config) < AIOPS_AGENT_* environment. Secrets come from `*_FILE`
 * variables. Every problem is collected and reported at once. This is the
 * only module of the agent that reads process.env (through its caller).
 * docs/agent.md lists every setting.
 */
export interface AgentConfig {
  /** Hub gRPC address, host:port. */
  readonly hubAddress: string;
  readonly tls: {
    readonly enabled: boolean;
    readonly caFile: string | undefined;
    /** Client certificate and key for hubs that require mutual TLS (bound to this cluster). */
    readonly certFile: string | undefined;
    readonly keyFile: string | undefined;
  };
  /** The enrollment token, read (again) at each connection; undefined: none sent. */
  readonly token: () => string | undefined;
  readonly cluster: string;
  readonly nodeName: string;
  /** Stable agent id; undefined: generated once and kept in dataDir/agent-id. */
  readonly agentId: string | undefined;
  readonly dataDir: string;
  /** /healthz, /readyz, /metrics listener; port 0 picks a free port; undefined: disabled. */
  readonly http: { readonly host: string; readonly port: number } | undefined;
  readonly logLevel: string;
  readonly batch: { readonly maxSamples: number; readonly maxBytes: number; readonly maxAgeMs: number };
  readonly spool: {
    readonly maxBytes: number;
    readonly segmentMaxBytes: number;
    readonly fsync: FsyncPolicy;
    readonly fsyncIntervalMs: number;
    readonly maxRecordBytes: number;
    /** Bound on the batches the hub refused, kept in spool/dead-letter/ (docs/spool-format.md). */
    readonly deadLetterMaxBytes: number;
  };
  readonly sender: {
    readonly backoffInitialMs: number;
    readonly backoffMaxMs: number;
    readonly permanentRetryMs: number;
    readonly welcomeTimeoutMs: number;
  };
  readonly collectors: Readonly<Record<string, CollectorSettings>>;
}

export interface CollectorSettings {
  readonly enabled: boolean;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Parsed by the collector's factory. */
  readonly options: unknown;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const FSYNC: FsyncPolicy[] = ['always', 'interval', 'never'];
const FILE_KEYS = [
  'hubAddress',
  'tls',
  'tlsCaFile',
  'tlsCertFile',
  'tlsKeyFile',
  'token',
  'tokenFile',
  'cluster',
  'nodeName',
  'agentId',
  'dataDir',
  'httpAddress',
  'logLevel',
  'batch',
  'spool',
  'sender',
  'collectors',
];

export interface LoadConfigOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Overrides AIOPS_AGENT_CONFIG. */
  readonly configPath?: string;
  readonly factories?: readonly CollectorFactory<unknown>[];
  /** Overrides applied after file and env (programmatic use, tests). */
  readonly overrides?: Partial<Record<string, unknown>>;
}

/** Loads and validates; throws one ConfigError listing every problem. */
export function loadAgentConfig(opts: LoadConfigOptions = {}): AgentConfig {
  const env = opts.env ?? process.env;
  const factories = opts.factories ?? collectorFactories;
  const problems: string[] = [];
  const file = readConfigFile(opts.configPath ?? env.AIOPS_AGENT_CONFIG, problems);
  const src = { ...file, ...(opts.overrides ?? {}) };
  for (const key of Object.keys(src)) {
    if (!FILE_KEYS.includes(key)) problems.push(`${key}: unknown setting (known: ${FILE_KEYS.join(', ')})`);
  }

  const pick = (key: string, envName: string): unknown => env[envName] ?? src[key];
  const str = (key: string, envName: string, def: string): string => {
    const v = pick(key, envName);
    if (v === undefined) return def;
    if (typeof v !== 'string' || v === '') {
      problems.push(`${envName} (${key}): must be a non-empty string`);
      return def;
    }
    return v;
  };
  const int = (
    key: string,
    envName: string,
    def: number,
    min: number,
    raw: unknown = pick(key, envName),
  ): number => {
    if (raw === undefined) return def;
    const n = typeof raw === 'string' ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) {
      problems.push(`${envName} (${key}): "${String(raw)}" is not an integer >= ${min}`);
      return def;
    }
    return n;
  };
  const bool = (key: string, envName: string, def: boolean): boolean => {
    const v = pick(key, envName);
    if (v === undefined) return def;
    if (v === true || v === 'true' || v === '1') return true;
    if (v === false || v === 'false' || v === '0') return false;
    problems.push(`${envName} (${key}): "${String(v)}" is not a boolean`);
    return def;
  };
  const section = (key: string): Record<string, unknown> => {
    const v = src[key];
    if (v === undefined) return {};
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      problems.push(`${key}: must be an object`);
      return {};
    }
    return v as Record<string, unknown>;
  };

  const hubAddress = str('hubAddress', 'AIOPS_AGENT_HUB_ADDRESS', '127.0.0.1:4770');
  if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(hubAddress)) {
    problems.push(`AIOPS_AGENT_HUB_ADDRESS (hubAddress): "${hubAddress}" is not host:port`);
  }
  const tlsEnabled = bool('tls', 'AIOPS_AGENT_TLS', false);
  const caFile = pick('tlsCaFile', 'AIOPS_AGENT_TLS_CA_FILE') as string | undefined;
  if (caFile !== undefined) readable(caFile, 'AIOPS_AGENT_TLS_CA_FILE', problems);
  const certFile = pick('tlsCertFile', 'AIOPS_AGENT_TLS_CERT_FILE') as string | undefined;
  const keyFile = pick('tlsKeyFile', 'AIOPS_AGENT_TLS_KEY_FILE') as string | undefined;
  if (certFile !== undefined) readable(certFile, 'AIOPS_AGENT_TLS_CERT_FILE', problems);
  if (keyFile !== undefined) readable(keyFile, 'AIOPS_AGENT_TLS_KEY_FILE', problems);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problems.push('AIOPS_AGENT_TLS_CERT_FILE and AIOPS_AGENT_TLS_KEY_FILE must be set together');
  }
  if (certFile !== undefined && !tlsEnabled) {
    problems.push('AIOPS_AGENT_TLS_CERT_FILE needs AIOPS_AGENT_TLS=true');
  }

  const token = tokenProvider(env, src, problems);
  const cluster = str('cluster', 'AIOPS_AGENT_CLUSTER', 'local');
  const nodeName = str('nodeName', 'AIOPS_AGENT_NODE_NAME', os.hostname());
  const agentIdRaw = pick('agentId', 'AIOPS_AGENT_ID');
  let agentId: string | undefined;
  if (agentIdRaw !== undefined) {
    if (typeof agentIdRaw !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(agentIdRaw)) {
      problems.push(`AIOPS_AGENT_ID (agentId): must be 1..128 characters of [A-Za-z0-9._:-]`);
    } else agentId = agentIdRaw;
  }
  const dataDir = str('dataDir', 'AIOPS_AGENT_DATA_DIR', '.data/agent');
  const httpRaw = str('httpAddress', 'AIOPS_AGENT_HTTP_ADDRESS', '127.0.0.1:9464');
  let http: AgentConfig['http'];
  if (httpRaw !== 'off') {
    const m = /^(.+):(\d{1,5})$/.exec(httpRaw);
    if (!m || Number(m[2]) > 65535)
      problems.push(`AIOPS_AGENT_HTTP_ADDRESS (httpAddress): "${httpRaw}" is not host:port or "off"`);
    else http = { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  }
  const logLevel = str('logLevel', 'AIOPS_AGENT_LOG_LEVEL', 'info');
  if (!LOG_LEVELS.includes(logLevel))
    problems.push(`AIOPS_AGENT_LOG_LEVEL (logLevel): "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);

  const b = section('batch');
  const batch = {
    maxSamples: int(
      'batch.maxSamples',
      'AIOPS_AGENT_BATCH_MAX_SAMPLES',
      5000,
      1,
      env.AIOPS_AGENT_BATCH_MAX_SAMPLES ?? b.maxSamples,
    ),
    maxBytes: int(
      'batch.maxBytes',
      'AIOPS_AGENT_BATCH_MAX_BYTES',
      512 * 1024,
      1024,
      env.AIOPS_AGENT_BATCH_MAX_BYTES ?? b.maxBytes,
    ),
    // 0: each collection goes to the spool as soon as it is produced, so a
    // SIGKILL loses nothing collected; bench:agent measured no CPU or memory
    // cost for it at a 1 s interval (docs/performance.md).
    maxAgeMs: int(
      'batch.maxAgeMs',
      'AIOPS_AGENT_BATCH_MAX_AGE_MS',
      0,
      0,
      env.AIOPS_AGENT_BATCH_MAX_AGE_MS ?? b.maxAgeMs,
    ),
  };
  const sp = section('spool');
  const fsyncRaw = env.AIOPS_AGENT_SPOOL_FSYNC ?? sp.fsync ?? 'interval';
  if (!FSYNC.includes(fsyncRaw as FsyncPolicy))
    problems.push(
      `AIOPS_AGENT_SPOOL_FSYNC (spool.fsync): "${String(fsyncRaw)}" is not one of ${FSYNC.join(', ')}`,
    );
  const spoolMaxBytes = int(
    'spool.maxBytes',
    'AIOPS_AGENT_SPOOL_MAX_BYTES',
    256 * 1024 * 1024,
    4096,
    env.AIOPS_AGENT_SPOOL_MAX_BYTES ?? sp.maxBytes,
  );
  const spool = {
    maxBytes: spoolMaxBytes,
    // Default: 1/8 of the bound (at most 4 MiB), so an overflow drops about
    // an eighth of the spool, never most of it.
    segmentMaxBytes: int(
      'spool.segmentMaxBytes',
      'AIOPS_AGENT_SPOOL_SEGMENT_MAX_BYTES',
      Math.max(1024, Math.min(4 * 1024 * 1024, Math.floor(spoolMaxBytes / 8))),
      1024,
      env.AIOPS_AGENT_SPOOL_SEGMENT_MAX_BYTES ?? sp.segmentMaxBytes,
    ),
    fsync: (FSYNC.includes(fsyncRaw as FsyncPolicy) ? fsyncRaw : 'interval') as FsyncPolicy,
    fsyncIntervalMs: int(
      'spool.fsyncIntervalMs',
      'AIOPS_AGENT_SPOOL_FSYNC_INTERVAL_MS',
      1000,
      10,
      env.AIOPS_AGENT_SPOOL_FSYNC_INTERVAL_MS ?? sp.fsyncIntervalMs,
    ),
    maxRecordBytes: int(
      'spool.maxRecordBytes',
      'AIOPS_AGENT_SPOOL_MAX_RECORD_BYTES',
      16 * 1024 * 1024,
      1024,
      env.AIOPS_AGENT_SPOOL_MAX_RECORD_BYTES ?? sp.maxRecordBytes,
    ),
    deadLetterMaxBytes: int(
      'spool.deadLetterMaxBytes',
      'AIOPS_AGENT_SPOOL_DEAD_LETTER_MAX_BYTES',
      16 * 1024 * 1024,
      0,
      env.AIOPS_AGENT_SPOOL_DEAD_LETTER_MAX_BYTES ?? sp.deadLetterMaxBytes,
    ),
  };
  if (spool.segmentMaxBytes * 2 > spool.maxBytes) {
    problems.push(
      `spool.segmentMaxBytes (${spool.segmentMaxBytes}) must be at most half of spool.maxBytes (${spool.maxBytes}): overflow drops whole segments`,
    );
  }
  const se = section('sender');
  const sender = {
    backoffInitialMs: int(
      'sender.backoffInitialMs',
      'AIOPS_AGENT_BACKOFF_INITIAL_MS',
      500,
      1,
      env.AIOPS_AGENT_BACKOFF_INITIAL_MS ?? se.backoffInitialMs,
    ),
    backoffMaxMs: int(
      'sender.backoffMaxMs',
      'AIOPS_AGENT_BACKOFF_MAX_MS',
      30_000,
      1,
      env.AIOPS_AGENT_BACKOFF_MAX_MS ?? se.backoffMaxMs,
    ),
    permanentRetryMs: int(
      'sender.permanentRetryMs',
      'AIOPS_AGENT_PERMANENT_RETRY_MS',
      300_000,
      1,
      env.AIOPS_AGENT_PERMANENT_RETRY_MS ?? se.permanentRetryMs,
    ),
    welcomeTimeoutMs: int(
      'sender.welcomeTimeoutMs',
      'AIOPS_AGENT_WELCOME_TIMEOUT_MS',
      10_000,
      1,
      env.AIOPS_AGENT_WELCOME_TIMEOUT_MS ?? se.welcomeTimeoutMs,
    ),
  };

  const collectors = collectorSettings(env, section('collectors'), factories, problems, int);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    hubAddress,
    tls: { enabled: tlsEnabled, caFile, certFile, keyFile },
    token,
    cluster,
    nodeName,
    agentId,
    dataDir,
    http,
    logLevel,
    batch,
    spool,
    sender,
    collectors,
  };
}

type IntFn = (key: string, envName: string, def: number, min: number, raw?: unknown) => number;

function collectorSettings(
  env: Readonly<Record<string, string | undefined>>,
  fileCollectors: Record<string, unknown>,
  factories: readonly CollectorFactory<unknown>[],
  problems: string[],
  int: IntFn,
): Record<string, CollectorSettings> {
  const names = new Set(factories.map((f) => f.name));
  for (const name of Object.keys(fileCollectors)) {
    if (!names.has(name))
      problems.push(`collectors.${name}: unknown collector (known: ${[...names].join(', ')})`);
  }
  // AIOPS_AGENT_COLLECTORS=host,gpu enables exactly those.
  const enabledList = env.AIOPS_AGENT_COLLECTORS?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of enabledList ?? []) {
    if (!names.has(n)) problems.push(`AIOPS_AGENT_COLLECTORS: unknown collector "${n}"`);
  }
  const defaultInterval = int(
    'intervalMs',
    'AIOPS_AGENT_INTERVAL_MS',
    10_000,
    100,
    env.AIOPS_AGENT_INTERVAL_MS,
  );
  const out: Record<string, CollectorSettings> = {};
  for (const f of factories) {
    const raw = fileCollectors[f.name] ?? {};
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push(`collectors.${f.name}: must be an object`);
      continue;
    }
    const { enabled, intervalMs, timeoutMs, ...options } = raw as Record<string, unknown>;
    if (enabled !== undefined && typeof enabled !== 'boolean')
      problems.push(`collectors.${f.name}.enabled: must be a boolean`);
    const interval = int(
      `collectors.${f.name}.intervalMs`,
      'AIOPS_AGENT_INTERVAL_MS',
      defaultInterval,
      100,
      intervalMs,
    );
    const timeout = int(`collectors.${f.name}.timeoutMs`, '-', Math.min(interval, 30_000), 10, timeoutMs);
    let parsed: unknown;
    try {
      parsed = f.parseConfig(Object.keys(options).length > 0 ? options : undefined);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else problems.push(`collectors.${f.name}: ${(err as Error).message}`);
    }
    out[f.name] = {
      enabled: enabledList ? enabledList.includes(f.name) : enabled !== false,
      intervalMs: interval,
      timeoutMs: timeout,
      options: parsed,
    };
  }
  return out;
}

function tokenProvider(
  env: Readonly<Record<string, string | undefined>>,
  src: Record<string, unknown>,
  problems: string[],
): () => string | undefined {
  const file = env.AIOPS_AGENT_TOKEN_FILE ?? (src.tokenFile as string | undefined);
  const direct = env.AIOPS_AGENT_TOKEN ?? (src.token as string | undefined);
  if (file !== undefined && direct !== undefined) {
    problems.push('AIOPS_AGENT_TOKEN and AIOPS_AGENT_TOKEN_FILE are both set; set one');
  }
  if (file !== undefined) {
    if (!readable(file, 'AIOPS_AGENT_TOKEN_FILE', problems)) return () => undefined;
    let last: string | undefined;
    // Re-read at every connection so a rotated Secret is picked up; keep the
    // last good value if the file is briefly missing during the rotation.
    return () => {
      try {
        last = readFileSync(file, 'utf8').trim() || last;
      } catch {
        // keep `last`
      }
      return last;
    };
  }
  return () => direct;
}

function readable(path: string, name: string, problems: string[]): boolean {
  try {
    readFileSync(path);
    return true;
  } catch (err) {
    problems.push(
      `${name}: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
    return false;
  }
}

function readConfigFile(path: string | undefined, problems: string[]): Record<string, unknown> {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    problems.push(`config file "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return {};
  }
  try {
    // A .json file (the chart's) is parsed as JSON; anything else as YAML, a
    // superset of JSON. The YAML parser is loaded only then (lazy-require.ts).
    const v: unknown = path.endsWith('.json')
      ? JSON.parse(text)
      : (lazyRequire('yaml') as typeof Yaml).parse(text);
    if (v === null || v === undefined) return {};
    if (typeof v !== 'object' || Array.isArray(v)) {
      problems.push(`config file "${path}": top level must be a mapping`);
      return {};
    }
    return v as Record<string, unknown>;
  } catch (err) {
    problems.push(`config file "${path}": ${(err as Error).message.split('\n')[0]}`);
    return {};
  }
}
