import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePmcOutput, type PmcError, type PmcResponse } from './pmc-parser.js';

/** The management ids the collector reads from every ptp4l instance. */
export const pmcQueries = [
  'DEFAULT_DATA_SET',
  'CURRENT_DATA_SET',
  'PARENT_DATA_SET',
  'TIME_PROPERTIES_DATA_SET',
  'TIME_STATUS_NP',
  'PORT_DATA_SET',
  'PORT_PROPERTIES_NP',
  'PORT_STATS_NP',
] as const;

export interface PmcClientOptions {
  /** Absolute path of the pmc executable; run directly, never through a shell. */
  readonly pmcPath: string;
  /** Where pmc binds its own socket; '' = pmc's default /var/run/pmc.<pid>. */
  readonly clientDir: string;
  readonly timeoutMs: number;
  /** Extra runs for the ids that got no answer in the first run. */
  readonly retries: number;
}

export interface PmcResult {
  /** Every response block, all runs together, keyed by management id. */
  readonly responses: ReadonlyMap<string, PmcResponse[]>;
  readonly errors: PmcError[];
  /** Ids that never got a RESPONSE MANAGEMENT block. */
  readonly missing: string[];
  /** How many pmc processes were run. */
  readonly runs: number;
}

/** Runs `pmc -u -b 0 -s <uds> 'GET X' ...` (several GETs per process) and retries what is missing. */
export class PmcClient {
  private runCounter = 0;

  constructor(private readonly options: PmcClientOptions) {}

  async query(udsPath: string, ids: readonly string[], signal: AbortSignal): Promise<PmcResult> {
    const responses = new Map<string, PmcResponse[]>();
    const errors: PmcError[] = [];
    let missing = [...ids];
    let runs = 0;
    for (let attempt = 0; attempt <= this.options.retries && missing.length > 0; attempt++) {
      signal.throwIfAborted();
      runs++;
      const stdout = await this.run(udsPath, missing, signal);
      const parsed = parsePmcOutput(stdout);
      for (const response of parsed.responses) {
        const list = responses.get(response.id) ?? [];
        list.push(response);
        responses.set(response.id, list);
      }
      errors.push(...parsed.errors);
      const answered = new Set([...parsed.responses.map((r) => r.id), ...parsed.errors.map((e) => e.id)]);
      missing = missing.filter((id) => !answered.has(id) && !responses.has(id));
    }
    return { responses, errors, missing, runs };
  }

  private async run(udsPath: string, ids: readonly string[], signal: AbortSignal): Promise<string> {
    const clientSocket = this.options.clientDir
      ? join(this.options.clientDir, `aiops-pmc.${process.pid}.${this.runCounter++}`)
      : undefined;
    const args = [
      '-u',
      '-b',
      '0',
      '-s',
      udsPath,
      ...(clientSocket ? ['-i', clientSocket] : []),
      ...ids.map((id) => `GET ${id}`),
    ];
    try {
      return await this.exec(args, udsPath, signal);
    } finally {
      if (clientSocket) await rm(clientSocket, { force: true });
    }
  }

  private exec(args: string[], udsPath: string, signal: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        this.options.pmcPath,
        args,
        { timeout: this.options.timeoutMs, signal, maxBuffer: 1024 * 1024, encoding: 'utf8' },
        (error, stdout) => {
          // pmc exits 0 when nobody answered; a non-zero exit or a kill is a real failure.
          if (error) reject(new Error(`pmc failed for ${udsPath}: ${error.message}`, { cause: error }));
          else resolve(stdout);
        },
      );
    });
  }
}
