import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseListGpus, parseNvidiaSmiXml } from './xml-inventory.js';

const dir = new URL('../../../test/fixtures/gpu/xml/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.xml'));
const read = (f: string): string => readFileSync(new URL(f, dir), 'utf8');

describe('nvidia-smi -q -x', () => {
  it.each(files)('parses every GPU with only values that are in the file: %s', (file) => {
    const xml = read(file);
    const log = parseNvidiaSmiXml(xml);
    expect(log.gpus.length).toBe((xml.match(/<gpu id=/g) ?? []).length);
    for (const gpu of log.gpus) {
      expect(gpu.uuid).toMatch(/^GPU-/);
      expect(xml).toContain(`<uuid>${gpu.uuid}</uuid>`);
      expect(gpu.attributes['model']).toBeTruthy();
      for (const r of gpu.readings) {
        expect(xml, `${r.metric} from ${JSON.stringify(r.raw)}`).toMatch(
          new RegExp(`>\\s*${r.raw.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*<`),
        );
        expect(Number.isFinite(r.value)).toBe(true);
      }
      for (const [, v] of Object.entries(gpu.attributes))
        expect(v).not.toMatch(/^(N\/A|\[N\/A\]|\[Not Supported\])$/);
      // MIG devices: their own readings, each printed inside that device's <mig_device> element.
      const migElements = [...xml.matchAll(/<mig_device>[\s\S]*?<\/mig_device>/g)].map((m) => m[0]);
      for (const mig of gpu.migDevices) {
        const element = migElements.find((e) =>
          e.includes(`<gpu_instance_id>${mig.gpuInstanceId}</gpu_instance_id>`),
        );
        expect(element, `mig_device gi ${mig.gpuInstanceId}`).toBeDefined();
        for (const r of mig.readings) {
          expect(element, `${r.metric} from ${JSON.stringify(r.raw)}`).toContain(`>${r.raw}<`);
          expect(Number.isFinite(r.value)).toBe(true);
        }
      }
    }
  });

  it('lists MIG devices as their own entities (A100, 4 MIG devices)', () => {
    const log = parseNvidiaSmiXml(read('telegraf-xml__a100-sxm4-v12.xml'));
    const gpu = log.gpus[0]!;
    expect(gpu.attributes['mig_mode']).toBe('Enabled');
    expect(gpu.migDevices.map((m) => [m.index, m.gpuInstanceId, m.computeInstanceId])).toEqual([
      ['0', '3', '0'],
      ['1', '4', '0'],
      ['2', '5', '0'],
      ['3', '6', '0'],
    ]);
    expect(gpu.migDevices[0]!.attributes['multiprocessor_count']).toBe('14');
    expect(gpu.migDevices[0]!.readings.find((r) => r.metric === 'gpu_memory_used_bytes')?.value).toBe(
      12 * 1024 * 1024,
    );
    // Each MIG device's frame buffer: total, reserved, used, free as printed (BAR1 is shared by the GPU).
    expect(gpu.migDevices[0]!.readings.map((r) => [r.metric, r.raw])).toEqual([
      ['gpu_memory_total_bytes', '19968 MiB'],
      ['gpu_memory_used_bytes', '12 MiB'],
      ['gpu_memory_free_bytes', '19955 MiB'],
      ['gpu_memory_reserved_bytes', '0 MiB'],
    ]);
    expect(gpu.persistenceOff).toBe(true);
  });

  it('leaves the compute instance id out when -q -x does not print it', () => {
    const xml = read('telegraf-xml__a100-sxm4-v12.xml').replace(
      /<compute_instance_id>0<\/compute_instance_id>/,
      '',
    );
    const migs = parseNvidiaSmiXml(xml).gpus[0]!.migDevices;
    expect(migs).toHaveLength(4);
    expect(migs[0]).not.toHaveProperty('computeInstanceId');
    expect(migs[1]?.computeInstanceId).toBe('0');
  });

  it('reads both power layouts: power_readings (pre-R535) and gpu_power_readings with only average/instant (R570+)', () => {
    const old = parseNvidiaSmiXml(read('telegraf-xml__quadro-p2000-v12.xml')).gpus[0]!;
    expect(old.readings.find((r) => r.metric === 'gpu_power_draw_watts')?.raw).toBe('4.61 W');
    const r570 = parseNvidiaSmiXml(read('telegraf-xml__rtx-3060-v12.xml')).gpus[0]!;
    expect(r570.readings.find((r) => r.metric === 'gpu_power_draw_watts')?.value).toBe(11.6);
    expect(r570.readings.find((r) => r.metric === 'gpu_power_draw_instant_watts')?.value).toBe(11.63);
    expect(r570.readings.find((r) => r.metric === 'gpu_power_limit_watts')?.value).toBe(170);
  });

  it('reports absent fields as absent: power N/A on a Quadro P400 gives no power reading', () => {
    const gpu = parseNvidiaSmiXml(read('telegraf-xml__quadro-p400.xml')).gpus[0]!;
    expect(gpu.readings.filter((r) => r.metric.startsWith('gpu_power'))).toEqual([]);
    expect(gpu.readings.find((r) => r.metric === 'gpu_sm_clock_hz')?.value).toBe(139e6);
  });

  it('decomposes clock-event reasons and reads their time counters (R535+ layout)', () => {
    const gpu = parseNvidiaSmiXml(read('telegraf-xml__dual_a5000-v13.xml')).gpus[0]!;
    const active = gpu.readings.filter((r) => r.metric === 'gpu_clock_event_reason_active');
    expect(active.length).toBeGreaterThanOrEqual(8);
    const swPower = gpu.readings.find(
      (r) => r.metric === 'gpu_clock_event_reason_seconds_total' && r.labels?.['reason'] === 'sw_power_cap',
    );
    expect(swPower?.value).toBeCloseTo(31637354094e-6, 3);
    const old = parseNvidiaSmiXml(read('telegraf-xml__quadro-p2000-v12.xml')).gpus[0]!;
    expect(
      old.readings.filter((r) => r.metric === 'gpu_clock_event_reason_active').length,
    ).toBeGreaterThanOrEqual(8);
  });

  it('rejects text that is not an nvidia-smi log with a clear error', () => {
    expect(() => parseNvidiaSmiXml('<html><body>oops</body></html>')).toThrow(/not an nvidia-smi XML log/);
    expect(parseNvidiaSmiXml('<nvidia_smi_log></nvidia_smi_log>').gpus).toEqual([]);
  });

  it('maps MIG device UUIDs from nvidia-smi -L (H100 MIG capture)', () => {
    const text = readFileSync(
      new URL(
        '../../../test/fixtures/gpu/captures/nvge-capture__linux-x86_64__nvidia-h100-mig__590.48.01.txt',
        import.meta.url,
      ),
      'utf8',
    );
    const listed = parseListGpus(text.slice(text.indexOf('# $ nvidia-smi -L')));
    expect(listed.slice(0, 4)).toEqual([
      {
        gpuUuid: 'GPU-00000000-0000-0000-0000-000000000000',
        index: '0',
        uuid: 'MIG-00000000-0000-0000-0000-000000000000',
        profile: '3g.40gb',
      },
      {
        gpuUuid: 'GPU-00000000-0000-0000-0000-000000000000',
        index: '1',
        uuid: 'MIG-00000001-0000-0000-0000-000000000001',
        profile: '2g.20gb',
      },
      {
        gpuUuid: 'GPU-00000000-0000-0000-0000-000000000000',
        index: '2',
        uuid: 'MIG-00000002-0000-0000-0000-000000000002',
        profile: '1g.10gb',
      },
      {
        gpuUuid: 'GPU-00000000-0000-0000-0000-000000000000',
        index: '3',
        uuid: 'MIG-00000003-0000-0000-0000-000000000003',
        profile: '1g.10gb',
      },
    ]);
  });
});
