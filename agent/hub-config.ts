import type { CollectorConfig, Limits } from './encode/ingest-client.js';

/** Shortest and longest interval the hub may set (the local config's minimum is also 100 ms). */
export const HUB_INTERVAL_MIN_MS = 100;
export const HUB_INTERVAL_MAX_MS = 24 * 3600_000;

/** A collector as this agent runs it: locally enabled, with its local interval. */
export interface LocalCollector {
  readonly name: string;
  readonly intervalMs: number;
}

export interface CollectorPlan {
  readonly name: string;
  readonly enabled: boolean;
  readonly intervalMs: number;
}

/**
 * What a hub-pushed AgentConfig means for this agent (docs/agent.md,
 * "Hub-pushed configuration"). Each push is the hub's whole list, so a
 * collector the list leaves out goes back to its local settings. The hub
 * can turn off and retime the collectors the node runs; it cannot start one
 * the node's own configuration leaves off (that configuration also decides
 * the privileges the agent has), so such an entry, an unknown collector or
 * an interval out of range is a problem, reported and not applied.
 */
export function planHubConfig(
  pushed: readonly CollectorConfig[],
  local: readonly LocalCollector[],
  knownNames: readonly string[],
): { plan: CollectorPlan[]; problems: string[] } {
  const problems: string[] = [];
  const byName = new Map<string, CollectorConfig>();
  for (const c of pushed) {
    if (byName.has(c.name)) problems.push(`collector "${c.name}" is listed twice; the first entry is used`);
    else byName.set(c.name, c);
  }
  const running = new Set(local.map((l) => l.name));
  for (const name of byName.keys()) {
    if (running.has(name)) continue;
    if (!knownNames.includes(name)) problems.push(`collector "${name}" does not exist in this agent`);
    else if (byName.get(name)!.enabled)
      problems.push(`collector "${name}" is disabled by the node's own configuration; not started`);
  }
  const plan = local.map((l): CollectorPlan => {
    const c = byName.get(l.name);
    if (!c) return { name: l.name, enabled: true, intervalMs: l.intervalMs };
    let intervalMs = l.intervalMs;
    if (c.intervalMs !== 0) {
      if (c.intervalMs < HUB_INTERVAL_MIN_MS || c.intervalMs > HUB_INTERVAL_MAX_MS) {
        problems.push(
          `collector "${l.name}": interval_ms ${c.intervalMs} is outside ${HUB_INTERVAL_MIN_MS}..${HUB_INTERVAL_MAX_MS}; keeping ${l.intervalMs}`,
        );
      } else {
        intervalMs = c.intervalMs;
      }
    }
    return { name: l.name, enabled: c.enabled, intervalMs };
  });
  return { plan, problems };
}

/**
 * Hard batch caps from the hub's Welcome limits. The batcher's size is an
 * estimate, so half of max_message_bytes leaves room for series definitions
 * and encoding overhead. 0 (a hub that does not say) means no cap.
 */
export function batchCapsOf(limits: Limits): { maxSamples: number; maxBytes: number } {
  return {
    maxSamples: limits.maxSamplesPerBatch,
    maxBytes: limits.maxMessageBytes > 0 ? Math.floor(limits.maxMessageBytes / 2) : 0,
  };
}
