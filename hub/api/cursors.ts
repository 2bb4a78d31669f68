import { InputError } from '../errors.js';
import type { EventPosition } from '../store/store.js';

/**
 * Opaque page cursors for every paged list: events, series, the fleet views,
 * agents and the audit log. A cursor is the keyset position of the last row
 * of a page (base64url JSON, versioned and tagged with the list it belongs
 * to), so the next page is read after that position: rows inserted meanwhile
 * never shift or repeat what is left, unlike an offset. Clients must treat
 * cursors as opaque; a cursor of another list or a hand-made one is refused
 * with 400 (a position from one list means nothing in another's order).
 */

interface EventCursor {
  readonly v: 1;
  readonly list: 'events';
  readonly order: 'asc' | 'desc';
  readonly timeUs: string;
  readonly id: string;
}

interface SeriesCursor {
  readonly v: 1;
  readonly list: 'series';
  readonly id: number;
}

/** Lists ordered by an (cluster, node, entity or agent id) key, computed in the hub. */
export type KeyedList = 'fleet/gpus' | 'fleet/ptp' | 'fleet/sriov' | 'fleet/nodes' | 'agents';

interface KeyCursor {
  readonly v: 1;
  readonly list: KeyedList;
  readonly key: readonly [string, string, string];
}

interface AuditCursor {
  readonly v: 1;
  readonly list: 'audit';
  readonly id: number;
}

function encode(value: EventCursor | SeriesCursor | KeyCursor | AuditCursor): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decode(cursor: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new InputError('cursor: not a cursor returned by this API');
}

export function encodeEventCursor(order: 'asc' | 'desc', position: EventPosition): string {
  return encode({ v: 1, list: 'events', order, timeUs: position.timeUs, id: position.id });
}

export function decodeEventCursor(cursor: string): { order: 'asc' | 'desc'; position: EventPosition } {
  const c = decode(cursor);
  if (
    c.v !== 1 ||
    c.list !== 'events' ||
    (c.order !== 'asc' && c.order !== 'desc') ||
    typeof c.timeUs !== 'string' ||
    !/^-?\d{1,20}$/.test(c.timeUs) ||
    typeof c.id !== 'string' ||
    !/^\d{1,19}$/.test(c.id)
  ) {
    throw new InputError('cursor: not an events cursor returned by this API');
  }
  return { order: c.order, position: { timeUs: c.timeUs, id: c.id } };
}

export function encodeSeriesCursor(id: number): string {
  return encode({ v: 1, list: 'series', id });
}

export function decodeSeriesCursor(cursor: string): number {
  const c = decode(cursor);
  if (
    c.v !== 1 ||
    c.list !== 'series' ||
    typeof c.id !== 'number' ||
    !Number.isSafeInteger(c.id) ||
    c.id < 0
  ) {
    throw new InputError('cursor: not a series cursor returned by this API');
  }
  return c.id;
}

/** Keys are at most three names; longer strings are no key this API returned. */
const MAX_KEY_PART = 512;

export function encodeKeyCursor(list: KeyedList, key: readonly [string, string, string]): string {
  return encode({ v: 1, list, key: [key[0], key[1], key[2]] });
}

export function decodeKeyCursor(list: KeyedList, cursor: string): readonly [string, string, string] {
  const c = decode(cursor);
  const key = c.key;
  if (
    c.v !== 1 ||
    c.list !== list ||
    !Array.isArray(key) ||
    key.length !== 3 ||
    !key.every((part) => typeof part === 'string' && part.length <= MAX_KEY_PART)
  ) {
    throw new InputError(`cursor: not a ${list} cursor returned by this API`);
  }
  return [key[0] as string, key[1] as string, key[2] as string];
}

export function encodeAuditCursor(id: number): string {
  return encode({ v: 1, list: 'audit', id });
}

export function decodeAuditCursor(cursor: string): number {
  const c = decode(cursor);
  if (
    c.v !== 1 ||
    c.list !== 'audit' ||
    typeof c.id !== 'number' ||
    !Number.isSafeInteger(c.id) ||
    c.id < 1
  ) {
    throw new InputError('cursor: not an audit cursor returned by this API');
  }
  return c.id;
}
