import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { startAgent, type AgentService } from './agent.js';
import type { CollectorFactory } from './collectors/collector.js';
import { collectorFactories } from './collectors/registry.js';
import { Scheduler, type RunOutcome, type ScheduledCollector } from './collectors/scheduler.js';
import { loadAgentConfig } from './config.js';
import { ConfigError } from './errors.js';
import { createLogger } from './logging.js';
import type { Collection, Sample } from './model/telemetry.js';
import { createAgentMetrics } from './ops/metrics.js';

const USAGE = `usage:
  aiops-agent [run] [--config <file>]
      run the agent (settings: docs/agent.md)
  aiops-agent collect --once [--source <name>] [--format json|prom] [--config <file>]
      run the collectors once on this node and print what would be sent;
      exit 1 when a collector failed, 2 when the requested --source is absent`;

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

const defaultIo: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  env: process.env,
};

/**
 * Command line entry. Returns the exit code for one-shot commands; for
 * `run` it returns the running agent (the caller wires signals).
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo = defaultIo,
  factories: readonly CollectorFactory<unknown>[] = collectorFactories,
): Promise<number | { agent: AgentService; logger: Logger }> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        once: { type: 'boolean', default: false },
        source: { type: 'string' },
        format: { type: 'string', default: 'json' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}\n`);
    return 64;
  }
  const { values, positionals } = parsed;
  const command = positionals[0] ?? 'run';
  if (values.help) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length > 1 || !['run', 'collect'].includes(command)) {
    io.err(`unknown command: ${positionals.join(' ')}\n${USAGE}\n`);
    return 64;
  }
  let config;
  try {
    config = loadAgentConfig({ env: io.env, configPath: values.config, factories });
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`${err.message}\n`);
      return 78;
    }
    throw err;
  }
  if (command === 'run') {
    const logger = createLogger({ level: config.logLevel });
    const agent = await startAgent(config, logger, { factories, processMetrics: true });
    return { agent, logger };
  }
  if (!values.once) {
    io.err(`collect needs --once (continuous collection is "run")\n${USAGE}\n`);
    return 64;
  }
  if (values.format !== 'json' && values.format !== 'prom') {
    io.err(`--format must be json or prom\n`);
    return 64;
  }
  const names = values.source
    ? [values.source]
    : Object.keys(config.collectors).filter((n) => config.collectors[n]!.enabled);
  const logger = createLogger({ level: io.env.AIOPS_AGENT_LOG_LEVEL ?? 'warn', destination: process.stderr });
  const scheduled: ScheduledCollector[] = [];
  for (const name of names) {
    const factory = factories.find((f) => f.name === name);
    const settings = config.collectors[name];
    if (!factory || !settings) {
      io.err(`unknown source "${name}" (known: ${factories.map((f) => f.name).join(', ')})\n`);
      return 64;
    }
    scheduled.push({
      collector: factory.create(settings.options ?? factory.defaultConfig(), {
        logger,
        nodeName: config.nodeName,
        now: Date.now,
      }),
      intervalMs: settings.intervalMs,
      timeoutMs: settings.timeoutMs,
    });
  }
  const scheduler = new Scheduler({
    collectors: scheduled,
    sink: () => undefined,
    metrics: createAgentMetrics(),
    logger,
  });
  const outcomes = await scheduler.runAllOnce();
  await scheduler.stop();
  io.out(values.format === 'json' ? renderJson(outcomes) : renderProm(outcomes));
  const failed = [...outcomes.values()].some((o) => o.status === 'failed');
  const absent = values.source !== undefined && [...outcomes.values()].some((o) => o.status === 'absent');
  for (const [name, o] of outcomes) {
    if (o.status === 'failed') io.err(`${name}: failed: ${o.error.message}\n`);
    if (o.status === 'absent') io.err(`${name}: absent: ${o.reason}\n`);
  }
  return failed ? 1 : absent ? 2 : 0;
}

function collected(outcomes: Map<string, RunOutcome>): Collection {
  const all: Collection = { samples: [], events: [], inventory: [] };
  for (const o of outcomes.values()) {
    if (o.status === 'failed') continue;
    all.samples.push(...o.collection.samples);
    all.events.push(...o.collection.events);
    all.inventory.push(...o.collection.inventory);
  }
  return all;
}

function renderJson(outcomes: Map<string, RunOutcome>): string {
  const collectors = Object.fromEntries(
    [...outcomes].map(([name, o]) => [
      name,
      {
        status: o.status,
        durationMs: Math.round(o.durationMs * 10) / 10,
        ...(o.status === 'failed' ? { error: o.error.message } : {}),
        ...(o.status === 'absent' ? { reason: o.reason } : {}),
      },
    ]),
  );
  const c = collected(outcomes);
  return `${JSON.stringify({ collectors, samples: c.samples, events: c.events, inventory: c.inventory }, null, 2)}\n`;
}

/** Prometheus text exposition; events and inventory as comments (they are not samples). */
function renderProm(outcomes: Map<string, RunOutcome>): string {
  const c = collected(outcomes);
  const lines: string[] = [];
  const typed = new Set<string>();
  for (const s of c.samples) {
    if (!typed.has(s.series.metric)) {
      lines.push(`# TYPE ${s.series.metric} ${s.series.kind}`);
      typed.add(s.series.metric);
    }
    lines.push(promLine(s));
  }
  for (const e of c.events)
    lines.push(`# event ${e.kind} severity=${e.severity} source=${e.source} entity=${e.entity} ${e.message}`);
  for (const i of c.inventory) {
    const attrs = Object.entries(i.attributes).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    lines.push(
      `# inventory ${i.kind} source=${i.source} entity=${i.entity}${i.absent ? ` absent reason=${JSON.stringify(i.absentReason ?? '')}` : ''} ${attrs.join(' ')}`.trimEnd(),
    );
  }
  for (const [name, o] of outcomes)
    lines.push(`# collector ${name} ${o.status}${o.status === 'failed' ? ` ${o.error.message}` : ''}`);
  return `${lines.join('\n')}\n`;
}

function promLine(s: Sample): string {
  const labels: Record<string, string> = {
    source: s.series.source,
    ...(s.series.entity ? { entity: s.series.entity } : {}),
    ...s.series.labels,
  };
  const body = Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
  return `${s.series.metric}{${body}} ${s.value} ${s.timestampMs}`;
}
