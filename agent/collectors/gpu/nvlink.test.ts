import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseNvlinkStatus } from './nvlink.js';

const read = (f: string): string =>
  readFileSync(new URL(`../../../test/fixtures/gpu/nvlink/${f}`, import.meta.url), 'utf8');

describe('nvidia-smi nvlink -s', () => {
  it('reads 8 A100s with 12 active links each at 25 GB/s', () => {
    const links = parseNvlinkStatus(read('gpud-nvidia-smi-nvlink-status__8x-a100-sxm4-80gb.txt'));
    expect(links).toHaveLength(96);
    expect(new Set(links.map((l) => l.gpuUuid)).size).toBe(8);
    expect(links.every((l) => l.up && l.speedBytesPerSecond === 25e9)).toBe(true);
  });

  it('reports inactive links as down, with no invented speed (V100s with links down)', () => {
    const links = parseNvlinkStatus(read('azhpc-nvidia-smi-nvlink-status__v100-sxm2-link-down.txt'));
    const gpu3 = links.filter((l) => l.gpuUuid === 'GPU-50b1bd2e-77ee-2731-fd2f-17c44103b7b9');
    expect(gpu3.map((l) => [l.link, l.up])).toEqual([
      ['0', true],
      ['1', true],
      ['2', true],
      ['3', false],
      ['4', true],
      ['5', false],
    ]);
    expect(gpu3[3]).not.toHaveProperty('speedBytesPerSecond');
    expect(gpu3[0]?.speedBytesPerSecond).toBeCloseTo(25.781e9, 0);
  });

  it('yields nothing for text without links', () => {
    expect(
      parseNvlinkStatus(
        'GPU 0: NVIDIA GeForce RTX 4080 SUPER (UUID: GPU-00000000-0000-0000-0000-000000000000)\n',
      ),
    ).toEqual([]);
  });
});
