/**
 * How nvidia-smi and NVML spell "no value". Any of these (or an empty cell)
 * means the sample is absent: we emit nothing, never a zero.
 */
const absentSpellings = new Set([
  '',
  'n/a',
  '[n/a]',
  '[not supported]',
  'not supported',
  '[insufficient permissions]',
  '[unknown error]',
  '[requested functionality has been deprecated]',
  '[function not found]',
  '[gpu lost]',
  '[gpu requires reset]',
  'unknown error',
]);

export function isAbsent(raw: string | undefined | null): boolean {
  if (raw === undefined || raw === null) return true;
  return absentSpellings.has(raw.trim().toLowerCase());
}

// `--format=csv,nounits` prints bare numbers; the XML and unit-ful CSV print
// "71.15 W", "81559 MiB", "345 MHz", "42 C", "100.00 %", "0 us". The unit is
// accepted and dropped here; the caller knows the field's unit and scales.
const numberWithUnit =
  /^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:W|mW|MiB|KiB|GiB|MHz|%|us|C|J|mJ|GB\/s|KB\/s)?$/;

/** A finite number, or undefined when the cell is absent or not a number (never 0 for "no value"). */
export function parseNumber(raw: string | undefined | null): number | undefined {
  if (isAbsent(raw)) return undefined;
  const text = (raw as string).trim();
  if (/^0x[0-9a-f]+$/i.test(text)) {
    const value = Number.parseInt(text, 16);
    return Number.isFinite(value) ? value : undefined;
  }
  const match = numberWithUnit.exec(text);
  if (!match?.[1]) return undefined;
  const value = Number(match[1]);
  return Number.isFinite(value) ? value : undefined;
}

/** `P0`..`P15` → 0..15 (P-state; lower is faster). */
export function parsePstate(raw: string | undefined | null): number | undefined {
  if (isAbsent(raw)) return undefined;
  const match = /^P(\d{1,2})$/i.exec((raw as string).trim());
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Yes/No, Enabled/Disabled, Active/Not Active → 1/0; anything else is absent. */
export function parseFlag(raw: string | undefined | null): number | undefined {
  if (isAbsent(raw)) return undefined;
  switch ((raw as string).trim().toLowerCase()) {
    case 'yes':
    case 'enabled':
    case 'active':
    case 'on':
      return 1;
    case 'no':
    case 'disabled':
    case 'not active':
    case 'off':
      return 0;
    default:
      return undefined;
  }
}

/** A 64-bit hex bitmask as printed by nvidia-smi (`0x00000000000001FF`) as a bigint, absent otherwise. */
export function parseBitmask(raw: string | undefined | null): bigint | undefined {
  if (isAbsent(raw)) return undefined;
  const text = (raw as string).trim();
  if (!/^0x[0-9a-f]{1,16}$/i.test(text)) return undefined;
  return BigInt(text);
}

/** Trimmed string or undefined when absent, for inventory attributes. */
export function presentText(raw: unknown): string | undefined {
  if (typeof raw === 'number') return String(raw);
  if (typeof raw !== 'string') return undefined;
  return isAbsent(raw) ? undefined : raw.trim();
}
