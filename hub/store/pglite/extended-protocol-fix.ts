/**
 * Works around a PGlite wire-protocol bug (electric-sql/pglite#958): when an
 * extended-protocol message (Parse, Bind, Execute, ...) fails, PGlite answers
 * ErrorResponse *and* ReadyForQuery at once, then runs the following Bind /
 * Execute as if nothing happened. PostgreSQL instead discards messages until
 * Sync and sends a single ReadyForQuery there. node-postgres, seeing two
 * ReadyForQuery, drops the connection. This wrapper restores the PostgreSQL
 * behaviour in front of PGlite: after an error it strips the premature
 * ReadyForQuery and swallows messages until Sync. It assumes one client
 * active connection at a time (the hub's pool to PGlite has max: 1).
 */

type RawStream = (
  message: Uint8Array,
  options: { onRawData?: (data: Uint8Array) => void },
) => Promise<unknown>;

const EXTENDED = new Set(['P', 'B', 'D', 'E', 'C', 'H'].map((c) => c.charCodeAt(0)));
const SYNC = 'S'.charCodeAt(0);
const ERROR_RESPONSE = 'E'.charCodeAt(0);
const READY_FOR_QUERY = 'Z'.charCodeAt(0);

export function fixExtendedProtocolErrors(db: { execProtocolRawStream: RawStream }): void {
  const original = db.execProtocolRawStream.bind(db);
  let skippingUntilSync = false;
  db.execProtocolRawStream = async (message, options) => {
    const type = message[0] as number;
    if (type === SYNC) {
      skippingUntilSync = false;
      return original(message, options);
    }
    if (!EXTENDED.has(type)) return original(message, options);
    if (skippingUntilSync) return undefined;
    const chunks: Uint8Array[] = [];
    // Copy each chunk: PGlite hands out views of its WASM memory that the
    // next chunk overwrites.
    const result = await original(message, { ...options, onRawData: (d) => chunks.push(Buffer.from(d)) });
    const { bytes, sawError } = dropReadyAfterError(Buffer.concat(chunks));
    if (sawError) skippingUntilSync = true;
    if (bytes.length > 0) options.onRawData?.(bytes);
    return result;
  };
}

/** Backend messages of one reply, without ReadyForQuery once an ErrorResponse was seen. */
export function dropReadyAfterError(reply: Buffer): { bytes: Buffer; sawError: boolean } {
  const keep: Buffer[] = [];
  let sawError = false;
  let o = 0;
  while (o + 5 <= reply.length) {
    const type = reply[o] as number;
    const end = o + 1 + reply.readInt32BE(o + 1);
    if (type === ERROR_RESPONSE) sawError = true;
    if (!(sawError && type === READY_FOR_QUERY)) keep.push(reply.subarray(o, end));
    o = end;
  }
  if (o < reply.length) keep.push(reply.subarray(o));
  return { bytes: Buffer.concat(keep), sawError };
}
