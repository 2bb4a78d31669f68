import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { Sample } from '../../model/telemetry.js';
import { dcgmClockEventFields, metricSpecs, type MetricSpec } from './fields.js';
import { clockReasonSamples, specSample } from './samples.js';
import { parseNumber } from './values.js';

export const defaultDcgmUrl = 'http://127.0.0.1:9400/metrics';

/** One GPU or MIG instance seen in a dcgm-exporter scrape. */
export interface DcgmEntity {
  readonly entity: string;
  readonly uuid: string;
  readonly gpu?: string;
  readonly model?: string;
  readonly migInstance?: string;
  readonly migProfile?: string;
}

export interface DcgmXid {
  readonly uuid: string;
  readonly entity: string;
  /** Last Xid DCGM saw (0: none since the exporter started). */
  readonly xid: number;
  readonly message?: string;
}

export interface DcgmSample {
  readonly sample: Sample;
  /** True when nvidia-smi can also read this metric for a whole GPU. */
  readonly smiHasIt: boolean;
  readonly mig: boolean;
}

export interface DcgmScrape {
  readonly samples: readonly DcgmSample[];
  readonly entities: readonly DcgmEntity[];
  readonly xids: readonly DcgmXid[];
  /** Families with no mapping of ours (kept for `collect --once` diagnostics). */
  readonly unmapped: readonly string[];
}

const byDcgm = new Map<string, MetricSpec>();
for (const spec of metricSpecs) if (spec.dcgm) byDcgm.set(spec.dcgm, spec);

function entityOf(labels: Readonly<Record<string, string>>): DcgmEntity | undefined {
  // dcgm-exporter spells the UUID label `UUID` (and `uuid` in some configs).
  const uuid = labels['UUID'] ?? labels['uuid'];
  if (!uuid) return undefined;
  const mig = labels['GPU_I_ID'];
  return {
    entity: mig ? `${uuid}/gi${mig}` : uuid,
    uuid,
    ...(labels['gpu'] ? { gpu: labels['gpu'] } : {}),
    ...(labels['modelName'] ? { model: labels['modelName'] } : {}),
    ...(mig ? { migInstance: mig } : {}),
    ...(labels['GPU_I_PROFILE'] ? { migProfile: labels['GPU_I_PROFILE'] } : {}),
  };
}

/** Our labels for a DCGM entity: gpu index, uuid, model, MIG instance and profile. */
export function dcgmLabels(e: DcgmEntity): Record<string, string> {
  const labels: Record<string, string> = { uuid: e.uuid };
  if (e.gpu !== undefined) labels['gpu'] = e.gpu;
  if (e.model !== undefined) labels['model'] = e.model;
  if (e.migInstance !== undefined) labels['mig_instance'] = e.migInstance;
  if (e.migProfile !== undefined) labels['mig_profile'] = e.migProfile;
  return labels;
}

/**
 * Maps a dcgm-exporter `/metrics` page to our metrics. Series without a GPU
 * UUID label, values that are absent or non-finite, and families we do not
 * map produce nothing. Throws when the text is not the Prometheus format.
 */
export function parseDcgmScrape(text: string, timestampMs: number): DcgmScrape {
  let families;
  try {
    // `# HELP name` with no text is valid exposition (dcgm-exporter prints it for fields without a
    // description) but the parser rejects it; HELP carries nothing we use, so such lines are dropped.
    families = parsePrometheusTextFormat(text.replace(/^# HELP \S+[ \t]*$/gm, ''));
  } catch (error) {
    throw new Error(
      `dcgm-exporter answered with text that is not the Prometheus format: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const samples: DcgmSample[] = [];
  const entities = new Map<string, DcgmEntity>();
  const xids: DcgmXid[] = [];
  const unmapped: string[] = [];
  for (const family of families) {
    const spec = byDcgm.get(family.name);
    const isClock = (dcgmClockEventFields as readonly string[]).includes(family.name);
    const isXid = family.name === 'DCGM_FI_DEV_XID_ERRORS';
    if (!spec && !isClock && !isXid) {
      unmapped.push(family.name);
      continue;
    }
    for (const metric of family.metrics) {
      const labels = metric.labels ?? {};
      const e = entityOf(labels);
      if (!e) continue;
      entities.set(e.entity, e);
      const value = parseNumber(metric.value);
      if (value === undefined) continue;
      const ours = dcgmLabels(e);
      const mig = e.migInstance !== undefined;
      if (isXid) {
        const message = labels['err_msg'];
        xids.push({ uuid: e.uuid, entity: e.entity, xid: value, ...(message ? { message } : {}) });
      } else if (isClock) {
        if (!Number.isInteger(value) || value < 0) continue;
        for (const s of clockReasonSamples(BigInt(value), e.entity, ours, timestampMs))
          samples.push({ sample: s, smiHasIt: true, mig });
      } else if (spec) {
        for (const s of specSample(spec, value, spec.dcgmScale ?? 1, e.entity, ours, timestampMs))
          samples.push({ sample: s, smiHasIt: spec.smi.length > 0, mig });
      }
    }
  }
  return { samples, entities: [...entities.values()], xids, unmapped };
}

/**
 * Fetches the exporter's page with a deadline and a size bound. Rejects when
 * the exporter is unreachable, slow, or answers non-200.
 */
export async function scrapeDcgm(
  url: string,
  options: { timeoutMs: number; maxBytes: number; signal?: AbortSignal },
): Promise<string> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const response = await fetch(url, { signal, headers: { accept: 'text/plain;version=0.0.4' } });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`dcgm-exporter ${url} answered HTTP ${response.status}`);
  }
  const length = Number(response.headers.get('content-length') ?? '0');
  if (length > options.maxBytes) {
    await response.body?.cancel();
    throw new Error(`dcgm-exporter page is ${length} bytes, over the ${options.maxBytes}-byte bound`);
  }
  const text = await response.text();
  if (Buffer.byteLength(text) > options.maxBytes)
    throw new Error(`dcgm-exporter page is over the ${options.maxBytes}-byte bound`);
  return text;
}
