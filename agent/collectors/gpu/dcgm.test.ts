import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDcgmScrape } from './dcgm.js';

const read = (f: string): string =>
  readFileSync(new URL(`../../../test/fixtures/gpu/dcgm/${f}`, import.meta.url), 'utf8');

describe('dcgm-exporter scrape', () => {
  it('maps whole-GPU and per-MIG-instance series (A100 with a 1g.5gb instance)', () => {
    const scrape = parseDcgmScrape(read('dcgm-exporter-metrics__a100-mig-1g.5gb__nvidia-docs.prom'), 5);
    const uuid = 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660';
    expect(scrape.entities.map((e) => e.entity).sort()).toEqual([uuid, `${uuid}/gi13`]);
    const mig = scrape.samples.filter((s) => s.mig).map((s) => s.sample);
    expect(mig.length).toBeGreaterThan(0);
    const engine = mig.find((s) => s.series.metric === 'gpu_graphics_engine_active_ratio');
    expect(engine?.series.labels).toMatchObject({
      uuid,
      gpu: '0',
      mig_instance: '13',
      mig_profile: '1g.5gb',
    });
    const power = scrape.samples.find((s) => s.sample.series.metric === 'gpu_power_draw_watts' && !s.mig);
    expect(power?.sample.value).toBe(409.692);
    expect(power?.smiHasIt).toBe(true);
    const energy = scrape.samples.find((s) => s.sample.series.metric === 'gpu_energy_joules_total' && !s.mig);
    expect(energy?.sample.series.kind).toBe('counter');
    expect(scrape.xids.every((x) => x.xid === 0)).toBe(true);
  });

  it('maps every family it knows from the Datadog T4/A10G fixture and lists the rest as unmapped', () => {
    const text = read('dcgm-exporter-metrics__tesla-t4-plus-a10g__datadog-fixture.prom');
    const scrape = parseDcgmScrape(text, 5);
    expect(scrape.samples.length).toBeGreaterThan(20);
    for (const s of scrape.samples) expect(Number.isFinite(s.sample.value)).toBe(true);
    expect(scrape.unmapped).toContain('DCGM_FI_DEV_VGPU_LICENSE_STATUS');
    // The clock-event bitmask becomes nine 0/1 series per GPU.
    const reasons = scrape.samples.filter((s) => s.sample.series.metric === 'gpu_clock_event_reason_active');
    expect(reasons.length % 9).toBe(0);
    expect(reasons.length).toBeGreaterThan(0);
    // FB_USED is in MiB: base unit bytes.
    const used = scrape.samples.find((s) => s.sample.series.metric === 'gpu_memory_used_bytes');
    expect((used?.sample.value ?? 0) % (1024 * 1024)).toBe(0);
  });

  it('rejects a page that is not the Prometheus text format', () => {
    expect(() => parseDcgmScrape('DCGM_FI_DEV_GPU_TEMP{gpu="0" 42\n', 1)).toThrow(
      /not the Prometheus format/,
    );
  });

  it('emits nothing for series without a GPU UUID or with a non-numeric value', () => {
    const scrape = parseDcgmScrape(
      'DCGM_FI_DEV_GPU_TEMP{gpu="0"} 42\nDCGM_FI_DEV_GPU_TEMP{gpu="1",UUID="GPU-11111111-2222"} NaN\n',
      1,
    );
    expect(scrape.samples).toEqual([]);
  });
});
