import { accessSync, constants, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { createPodResourcesClient } from '../../kubelet/pod-resources-client.js';
import type { PodResourcesClient } from '../../kubelet/pod-resources.js';
import type { AgentEvent, Collection, InventoryItem, Sample, Severity } from '../../model/telemetry.js';
import type { Collector, CollectorDeps } from '../collector.js';
import { nvidiaDeviceOwners, type PodLabels } from './attribution.js';
import type { GpuCollectorConfig } from './config.js';
import { parseDcgmScrape, scrapeDcgm, type DcgmEntity, type DcgmScrape } from './dcgm.js';
import { runOnce } from './exec.js';
import { metricSpecs } from './fields.js';
import {
  buildQueryPlan,
  parseHelpQueryGpu,
  parseRow,
  queryArgument,
  type GpuRow,
  type QueryPlan,
} from './query.js';
import { rowSamples, sample, source } from './samples.js';
import { SmiStream } from './smi-stream.js';
import { TransitionTracker } from './transitions.js';
import { parseBitmask, parseNumber } from './values.js';
import { parseNvlinkStatus, type NvlinkStatus } from './nvlink.js';
import { KernelLogReader, normalizePci, parseXidLine, type XidRecord } from './xid.js';
import { parseListGpus, parseNvidiaSmiXml, type GpuInfo, type MigDeviceInfo } from './xml-inventory.js';

interface KnownGpu {
  info?: GpuInfo;
  index?: string;
  model?: string;
  busId?: string;
  missing: number;
}

interface KnownMig {
  readonly entity: string;
  readonly gpuUuid: string;
  readonly info: MigDeviceInfo;
  readonly uuid?: string;
  readonly profile?: string;
}

// Xids that mean the GPU or its memory needs attention now (NVIDIA's Xid catalogue).
const criticalXids = new Set([31, 43, 45, 48, 61, 62, 63, 64, 74, 79, 92, 94, 95, 119, 120, 121, 140]);

/**
 * How long stop() waits for each background nvidia-smi call after aborting it. An aborted call is
 * SIGKILLed, but one stuck in the driver may not exit: shutdown does not wait for it beyond this.
 */
const stopWaitMs = 3_000;

/** Resolves when `promise` settles or `ms` passes, whichever is first; never rejects. */
async function settledWithin(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!promise) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/**
 * Reads NVIDIA GPUs: one long-running nvidia-smi query stream, inventory from
 * `-q -x`/`-L`, the node's dcgm-exporter for what nvidia-smi lacks, Xid lines
 * from the kernel log, and pod attribution from the kubelet. Each part that
 * is missing is reported in the collector's inventory item; with neither
 * nvidia-smi nor DCGM the collector is absent and emits nothing else.
 */
export class GpuCollector implements Collector {
  readonly name = source;
  private readonly logger: Logger;
  private smiAbsentReason: string | undefined = 'not started';
  private plan: QueryPlan | undefined;
  private stream: SmiStream | undefined;
  private rows: { row: GpuRow; receivedMs: number }[] = [];
  private droppedRows = 0;
  private garbageLines = 0;
  private failures: { reason: string; atMs: number }[] = [];
  private readonly gpus = new Map<string, KnownGpu>();
  /** GPUs reported gone from the stream; ignored in -q -x until the stream sees them again. */
  private readonly departed = new Set<string>();
  private migs = new Map<string, KnownMig>();
  /**
   * When the last `-q -x` read that listed MIG devices was parsed: its per-MIG readings (memory) are
   * emitted once, by the next collect, with this timestamp. nvidia-smi's query stream has no per-MIG row.
   */
  private migReadingsAtMs: number | undefined;
  private readonly tracker = new TransitionTracker();
  private inventoryDirty = true;
  private inventoryRefresh: Promise<void> | undefined;
  /** When the last `-q -x` read started, for the periodic re-read. */
  private inventoryReadAtMs = -Infinity;
  /** DCGM's MIG instance entities at the last scrape; a change means a MIG reconfiguration. */
  private dcgmMigKey: string | undefined;
  private inventoryError: string | undefined;
  private lastInventorySentMs = -Infinity;
  private kmsg: KernelLogReader | undefined;
  private kmsgState = 'disabled';
  private startBootUs: number | undefined;
  private bootEpochMs: number | undefined;
  private readonly xidCounts = new Map<
    string,
    { entity: string; labels: Record<string, string>; count: number }
  >();
  private dcgmState = 'disabled';
  private readonly dcgmLastXid = new Map<string, number>();
  private podClient: PodResourcesClient | undefined;
  private owners = new Map<string, PodLabels>();
  private ownersAtMs = -Infinity;
  private attributionState = 'disabled';
  private pendingEvents: AgentEvent[] = [];
  private nvlinkAtMs = -Infinity;
  private nvlinkRead: Promise<void> | undefined;
  private nvlinkFresh: { links: NvlinkStatus[]; atMs: number } | undefined;
  private readonly nvlinkUp = new Map<string, boolean>();
  /** GPUs and MIG instances DCGM reports, for the inventory when nvidia-smi is absent. */
  private dcgmEntities = new Map<string, DcgmEntity>();
  private started = false;
  private stopped = false;
  private probedAtMs = -Infinity;
  private probing: Promise<void> | undefined;
  /** Aborted by stop(): cancels every one-shot nvidia-smi call in flight. */
  private readonly stopController = new AbortController();

  constructor(
    private readonly config: GpuCollectorConfig,
    private readonly deps: CollectorDeps,
  ) {
    this.logger = deps.logger.child({ component: 'collector', collector: source });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.probedAtMs = this.deps.now();
    await this.probeNvidiaSmi();
    this.openKernelLog();
    if (this.config.podResourcesSocket) {
      this.podClient = createPodResourcesClient({
        socketPath: this.config.podResourcesSocket,
        timeoutMs: 2_000,
      });
      this.attributionState = 'pending';
    }
    if (this.config.dcgmUrl) this.dcgmState = 'pending';
  }

  private async probeNvidiaSmi(): Promise<void> {
    const exe = this.config.nvidiaSmiPath;
    try {
      accessSync(exe, constants.X_OK);
    } catch (error) {
      this.smiAbsentReason = `nvidia-smi not executable at ${exe} (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
      this.logger.info({ path: exe }, 'nvidia-smi not found; GPU telemetry only from DCGM if present');
      return;
    }
    try {
      const help = await runOnce(
        exe,
        ['--help-query-gpu'],
        this.config.commandTimeoutMs,
        this.stopController.signal,
      );
      this.plan = buildQueryPlan(parseHelpQueryGpu(help));
    } catch (error) {
      this.smiAbsentReason = (error as Error).message;
      this.logger.warn({ err: error }, 'nvidia-smi cannot list its query fields; treating it as absent');
      return;
    }
    await this.refreshInventory();
    if (
      this.inventoryError &&
      /no devices were found|couldn't communicate with the nvidia driver/i.test(this.inventoryError)
    ) {
      this.smiAbsentReason = this.inventoryError;
      return;
    }
    if (this.stopped) return;
    this.smiAbsentReason = undefined;
    const plan = this.plan;
    this.stream = new SmiStream({
      executable: exe,
      args: [
        queryArgument(plan),
        '--format=csv,noheader,nounits',
        '-lms',
        String(this.config.sampleIntervalMs),
      ],
      intervalMs: this.config.sampleIntervalMs,
      hangTimeoutMs: this.config.hangTimeoutMs,
      hangMarginMs: this.config.hangMarginMs,
      startTimeoutMs: this.config.startTimeoutMs,
      backoffInitialMs: this.config.restartBackoffInitialMs,
      backoffMaxMs: this.config.restartBackoffMaxMs,
      maxGarbageLines: this.config.maxGarbageLines,
      logger: this.logger,
      now: this.deps.now,
      onLine: (line, receivedMs) => this.onLine(line, receivedMs),
      onFailure: (reason) => {
        this.failures.push({ reason, atMs: this.deps.now() });
        if (this.failures.length > 100) this.failures.shift();
        // A GPU falling off the bus usually takes nvidia-smi down with it: look again.
        this.inventoryDirty = true;
      },
    });
    this.stream.start();
  }

  /** While nvidia-smi is absent, looks for it again in the background every `reprobeIntervalMs`. */
  private maybeReprobe(now: number): void {
    if (this.smiAbsentReason === undefined || this.probing || this.stopped) return;
    if (now - this.probedAtMs < this.config.reprobeIntervalMs) return;
    this.probedAtMs = now;
    this.probing = this.probeNvidiaSmi()
      .then(() => {
        if (this.smiAbsentReason === undefined)
          this.logger.info('nvidia-smi is present now; GPU stream started');
      })
      .finally(() => {
        this.probing = undefined;
      });
  }

  private onLine(line: string, receivedMs: number): boolean {
    const result = parseRow(this.plan as QueryPlan, line);
    if (!result.ok) {
      this.garbageLines += 1;
      return false;
    }
    if (this.rows.length >= this.config.maxBufferedRows) {
      this.rows.shift();
      this.droppedRows += 1;
    }
    this.rows.push({ row: result.row, receivedMs });
    return true;
  }

  private openKernelLog(): void {
    if (!this.config.kmsgPath) return;
    try {
      this.kmsg = new KernelLogReader(this.config.kmsgPath);
      this.kmsgState = 'present';
      try {
        const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
        if (Number.isFinite(uptimeS)) {
          this.startBootUs = Math.floor(uptimeS * 1e6);
          this.bootEpochMs = this.deps.now() - uptimeS * 1000;
        }
      } catch {
        // Without /proc/uptime old kmsg records cannot be told apart; they are reported too.
      }
    } catch (error) {
      this.kmsgState = `absent: ${this.config.kmsgPath} not readable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
      this.logger.info({ path: this.config.kmsgPath }, 'kernel log not readable; Xid events only from DCGM');
    }
  }

  /**
   * One one-shot nvidia-smi call beside the stream. It contends with the stream's query for the driver
   * (`-q -x` takes seconds on big servers), so the stream's hang deadline is relaxed while it runs (the
   * adaptive deadline + our longest recent call, at most hangTimeoutMs): a cycle slowed by our own call is
   * not a hang.
   */
  private async smiCall(args: string[]): Promise<string> {
    const release = this.stream?.holdDeadline();
    try {
      return await runOnce(
        this.config.nvidiaSmiPath,
        args,
        this.config.commandTimeoutMs,
        this.stopController.signal,
      );
    } finally {
      release?.();
    }
  }

  /** Reads `-q -x` (and `-L` for MIG UUIDs) and replaces the inventory; never throws. */
  private refreshInventory(): Promise<void> {
    if (this.inventoryRefresh) return this.inventoryRefresh;
    this.inventoryDirty = false;
    this.inventoryReadAtMs = this.deps.now();
    const signal = this.stopController.signal;
    const run = async (): Promise<void> => {
      try {
        const log = parseNvidiaSmiXml(await this.smiCall(['-q', '-x']));
        let listed: ReturnType<typeof parseListGpus> = [];
        if (log.gpus.some((g) => g.migDevices.length > 0)) {
          listed = parseListGpus(await this.smiCall(['-L']).catch(() => ''));
        }
        this.applyInventory(log.gpus, listed);
        this.inventoryError = undefined;
      } catch (error) {
        if (signal.aborted) return; // stopped: not a failure of nvidia-smi
        this.inventoryError = (error as Error).message;
        this.logger.warn(
          { err: error },
          'nvidia-smi -q -x failed; inventory comes from the query stream only',
        );
      }
    };
    this.inventoryRefresh = run().finally(() => {
      this.inventoryRefresh = undefined;
      this.lastInventorySentMs = -Infinity;
    });
    return this.inventoryRefresh;
  }

  private applyInventory(infos: readonly GpuInfo[], listed: ReturnType<typeof parseListGpus>): void {
    const now = this.deps.now();
    const seen = new Set<string>();
    for (const info of infos) {
      seen.add(info.uuid);
      // Listed by -q -x but gone from the stream: it stays gone until the stream reports it again,
      // so a GPU that NVML lists but cannot query does not flap between appeared and disappeared.
      if (this.departed.has(info.uuid)) continue;
      const known = this.gpus.get(info.uuid);
      if (!known && this.gpus.size > 0)
        this.pendingEvents.push(
          this.gpuEvent(now, 'gpu_appeared', 'warning', info.uuid, 'GPU appeared in nvidia-smi -q -x', {
            // The index is not in -q -x: it comes with the GPU's first stream row, not invented here.
            ...(info.busId ? { pci_bus_id: info.busId } : {}),
          }),
        );
      if (info.persistenceOff && !known?.info?.persistenceOff) {
        this.logger.warn(
          { uuid: info.uuid },
          'persistence mode is off: every nvidia-smi call re-initialises the GPU',
        );
        this.pendingEvents.push(
          this.gpuEvent(
            now,
            'gpu_persistence_mode_off',
            'warning',
            info.uuid,
            'persistence mode is off: every nvidia-smi call re-initialises the GPU (slow queries, clocks reset)',
            {},
          ),
        );
      }
      this.gpus.set(info.uuid, {
        ...(known ?? { missing: 0 }),
        info,
        model: info.attributes['model'] ?? known?.model,
        busId: info.busId ?? known?.busId,
        missing: 0,
      });
    }
    for (const [uuid, known] of this.gpus) {
      if (seen.has(uuid) || !known.info) continue;
      this.pendingEvents.push(
        this.gpuEvent(
          now,
          'gpu_disappeared',
          'critical',
          uuid,
          'GPU no longer listed by nvidia-smi -q -x (fell off the bus?)',
          this.gpuIdentity(known),
        ),
      );
      this.gpus.delete(uuid);
      this.tracker.forget(uuid);
    }
    const migs = new Map<string, KnownMig>();
    for (const info of infos) {
      // A departed GPU's MIG devices are gone with it, whatever -q -x still lists.
      if (this.departed.has(info.uuid)) continue;
      for (const mig of info.migDevices) {
        const entity = `${info.uuid}/gi${mig.gpuInstanceId}`;
        const l = listed.find((x) => x.gpuUuid === info.uuid && x.index === mig.index);
        migs.set(entity, {
          entity,
          gpuUuid: info.uuid,
          info: mig,
          ...(l ? { uuid: l.uuid, profile: l.profile } : {}),
        });
      }
    }
    this.migs = migs;
    this.migReadingsAtMs = migs.size > 0 ? now : undefined;
  }

  async collect(signal: AbortSignal): Promise<Collection> {
    const now = this.deps.now();
    const samples: Sample[] = [];
    const events: AgentEvent[] = [];
    const inventory: InventoryItem[] = [];
    const dcgmEnabled = this.config.dcgmUrl !== '';
    this.maybeReprobe(now);
    if (this.smiAbsentReason !== undefined && !dcgmEnabled) return this.absent(now, this.smiAbsentReason);
    const refreshEveryMs = this.config.inventoryRefreshMs;
    if (refreshEveryMs > 0 && now - this.inventoryReadAtMs >= refreshEveryMs) this.inventoryDirty = true;
    // Not while a (replacement) child is starting, here and for nvlink below: both would initialise NVML at
    // once (seconds each with persistence mode off) and delay the restart that recovery depends on.
    if (this.inventoryDirty && this.smiAbsentReason === undefined && !this.stream?.starting)
      void this.refreshInventory();
    // Everything that awaits happens first; buffered rows and kernel lines are drained only after the
    // last await, synchronously, so a run aborted by the scheduler leaves them for the next run.
    if (this.smiAbsentReason === undefined && !this.stream?.starting) this.maybeReadNvlink(now);
    signal.throwIfAborted();
    await this.refreshOwners(now, signal);
    const scrape = dcgmEnabled ? await this.fetchDcgm(now, signal) : undefined;
    signal.throwIfAborted();

    // 1. The nvidia-smi stream.
    const rows = this.rows;
    this.rows = [];
    // The GPU set first, so that a GPU seen for the first time gets its index/model in this run's inventory.
    const seen = new Map(rows.map((r) => [r.row.uuid, r.row.index]));
    if (seen.size > 0) this.trackGpuSet(seen, now, events);
    for (const { row, receivedMs } of rows) {
      const labels = this.gpuLabels(row);
      samples.push(...rowSamples(this.plan as QueryPlan, row, labels, receivedMs));
      for (const column of (this.plan as QueryPlan).columns) {
        const raw = row.cells.get(column.field);
        if (column.role === 'clockActive') {
          const mask = parseBitmask(raw);
          if (mask !== undefined)
            events.push(...this.tracker.clockMask(row.uuid, mask, receivedMs, { gpu: row.index }));
        } else if (
          column.role === 'metric' &&
          column.spec.metric === 'gpu_ecc_double_bit_volatile_errors_total'
        ) {
          const count = parseNumber(raw);
          if (count !== undefined)
            events.push(...this.tracker.doubleBitEcc(row.uuid, count, receivedMs, { gpu: row.index }));
        }
      }
    }
    for (const f of this.failures.splice(0)) {
      events.push({
        timestampMs: f.atMs,
        kind: 'gpu_nvidia_smi_failed',
        severity: 'error',
        source,
        entity: '',
        message: `nvidia-smi ${f.reason}`,
        attributes: { path: this.config.nvidiaSmiPath },
      });
    }
    events.push(...this.pendingEvents.splice(0));

    if (this.nvlinkFresh) this.applyNvlink(this.nvlinkFresh, samples, events);
    this.nvlinkFresh = undefined;

    // 2. Xid lines from the kernel log.
    this.readKernelLog(now, events);

    // 3. dcgm-exporter: what nvidia-smi lacks, everything when nvidia-smi is absent or down.
    if (scrape) this.applyDcgm(scrape, now, samples, events, rows.length > 0);

    // 4. Per-MIG readings of the last -q -x, once per read; DCGM's, when it has the same series, win.
    if (this.migReadingsAtMs !== undefined) {
      this.migSamples(this.migReadingsAtMs, samples);
      this.migReadingsAtMs = undefined;
    }
    if (this.smiAbsentReason !== undefined && !scrape)
      return this.absent(now, `${this.smiAbsentReason}; dcgm-exporter: ${this.dcgmState}`);

    for (const x of this.xidCounts.values())
      samples.push(sample('gpu_xid_errors_total', 'counter', x.entity, x.labels, now, x.count));
    if (this.stream) {
      samples.push(sample('gpu_nvidia_smi_restarts_total', 'counter', '', {}, now, this.stream.restarts));
      samples.push(sample('gpu_nvidia_smi_garbage_lines_total', 'counter', '', {}, now, this.garbageLines));
      samples.push(sample('gpu_nvidia_smi_dropped_rows_total', 'counter', '', {}, now, this.droppedRows));
      samples.push(
        sample('gpu_nvidia_smi_abandoned_children_total', 'counter', '', {}, now, this.stream.abandoned),
      );
      samples.push(
        sample('gpu_nvidia_smi_slow_cycles_total', 'counter', '', {}, now, this.stream.slowCycles),
      );
    }

    if (now - this.lastInventorySentMs >= this.config.inventoryRepeatMs) {
      this.lastInventorySentMs = now;
      inventory.push(...this.inventoryItems(now));
    }
    return { samples, events, inventory };
  }

  /** Starts `nvlink -s` in the background when due; its result is emitted by the next collect. */
  private maybeReadNvlink(now: number): void {
    const every = this.config.nvlinkIntervalMs;
    if (every === 0 || this.nvlinkRead || now - this.nvlinkAtMs < every) return;
    this.nvlinkAtMs = now;
    this.nvlinkRead = this.smiCall(['nvlink', '-s'])
      .then((text) => {
        this.nvlinkFresh = { links: parseNvlinkStatus(text), atMs: this.deps.now() };
      })
      .catch((error: unknown) => {
        // GPUs without NVLink, or drivers without the subcommand: no link series, nothing invented.
        this.logger.debug({ err: error }, 'nvidia-smi nvlink -s failed');
      })
      .finally(() => {
        this.nvlinkRead = undefined;
      });
  }

  private applyNvlink(
    read: { links: NvlinkStatus[]; atMs: number },
    samples: Sample[],
    events: AgentEvent[],
  ): void {
    for (const l of read.links) {
      const base = this.labelsFor(l.gpuUuid);
      const labels = { ...base, link: l.link };
      samples.push(sample('gpu_nvlink_link_up', 'gauge', l.gpuUuid, labels, read.atMs, l.up ? 1 : 0));
      if (l.speedBytesPerSecond !== undefined)
        samples.push(
          sample(
            'gpu_nvlink_link_speed_bytes_per_second',
            'gauge',
            l.gpuUuid,
            labels,
            read.atMs,
            l.speedBytesPerSecond,
          ),
        );
      const key = `${l.gpuUuid}/${l.link}`;
      const before = this.nvlinkUp.get(key);
      this.nvlinkUp.set(key, l.up);
      // A link already down at start is reported once: it is news to the operator.
      if (before === l.up || (before === undefined && l.up)) continue;
      events.push(
        this.gpuEvent(
          read.atMs,
          l.up ? 'gpu_nvlink_up' : 'gpu_nvlink_down',
          l.up ? 'info' : 'warning',
          l.gpuUuid,
          `NVLink ${l.link} ${l.up ? 'is active again' : 'is inactive'}`,
          {
            link: l.link,
            ...(base['gpu'] !== undefined ? { gpu: base['gpu'] } : {}),
          },
        ),
      );
    }
  }

  /**
   * The `-q -x` readings of each MIG device (frame buffer total/used/free/reserved) as samples of the MIG
   * entity, labelled like DCGM's per-MIG series (GPU uuid/index/model, `mig_instance`, `mig_profile`,
   * pod). A metric DCGM already gave for the same MIG entity in this collect is skipped: DCGM's is
   * continuous, ours as old as the last `-q -x`.
   */
  private migSamples(readAtMs: number, samples: Sample[]): void {
    const fromDcgm = new Set<string>();
    for (const s of samples) fromDcgm.add(`${s.series.entity}\u0000${s.series.metric}`);
    for (const mig of this.migs.values()) {
      // No pod labels of the parent GPU: a MIG device's holder is the one its own MIG UUID is assigned to.
      const known = this.gpus.get(mig.gpuUuid);
      const labels: Record<string, string> = { uuid: mig.gpuUuid };
      if (known?.index !== undefined) labels['gpu'] = known.index;
      if (known?.model) labels['model'] = known.model;
      labels['mig_instance'] = mig.info.gpuInstanceId;
      if (mig.profile) labels['mig_profile'] = mig.profile;
      const owner = mig.uuid ? this.owners.get(mig.uuid) : undefined;
      if (owner) Object.assign(labels, owner);
      for (const r of mig.info.readings) {
        if (fromDcgm.has(`${mig.entity}\u0000${r.metric}`)) continue;
        const kind = metricSpecs.find((spec) => spec.metric === r.metric)?.kind ?? 'gauge';
        samples.push(sample(r.metric, kind, mig.entity, { ...labels, ...r.labels }, readAtMs, r.value));
      }
    }
  }

  /** gpu/uuid/model (+ pod) labels of a known GPU, for series that do not come from a stream row. */
  private labelsFor(uuid: string): Record<string, string> {
    const known = this.gpus.get(uuid);
    const labels: Record<string, string> = { uuid };
    if (known?.index !== undefined) labels['gpu'] = known.index;
    if (known?.model) labels['model'] = known.model;
    const owner = this.owners.get(uuid);
    if (owner) Object.assign(labels, owner);
    return labels;
  }

  private absent(now: number, reason: string): Collection {
    return {
      samples: [],
      events: [],
      inventory: [
        {
          observedMs: now,
          source,
          entity: source,
          kind: 'collector',
          attributes: {},
          absent: true,
          absentReason: reason,
        },
      ],
    };
  }

  private gpuEvent(
    timestampMs: number,
    kind: string,
    severity: Severity,
    entity: string,
    message: string,
    attributes: Record<string, string>,
  ): AgentEvent {
    return { timestampMs, kind, severity, source, entity, message, attributes };
  }

  /** `gpu` (index) and `pci_bus_id` of a known GPU, each only when known. */
  private gpuIdentity(known: KnownGpu): Record<string, string> {
    return {
      ...(known.index !== undefined ? { gpu: known.index } : {}),
      ...(known.busId ? { pci_bus_id: known.busId } : {}),
    };
  }

  private trackGpuSet(seen: ReadonlyMap<string, string>, now: number, events: AgentEvent[]): void {
    const first = this.gpus.size === 0;
    for (const [uuid, index] of seen) {
      if (this.gpus.has(uuid)) continue;
      this.gpus.set(uuid, { missing: 0, index });
      this.departed.delete(uuid);
      this.lastInventorySentMs = -Infinity; // send the changed GPU set now
      if (!first) {
        events.push(
          this.gpuEvent(now, 'gpu_appeared', 'warning', uuid, 'GPU appeared in the nvidia-smi stream', {
            gpu: index,
          }),
        );
        this.inventoryDirty = true;
      }
    }
    for (const [uuid, known] of this.gpus) {
      if (seen.has(uuid)) {
        known.missing = 0;
        continue;
      }
      // Two consecutive drains without it (while others report) → gone.
      if (++known.missing < 2) continue;
      events.push(
        this.gpuEvent(
          now,
          'gpu_disappeared',
          'critical',
          uuid,
          'GPU stopped reporting in the nvidia-smi stream (fell off the bus?)',
          this.gpuIdentity(known),
        ),
      );
      this.gpus.delete(uuid);
      this.departed.add(uuid);
      this.tracker.forget(uuid);
      for (const [entity, mig] of this.migs) if (mig.gpuUuid === uuid) this.migs.delete(entity);
      this.inventoryDirty = true;
      this.lastInventorySentMs = -Infinity;
    }
  }

  private gpuLabels(row: GpuRow): Record<string, string> {
    const known = this.gpus.get(row.uuid);
    if (known) {
      known.index = row.index;
      if (!known.model && row.name) known.model = row.name;
      if (!known.busId && row.busId) known.busId = row.busId;
    }
    const labels: Record<string, string> = { gpu: row.index, uuid: row.uuid };
    const model = known?.model ?? row.name;
    if (model) labels['model'] = model;
    const owner = this.owners.get(row.uuid);
    if (owner) Object.assign(labels, owner);
    return labels;
  }

  private async refreshOwners(now: number, signal: AbortSignal): Promise<void> {
    if (!this.podClient || now - this.ownersAtMs < this.config.podResourcesRefreshMs) return;
    this.ownersAtMs = now;
    try {
      this.owners = nvidiaDeviceOwners(await this.podClient.list(signal));
      this.attributionState = 'present';
    } catch (error) {
      // Keep the last known owners: a kubelet restart must not strip labels for a few seconds.
      if (this.attributionState !== 'absent')
        this.logger.info({ err: error }, 'kubelet PodResources unavailable; samples carry no pod labels');
      this.attributionState = `absent: ${(error as Error).message}`;
    }
  }

  private readKernelLog(now: number, events: AgentEvent[]): void {
    if (!this.kmsg) return;
    let lines: string[];
    try {
      lines = this.kmsg.poll();
    } catch (error) {
      this.kmsgState = `absent: read failed (${(error as Error).message})`;
      this.kmsg.close();
      this.kmsg = undefined;
      return;
    }
    for (const line of lines) {
      const xid = parseXidLine(line);
      if (!xid) continue;
      if (xid.bootUs !== undefined && this.startBootUs !== undefined && xid.bootUs < this.startBootUs)
        continue;
      events.push(this.xidEvent(xid, now));
    }
  }

  private xidEvent(xid: XidRecord, now: number): AgentEvent {
    const pci = normalizePci(xid.pci);
    let uuid: string | undefined;
    for (const [u, g] of this.gpus) if (g.busId && normalizePci(g.busId) === pci) uuid = u;
    const entity = uuid ?? `pci:${xid.pci}`;
    const key = `${entity}\u0000${xid.xid}`;
    const labels: Record<string, string> = {
      xid: String(xid.xid),
      ...(uuid ? { uuid } : { pci_bus_id: xid.pci }),
    };
    const counter = this.xidCounts.get(key) ?? { entity, labels, count: 0 };
    counter.count += 1;
    this.xidCounts.set(key, counter);
    if (xid.xid === 79) this.inventoryDirty = true;
    const timestampMs =
      xid.bootUs !== undefined && this.bootEpochMs !== undefined
        ? Math.round(this.bootEpochMs + xid.bootUs / 1000)
        : now;
    return this.gpuEvent(
      timestampMs,
      'gpu_xid',
      criticalXids.has(xid.xid) ? 'critical' : 'error',
      entity,
      `Xid ${xid.xid}: ${xid.message}`.slice(0, 1000),
      {
        xid: String(xid.xid),
        pci_bus_id: xid.pci,
        message: xid.message.slice(0, 1000),
        source: 'kmsg',
        ...(uuid ? { uuid } : {}),
      },
    );
  }

  /** One scrape of dcgm-exporter; undefined (and the reason kept for the inventory) when it is not there. */
  private async fetchDcgm(now: number, signal: AbortSignal): Promise<DcgmScrape | undefined> {
    try {
      const text = await scrapeDcgm(this.config.dcgmUrl, {
        timeoutMs: this.config.dcgmTimeoutMs,
        maxBytes: this.config.dcgmMaxBytes,
        signal,
      });
      const scrape = parseDcgmScrape(text, now);
      this.dcgmState = 'present';
      return scrape;
    } catch (error) {
      if (signal.aborted) throw error;
      this.dcgmState = `absent: ${(error as Error).message}`;
      return undefined;
    }
  }

  private applyDcgm(
    scrape: DcgmScrape,
    now: number,
    samples: Sample[],
    events: AgentEvent[],
    smiLive: boolean,
  ): void {
    const smiHealthy = this.smiAbsentReason === undefined && (smiLive || (this.stream?.running ?? false));
    const entities = new Map(scrape.entities.map((e) => [e.entity, e]));
    if ([...entities.keys()].sort().join() !== [...this.dcgmEntities.keys()].sort().join())
      this.lastInventorySentMs = -Infinity;
    this.dcgmEntities = entities;
    // MIG instances created or destroyed: -q -x (MIG tree, profiles, memory) is stale; read it again now.
    const migKey = scrape.entities
      .filter((e) => e.migInstance !== undefined)
      .map((e) => e.entity)
      .sort()
      .join();
    if (this.dcgmMigKey !== undefined && migKey !== this.dcgmMigKey && this.smiAbsentReason === undefined) {
      this.logger.info('MIG instances reported by DCGM changed; re-reading nvidia-smi -q -x');
      this.inventoryDirty = true;
      void this.refreshInventory();
    }
    this.dcgmMigKey = migKey;
    const migOwner = new Map<string, PodLabels>();
    for (const mig of this.migs.values()) {
      const owner = mig.uuid ? this.owners.get(mig.uuid) : undefined;
      if (owner) migOwner.set(mig.entity, owner);
    }
    for (const s of scrape.samples) {
      if (smiHealthy && s.smiHasIt && !s.mig) continue;
      const entity = s.sample.series.entity;
      const owner = s.mig ? migOwner.get(entity) : this.owners.get(entity);
      samples.push(
        owner
          ? { ...s.sample, series: { ...s.sample.series, labels: { ...s.sample.series.labels, ...owner } } }
          : s.sample,
      );
    }
    // DCGM's XID field is "the last Xid seen": an event when it changes, unless the kernel log already gives us every Xid.
    for (const x of scrape.xids) {
      const previous = this.dcgmLastXid.get(x.entity);
      this.dcgmLastXid.set(x.entity, x.xid);
      if (this.kmsg || x.xid === 0 || previous === x.xid) continue;
      events.push(
        this.gpuEvent(
          now,
          'gpu_xid',
          criticalXids.has(x.xid) ? 'critical' : 'error',
          x.entity,
          `Xid ${x.xid}${x.message ? `: ${x.message}` : ''} (last Xid reported by DCGM)`,
          {
            xid: String(x.xid),
            uuid: x.uuid,
            source: 'dcgm',
            // Seen on our first scrape: it happened before we looked, maybe long ago.
            ...(previous === undefined ? { observed_at_start: 'true' } : {}),
            ...(x.message ? { message: x.message } : {}),
          },
        ),
      );
    }
  }

  private inventoryItems(now: number): InventoryItem[] {
    const items: InventoryItem[] = [];
    const restarts = this.stream?.restarts ?? 0;
    items.push({
      observedMs: now,
      source,
      entity: source,
      kind: 'collector',
      attributes: {
        nvidia_smi: this.smiAbsentReason === undefined ? 'present' : `absent: ${this.smiAbsentReason}`,
        nvidia_smi_path: this.config.nvidiaSmiPath,
        nvidia_smi_restarts: String(restarts),
        query_fields: String(this.plan?.columns.length ?? 0),
        ...(this.plan && this.plan.unsupported.length > 0
          ? { unsupported_fields: this.plan.unsupported.join(',') }
          : {}),
        ...(this.inventoryError ? { inventory_error: this.inventoryError.slice(0, 300) } : {}),
        dcgm: this.dcgmState,
        xid_source: this.kmsg ? `kmsg: ${this.config.kmsgPath}` : this.kmsgState,
        attribution: this.attributionState,
      },
    });
    for (const [uuid, g] of this.gpus) {
      const attributes: Record<string, string> = { ...(g.info?.attributes ?? {}) };
      if (g.index !== undefined) attributes['index'] = g.index;
      if (g.model && !attributes['model']) attributes['model'] = g.model;
      if (g.busId && !attributes['pci_bus_id']) attributes['pci_bus_id'] = g.busId;
      if (!g.info) attributes['inventory_from'] = 'query stream (nvidia-smi -q -x unavailable)';
      items.push({ observedMs: now, source, entity: uuid, kind: 'gpu', attributes });
    }
    // Without nvidia-smi, DCGM's labels are the only inventory there is.
    if (this.smiAbsentReason !== undefined) {
      for (const e of this.dcgmEntities.values()) {
        const attributes: Record<string, string> = { inventory_from: 'dcgm-exporter labels' };
        if (e.model) attributes['model'] = e.model;
        if (e.gpu) attributes['index'] = e.gpu;
        if (e.migInstance === undefined) {
          items.push({ observedMs: now, source, entity: e.entity, kind: 'gpu', attributes });
          continue;
        }
        attributes['gpu_uuid'] = e.uuid;
        attributes['gpu_instance_id'] = e.migInstance;
        if (e.migProfile) attributes['profile'] = e.migProfile;
        items.push({ observedMs: now, source, entity: e.entity, kind: 'mig_device', attributes });
      }
    }
    for (const mig of this.migs.values()) {
      const attributes: Record<string, string> = {
        gpu_uuid: mig.gpuUuid,
        gpu_instance_id: mig.info.gpuInstanceId,
        mig_index: mig.info.index,
        ...mig.info.attributes,
      };
      if (mig.info.computeInstanceId !== undefined)
        attributes['compute_instance_id'] = mig.info.computeInstanceId;
      if (mig.uuid) attributes['mig_uuid'] = mig.uuid;
      if (mig.profile) attributes['profile'] = mig.profile;
      const total = mig.info.readings.find((r) => r.metric === 'gpu_memory_total_bytes');
      if (total) attributes['memory_total_bytes'] = String(total.value);
      const owner = mig.uuid ? this.owners.get(mig.uuid) : undefined;
      if (owner) Object.assign(attributes, owner);
      items.push({ observedMs: now, source, entity: mig.entity, kind: 'mig_device', attributes });
    }
    return items;
  }

  /**
   * Stops the stream and every nvidia-smi call in flight. Bounded: the stream's own stop is bounded
   * (see SmiStream.stop), one-shot calls are aborted and waited for `stopWaitMs` at most each.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort(new Error('GPU collector stopped'));
    await settledWithin(this.probing, stopWaitMs);
    await this.stream?.stop();
    this.stream = undefined;
    await settledWithin(this.nvlinkRead, stopWaitMs);
    await settledWithin(this.inventoryRefresh, stopWaitMs);
    this.kmsg?.close();
    this.kmsg = undefined;
    this.podClient?.close();
    this.podClient = undefined;
  }
}
