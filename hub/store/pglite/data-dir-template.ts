import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';

/**
 * A freshly initialised PGlite cluster, kept as a gzipped tarball
 * (PGlite.dumpDataDir) and loaded into new data directories instead of
 * running initdb again. initdb is most of an embedded hub's first start
 * (about 5 s of a loaded 2-core machine against about 1.5 s to load the
 * tarball), and every test that opens a fresh embedded store pays it.
 *
 * The tarball is a cache, never the source of truth: it lives beside the
 * installed PGlite (node_modules/.cache/aiops-nextgen), is named after the
 * PGlite version that made it (a different version never loads it), is
 * written atomically, and a hub without it simply runs initdb and then
 * writes it. `npm ci` warms it (postinstall, best effort).
 */

/** The installed @electric-sql/pglite: its version and where the cache goes. */
function installedPglite(): { version: string; cacheDir: string } {
  // The package exports no package.json: walk up from its entry point.
  let dir = dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@electric-sql/pglite' && pkg.version) {
        // dir is node_modules/@electric-sql/pglite.
        return { version: pkg.version, cacheDir: join(dir, '..', '..', '.cache', 'aiops-nextgen') };
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the @electric-sql/pglite package.json');
    dir = up;
  }
}

/**
 * Where the template of the installed PGlite version is (whether or not it
 * exists). AIOPS_PGLITE_TEMPLATE_DIR moves the cache (tests that damage it
 * use their own).
 */
export function templatePath(): string {
  const { version, cacheDir } = installedPglite();
  return join(process.env.AIOPS_PGLITE_TEMPLATE_DIR || cacheDir, `pglite-${version}-datadir.tar.gz`);
}

/** Writes the template unless there is one already; returns its path and whether it was written. */
export async function ensureTemplate(): Promise<{ path: string; written: boolean }> {
  const path = templatePath();
  if (existsSync(path)) return { path, written: false };
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create();
  try {
    await saveTemplate(db);
  } finally {
    await db.close();
  }
  return { path, written: true };
}

/** True when `dataDir` holds no cluster and nothing else, so a template may be unpacked into it. */
export function isEmptyDataDir(dataDir: string): boolean {
  return !existsSync(dataDir) || readdirSync(dataDir).length === 0;
}

/** The template, or undefined when there is none for this PGlite version. */
export async function readTemplate(): Promise<Blob | undefined> {
  try {
    return new Blob([await readFile(templatePath())]);
  } catch {
    return undefined;
  }
}

/** Saves `db`'s data directory as the template; `db` must be a cluster nothing has written to yet. */
export async function saveTemplate(db: PGlite): Promise<string> {
  const path = templatePath();
  const blob = await db.dumpDataDir('gzip');
  await mkdir(dirname(path), { recursive: true });
  // Atomic: a reader sees the old file, no file, or the whole new one.
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, Buffer.from(await blob.arrayBuffer()));
  await rename(tmp, path);
  return path;
}

/** Drops a template that failed to load, so the next start runs initdb and writes a good one. */
export async function discardTemplate(): Promise<void> {
  await rm(templatePath(), { force: true });
}
