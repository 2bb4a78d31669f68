import type pg from 'pg';
import type { AgentRecord, AgentRegistry } from '../store.js';

interface AgentRow {
  agent_id: string;
  cluster: string;
  node: string;
  version: string;
  capabilities: string[];
  last_seen: Date | null;
  last_sequence: string;
}

/** Agents table: hello facts plus the sequence high-water mark the appender maintains. */
export class PgAgentRegistry implements AgentRegistry {
  constructor(private readonly pool: pg.Pool) {}

  async recordHello(agent: Omit<AgentRecord, 'lastSequence'>): Promise<void> {
    // Never touches last_sequence: a hello must not move the high-water mark.
    await this.pool.query(
      `INSERT INTO agents (agent_id, cluster, node, version, capabilities, last_seen)
       VALUES ($1, $2, $3, $4, $5, to_timestamp($6 / 1000.0))
       ON CONFLICT (agent_id) DO UPDATE SET cluster = excluded.cluster, node = excluded.node,
         version = excluded.version, capabilities = excluded.capabilities, last_seen = excluded.last_seen`,
      [agent.agentId, agent.cluster, agent.node, agent.version, [...agent.capabilities], agent.lastSeenMs],
    );
  }

  async list(cluster?: string | readonly string[]): Promise<AgentRecord[]> {
    const where =
      cluster === undefined
        ? ''
        : typeof cluster === 'string'
          ? 'WHERE cluster = $1'
          : 'WHERE cluster = ANY($1::text[])';
    const sql = `SELECT agent_id, cluster, node, version, capabilities, last_seen, last_sequence FROM agents
      ${where} ORDER BY cluster, node, agent_id`;
    const params = cluster === undefined ? [] : [typeof cluster === 'string' ? cluster : [...cluster]];
    const r = await this.pool.query<AgentRow>(sql, params);
    return r.rows.map((a) => ({
      agentId: a.agent_id,
      cluster: a.cluster,
      node: a.node,
      version: a.version,
      capabilities: a.capabilities,
      lastSeenMs: a.last_seen ? a.last_seen.getTime() : 0,
      lastSequence: Number(a.last_sequence),
    }));
  }
}
