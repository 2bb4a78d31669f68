import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { ConfigError } from '../../errors.js';

/** PEM files of one TLS endpoint. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle that client certificates must chain to (mutual TLS); absent: no client certificates. */
  readonly caFile?: string;
}

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
}

/** Reads and checks the files (key matches certificate, PEM parses); ConfigError naming the files otherwise. */
export async function loadTlsMaterial(files: TlsFiles): Promise<TlsMaterial> {
  let material: TlsMaterial;
  try {
    const [cert, key, ca] = await Promise.all([
      readFile(files.certFile),
      readFile(files.keyFile),
      files.caFile === undefined ? undefined : readFile(files.caFile),
    ]);
    material = ca === undefined ? { cert, key } : { cert, key, ca };
  } catch (err) {
    throw new ConfigError([`TLS files cannot be read (${(err as Error).message})`]);
  }
  try {
    createSecureContext(material);
  } catch (err) {
    throw new ConfigError([
      `TLS files ${files.certFile} / ${files.keyFile} are not a usable certificate and key (${(err as Error).message})`,
    ]);
  }
  return material;
}

export interface TlsWatch {
  close(): void;
}

/**
 * Watches the files' directories (not the files: Kubernetes secret volumes
 * and cert-manager replace files through a symlink swap, which a watch on
 * the old inode would miss) and, after changes settle for debounceMs,
 * re-reads and checks the material. A valid new pair is handed to onChange;
 * an invalid or half-written one is logged and the current one kept.
 */
export function watchTlsFiles(
  files: TlsFiles,
  onChange: (material: TlsMaterial) => void,
  logger: Logger,
  options: { debounceMs?: number } = {},
): TlsWatch {
  const debounceMs = options.debounceMs ?? 500;
  const dirs = new Set(
    [files.certFile, files.keyFile, files.caFile]
      .filter((f) => f !== undefined)
      .map((f) => dirname(resolve(f))),
  );
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const reload = () => {
    timer = undefined;
    loadTlsMaterial(files).then(
      (material) => {
        if (closed) return;
        onChange(material);
        logger.info({ certFile: files.certFile }, 'TLS certificate reloaded');
      },
      (err: unknown) =>
        logger.error(
          { err, certFile: files.certFile },
          'TLS files changed but are not usable; keeping the current certificate',
        ),
    );
  };
  const watchers: FSWatcher[] = [...dirs].map((dir) =>
    watch(dir, { persistent: false }, () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(reload, debounceMs);
    }),
  );
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}

/** Server options for an https/tls server (fastify's `https` option) from the material. */
export function secureServerOptions(material: TlsMaterial): {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  requestCert: boolean;
  rejectUnauthorized: boolean;
  minVersion: 'TLSv1.2';
} {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca ? { ca: material.ca } : {}),
    requestCert: material.ca !== undefined,
    rejectUnauthorized: material.ca !== undefined,
    minVersion: 'TLSv1.2',
  };
}

/**
 * Keeps a listening https/tls server's certificate current: new connections
 * get the reloaded certificate (server.setSecureContext), open ones keep
 * theirs until they close.
 */
export function reloadServerCertificate(
  server: { setSecureContext(options: TlsMaterial): void },
  files: TlsFiles,
  logger: Logger,
  options: { debounceMs?: number } = {},
): TlsWatch {
  return watchTlsFiles(files, (material) => server.setSecureContext(material), logger, options);
}
