import { closeSync, fdatasyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { seriesKeyId, type SeriesKey } from '../model/telemetry.js';

/**
 * The agent's series reference table. The hub requires a ref to mean the
 * same series for the agent's whole life (not only one stream), and spool
 * records written before a restart are sent after it, so refs are persisted:
 * an append-only JSON-lines file, one `{ref, series}` per line, written and
 * synced before any spool record that uses the new refs.
 *
 * A torn last line (crash while appending) is ignored: no spool record can
 * reference it, because records are written after the refs they use.
 */
export class SeriesRefTable {
  private readonly byId = new Map<string, number>();
  private readonly byRef = new Map<number, SeriesKey>();
  private nextRef = 1;
  private pending: string[] = [];
  private fd: number | undefined;

  constructor(
    private readonly path: string | undefined,
    private readonly options: { sync: boolean; logger?: Logger },
  ) {
    if (path) this.load(path);
  }

  get size(): number {
    return this.byRef.size;
  }

  /** The ref of `key`, assigning (and queueing for persistence) a new one if needed. */
  refOf(key: SeriesKey): number {
    const id = seriesKeyId(key);
    const known = this.byId.get(id);
    if (known !== undefined) return known;
    const ref = this.nextRef++;
    const stored: SeriesKey = {
      metric: key.metric,
      source: key.source,
      entity: key.entity,
      labels: { ...key.labels },
      kind: key.kind,
    };
    this.byId.set(id, ref);
    this.byRef.set(ref, stored);
    if (this.path) this.pending.push(JSON.stringify({ ref, series: stored }));
    return ref;
  }

  seriesOf(ref: number): SeriesKey | undefined {
    return this.byRef.get(ref);
  }

  /** Writes refs assigned since the last flush (and syncs them when configured). */
  flush(): void {
    if (!this.path || this.pending.length === 0) return;
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, 'a');
    }
    writeSync(this.fd, this.pending.join('\n') + '\n');
    if (this.options.sync) fdatasyncSync(this.fd);
    this.pending = [];
  }

  close(): void {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private load(path: string): void {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let bad = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const { ref, series } = JSON.parse(line) as { ref: number; series: SeriesKey };
        if (!Number.isInteger(ref) || ref <= 0 || typeof series?.metric !== 'string')
          throw new Error('bad entry');
        this.byId.set(seriesKeyId(series), ref);
        this.byRef.set(ref, series);
        this.nextRef = Math.max(this.nextRef, ref + 1);
      } catch {
        bad += 1;
      }
    }
    if (bad > 0) this.options.logger?.warn({ path, bad }, 'series ref table: unreadable lines ignored');
  }
}
