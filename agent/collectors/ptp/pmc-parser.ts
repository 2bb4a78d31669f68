/**
 * Parser for the text that linuxptp's `pmc` prints. pmc exits 0 whether or not
 * anything answered, so the only proof of an answer is a `RESPONSE MANAGEMENT`
 * block:
 *
 *     sending: GET PORT_DATA_SET
 *     \t22ea84.fffe.de1148-1 seq 0 RESPONSE MANAGEMENT PORT_DATA_SET
 *     \t\tportIdentity            22ea84.fffe.de1148-1
 *     \t\tportState               SLAVE
 *
 * Port-level ids (PORT_DATA_SET, PORT_STATS_NP, ...) get one block per port;
 * clock-level ids one block. Error replies read
 * `... RESPONSE MANAGEMENT_ERROR_STATUS <ID>` followed by an error text.
 */

export interface PmcResponse {
  /** Management id, e.g. `PORT_DATA_SET`. */
  readonly id: string;
  /** Source port identity of the reply, e.g. `22ea84.fffe.de1148-1`. */
  readonly portIdentity: string;
  readonly seq: number;
  /** Field name -> raw text value, as printed. */
  readonly fields: Readonly<Record<string, string>>;
}

export interface PmcError {
  readonly id: string;
  readonly portIdentity: string;
  readonly message: string;
}

export interface PmcOutput {
  readonly responses: PmcResponse[];
  readonly errors: PmcError[];
  /** Commands pmc itself rejected (`bad command: ...`, `sorry, X not supported yet`). */
  readonly rejected: string[];
}

const headerRe = /^\s*(\S+)\s+seq\s+(\d+)\s+RESPONSE\s+MANAGEMENT(_ERROR_STATUS)?\s+(\S+)\s*$/;

export function parsePmcOutput(text: string): PmcOutput {
  const responses: PmcResponse[] = [];
  const errors: PmcError[] = [];
  const rejected: string[] = [];
  let current: { id: string; portIdentity: string; seq: number; fields: Record<string, string> } | undefined;
  let currentError: { id: string; portIdentity: string; lines: string[] } | undefined;

  const flush = (): void => {
    if (current) responses.push(current);
    if (currentError) {
      errors.push({
        id: currentError.id,
        portIdentity: currentError.portIdentity,
        message: currentError.lines.join(' ').trim(),
      });
    }
    current = undefined;
    currentError = undefined;
  };

  for (const line of text.split('\n')) {
    const header = headerRe.exec(line);
    if (header) {
      flush();
      const [, portIdentity = '', seq = '0', isError, id = ''] = header;
      if (isError) currentError = { id, portIdentity, lines: [] };
      else current = { id, portIdentity, seq: Number(seq), fields: {} };
      continue;
    }
    if (line.startsWith('bad command:') || line.startsWith('sorry,')) {
      flush();
      rejected.push(line.trim());
      continue;
    }
    // Field lines are indented by two tabs; anything else ends the block.
    if (/^\t\t|^ {8,}/.test(line) && (current || currentError)) {
      const trimmed = line.trim();
      if (currentError) {
        currentError.lines.push(trimmed);
        continue;
      }
      const space = trimmed.search(/\s/);
      if (space > 0 && current) current.fields[trimmed.slice(0, space)] = trimmed.slice(space).trim();
      continue;
    }
    if (line.trim() !== '') flush();
  }
  flush();
  return { responses, errors, rejected };
}

/** IEEE 1588 portState enumeration (linuxptp adds GRAND_MASTER and PASSIVE_SLAVE). */
export const portStateCodes: Readonly<Record<string, number>> = {
  INITIALIZING: 1,
  FAULTY: 2,
  DISABLED: 3,
  LISTENING: 4,
  PRE_MASTER: 5,
  MASTER: 6,
  PASSIVE: 7,
  UNCALIBRATED: 8,
  SLAVE: 9,
  GRAND_MASTER: 10,
  PASSIVE_SLAVE: 11,
};

/** A decimal or hex (`0xfe`) integer, or a float such as `-255.0`; undefined when absent or unparsable. */
export function pmcNumber(fields: Readonly<Record<string, string>>, name: string): number | undefined {
  const raw = fields[name];
  if (raw === undefined) return undefined;
  const text = raw.trim();
  const value = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text, 16) : Number(text);
  return Number.isFinite(value) && text !== '' ? value : undefined;
}

/** pmc prints booleans as `true`/`false` or `1`/`0`. */
export function pmcBool(fields: Readonly<Record<string, string>>, name: string): boolean | undefined {
  const raw = fields[name]?.trim();
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  return undefined;
}
