/** One NVLink of one GPU as `nvidia-smi nvlink -s` prints it. */
export interface NvlinkStatus {
  readonly gpuUuid: string;
  readonly link: string;
  readonly up: boolean;
  /** Per-direction link speed in bytes/s (nvidia-smi prints GB/s, decimal); absent when inactive. */
  readonly speedBytesPerSecond?: number;
}

/**
 * Parses `nvidia-smi nvlink -s`: a `GPU n: <name> (UUID: GPU-…)` line per GPU,
 * then `Link k: 25.781 GB/s` or `Link k: <inactive>` per link. A GPU without
 * NVLink lists no links (or a message), which yields nothing for it.
 */
export function parseNvlinkStatus(text: string): NvlinkStatus[] {
  const out: NvlinkStatus[] = [];
  let gpu: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const header = gpuHeaderUuid(line);
    if (header) {
      gpu = header;
      continue;
    }
    const l = /^\s+Link (\d+): (.+?)\s*$/.exec(line);
    if (!l?.[1] || !l[2] || !gpu) continue;
    const speed = /^([\d.]+) GB\/s$/.exec(l[2]);
    if (speed?.[1])
      out.push({ gpuUuid: gpu, link: l[1], up: true, speedBytesPerSecond: Number(speed[1]) * 1e9 });
    else if (/inactive/i.test(l[2])) out.push({ gpuUuid: gpu, link: l[1], up: false });
  }
  return out;
}

/**
 * The UUID of a `GPU <n>: <name> (UUID: GPU-…)` header line, as `nvidia-smi -L`
 * and `nvidia-smi nvlink -s` print before each GPU's own lines.
 */
export function gpuHeaderUuid(line: string): string | undefined {
  return /^GPU \d+: .*\(UUID: (GPU-[0-9a-fA-F-]+)\)/.exec(line)?.[1];
}
