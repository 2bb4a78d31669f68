import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

/** ptp4l's built-in default management socket. */
export const defaultUdsAddress = '/var/run/ptp4l';

/** Expands one absolute path whose last segment may hold `*` / `?`; directories are taken literally. */
export async function expandGlob(pattern: string): Promise<string[]> {
  const name = basename(pattern);
  if (!/[*?]/.test(name)) return [pattern];
  const dir = dirname(pattern);
  const re = new RegExp(
    `^${name
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  const entries = await readdir(dir).catch(() => [] as string[]);
  return entries
    .filter((e) => re.test(e))
    .sort()
    .map((e) => `${dir}/${e}`);
}

/** `uds_address` from the [global] section of a ptp4l config; the default when the file does not set one. */
export function udsAddressFromConfig(text: string): string {
  let section = '';
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/#.*/, '').trim();
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? '';
      continue;
    }
    const m = /^uds_address\s+(\S+)$/.exec(line);
    if (m && section === 'global') return m[1] ?? defaultUdsAddress;
  }
  return defaultUdsAddress;
}

/** Management sockets that exist now, from the socket globs and the config files' uds_address. */
export async function discoverSockets(
  sockets: readonly string[],
  configFiles: readonly string[],
): Promise<string[]> {
  const candidates = new Set<string>();
  for (const pattern of sockets) for (const path of await expandGlob(pattern)) candidates.add(path);
  for (const pattern of configFiles) {
    for (const path of await expandGlob(pattern)) {
      const text = await readFile(path, 'utf8').catch(() => undefined);
      if (text !== undefined) candidates.add(udsAddressFromConfig(text));
    }
  }
  const found: string[] = [];
  for (const path of candidates) {
    const info = await stat(path).catch(() => undefined);
    if (info?.isSocket()) found.push(path);
  }
  return found;
}
