#!/usr/bin/env node
// Replays a recorded nvidia-smi capture so the GPU collector's real process
// path (spawn, stream parsing, deadlines, restarts) runs where no GPU exists.
// Placed in a temp dir as `nvidia-smi` (see install-replay.ts); no shell, no
// network. Everything it prints comes from the recording named below, except
// the documented transformations: unit suffixes are dropped for `nounits`
// (as nvidia-smi does), and AIOPS_NVSMI_REPLAY_GPUS > 1 replicates each
// recorded GPU row N times with index 0..N-1 and a UUID/PCI bus id made
// distinct per copy (a replication of one real GPU, for load tests).
//
// Environment:
//   AIOPS_NVSMI_REPLAY_CAPTURE  nvidia_gpu_exporter capture file (help-query-gpu, query-gpu CSV, -L)
//   AIOPS_NVSMI_REPLAY_XML      file printed for `-q -x` (optional; without it `-q -x` fails like an old driver)
//   AIOPS_NVSMI_REPLAY_GPUS     replicate each recorded GPU row N times (default: as recorded)
//   AIOPS_NVSMI_REPLAY_MODE     normal | hang | crash | garbage | no-driver
//   AIOPS_NVSMI_REPLAY_AFTER    loop lines printed before misbehaving (default 2)
//   AIOPS_NVSMI_REPLAY_TIMES    misbehave only in the first N loop runs (default 1; 0 = always)
//   AIOPS_NVSMI_REPLAY_STATE    directory for the run counter, `pid` of the latest loop run, and per
//                               run `pid-<run>` and `started-<run>` (when it started, epoch ms)
//   AIOPS_NVSMI_REPLAY_PHASE    idle (default) | load: the recorded rows a one-shot --query-gpu prints
//   AIOPS_NVSMI_REPLAY_QUERY_MS query duration of each loop cycle in ms, a comma list used in turn
//                               (default 0): like nvidia-smi, each cycle queries (this long), prints,
//                               then sleeps the -lms interval, so lines come every interval + query
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import process from 'node:process';
import { performance } from 'node:perf_hooks';
import { setInterval, setTimeout } from 'node:timers';
import { join } from 'node:path';

const env = process.env;
const args = process.argv.slice(2);
const mode = env.AIOPS_NVSMI_REPLAY_MODE ?? 'normal';
const out = (text) => process.stdout.write(text);

function fail(message, code) {
  out(`${message}\n`);
  process.exit(code);
}

if (mode === 'no-driver') {
  fail(
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
    9,
  );
}

const capturePath = env.AIOPS_NVSMI_REPLAY_CAPTURE;
if (!capturePath) fail('replay: AIOPS_NVSMI_REPLAY_CAPTURE is not set', 2);
const capture = readFileSync(capturePath, 'utf8');

/** Sections of a capture: `#####` / `# title` / `# $ command` / `#####`, then the output. */
function sections(text) {
  const lines = text.split('\n');
  const found = [];
  for (let i = 0; i < lines.length - 1; i++) {
    if (!/^#{20,}$/.test(lines[i]) || !/^# /.test(lines[i + 1] ?? '')) continue;
    let j = i + 1;
    const head = [];
    while (j < lines.length && !/^#{20,}$/.test(lines[j])) head.push(lines[j++]);
    let k = j + 1;
    const body = [];
    while (k < lines.length && !/^#{20,}$/.test(lines[k])) body.push(lines[k++]);
    found.push({ title: head[0].slice(2), body: body.join('\n').replace(/\n+$/, '') });
    i = j - 1;
  }
  return found;
}

const all = sections(capture);
const section = (title) => all.find((s) => s.title.startsWith(title))?.body;
const helpQueryGpu = section('capabilities :: help-query-gpu') ?? '';

// Aliases from the help text: "uuid" or "gpu_uuid" → both name the same column.
const canonical = new Map();
for (const line of helpQueryGpu.split('\n')) {
  const names = [...line.matchAll(/"([A-Za-z0-9_.]+)"/g)].map((m) => m[1]);
  if (!line.startsWith('"')) continue;
  for (const n of names) canonical.set(n, names[0]);
}

/** Recorded cycles (idle, load), each one row per GPU: header names without units → cells with units. */
function recordedCycles() {
  const cycles = [];
  for (const phase of ['idle', 'load']) {
    const body = section(`${phase} :: query-gpu`);
    if (!body) continue;
    const [header, ...lines] = body.split('\n').filter((l) => l.trim() !== '');
    const names = header.split(', ').map((h) => h.replace(/ \[[^\]]*\]$/, '').trim());
    const rows = [];
    for (const line of lines) {
      const cells = line.split(', ');
      if (cells.length === names.length)
        rows.push(new Map(names.map((n, i) => [canonical.get(n) ?? n, cells[i]])));
    }
    if (rows.length > 0) cycles.push(rows);
  }
  return cycles;
}

const copies = Number(env.AIOPS_NVSMI_REPLAY_GPUS ?? '0');

/** Copy i of a recorded GPU row: index i, UUID and PCI bus number made distinct, every reading as recorded. */
function replicate(cycle) {
  if (!(copies > 1)) return cycle;
  return cycle.flatMap((row) =>
    Array.from({ length: copies }, (_, i) => {
      const copy = new Map(row);
      copy.set('uuid', (row.get('uuid') ?? '').replace(/[0-9a-fA-F]{12}$/, i.toString(16).padStart(12, '0')));
      copy.set('index', String(i));
      const bus = row.get('pci.bus_id');
      if (bus)
        copy.set(
          'pci.bus_id',
          bus.replace(
            /^([0-9A-Fa-f]+):[0-9A-Fa-f]{2}:/,
            (_m, d) => `${d}:${(0x10 + i).toString(16).toUpperCase().padStart(2, '0')}:`,
          ),
        );
      return copy;
    }),
  );
}

function render(row, fields, nounits) {
  return fields
    .map((f) => {
      let cell = row.get(canonical.get(f) ?? f) ?? '[N/A]';
      if (nounits) cell = cell.replace(/^([-+]?[\d.]+) (W|MiB|MHz|%|us|C|J|GB\/s)$/, '$1');
      return cell;
    })
    .join(', ');
}

const query = args.find((a) => a.startsWith('--query-gpu='));
if (args[0] === '--help-query-gpu') {
  out(`${helpQueryGpu}\n`);
} else if (args[0] === '-L') {
  const list = section('capabilities :: list (-L)');
  if (list === undefined) fail('replay: the capture has no -L section', 2);
  out(`${list}\n`);
} else if (args[0] === 'nvlink' && args[1] === '-s') {
  const status = section('capabilities :: nvlink -s');
  if (status === undefined) fail('replay: the capture has no nvlink -s section', 2);
  out(`${status}\n`);
} else if (args.includes('-q') && args.includes('-x')) {
  const xml = env.AIOPS_NVSMI_REPLAY_XML;
  if (!xml) fail('replay: no -q -x recording for this capture (AIOPS_NVSMI_REPLAY_XML unset)', 3);
  // A slow -q -x (0.4–6 s on real servers, longer when a GPU is in trouble): print after this delay.
  const delayMs = Number(env.AIOPS_NVSMI_REPLAY_XML_DELAY_MS ?? '0');
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  out(readFileSync(xml, 'utf8'));
} else if (query) {
  const fields = query.slice('--query-gpu='.length).split(',');
  const format = args.find((a) => a.startsWith('--format=')) ?? '--format=csv';
  const noheader = format.includes('noheader');
  const nounits = format.includes('nounits');
  for (const f of fields) if (!canonical.has(f)) fail(`Field "${f}" is not a valid field to query.`, 2);
  const lmsIndex = args.indexOf('-lms');
  const intervalMs = lmsIndex >= 0 ? Number(args[lmsIndex + 1]) : undefined;
  const cycles = recordedCycles().map(replicate);
  if (cycles.length === 0) fail('replay: the capture has no query-gpu section', 2);
  if (!noheader) out(`${fields.join(', ')}\n`);
  if (intervalMs === undefined) {
    // One-shot: the recorded idle rows, or the load rows with AIOPS_NVSMI_REPLAY_PHASE=load.
    const oneShot = cycles[env.AIOPS_NVSMI_REPLAY_PHASE === 'load' ? 1 : 0];
    if (!oneShot) fail('replay: the capture has no such query-gpu phase', 2);
    for (const row of oneShot) out(`${render(row, fields, nounits)}\n`);
    process.exit(0);
  }
  // Loop mode: one cycle (every GPU) per interval, cycling through the recorded rows.
  const stateDir = env.AIOPS_NVSMI_REPLAY_STATE;
  let run = 1;
  if (stateDir) {
    if (!existsSync(stateDir)) mkdirSync(stateDir, { recursive: true });
    const counter = join(stateDir, 'runs');
    run = (existsSync(counter) ? Number(readFileSync(counter, 'utf8')) : 0) + 1;
    writeFileSync(counter, String(run));
    writeFileSync(join(stateDir, 'pid'), String(process.pid));
    writeFileSync(join(stateDir, `pid-${run}`), String(process.pid));
    // When this process started (wall clock, ms): tests split a recovery gap into the collector's part
    // (detection and restart, up to here) and this replay's own start-up (from here to its first line).
    writeFileSync(join(stateDir, `started-${run}`), String(Math.round(performance.timeOrigin)));
  }
  const times = Number(env.AIOPS_NVSMI_REPLAY_TIMES ?? '1');
  const misbehave = mode !== 'normal' && (times === 0 || run <= times);
  const after = Number(env.AIOPS_NVSMI_REPLAY_AFTER ?? '2');
  let printed = 0;
  let cycle = 0;
  const tick = () => {
    if (misbehave && printed >= after) {
      if (mode === 'crash') process.exit(4);
      if (mode === 'hang') return; // alive, silent
      if (mode === 'garbage') {
        out('Unable to determine the device handle for GPU0000:9B:00.0: Unknown Error\n');
        return;
      }
    }
    const group = cycles[cycle % cycles.length];
    cycle += 1;
    for (const row of group) {
      out(`${render(row, fields, nounits)}\n`);
      printed += 1;
    }
  };
  // nvidia-smi's loop: query (its own duration), print, sleep the interval — not a fixed-rate timer.
  const queryMs = (env.AIOPS_NVSMI_REPLAY_QUERY_MS ?? '0').split(',').map(Number);
  let loops = 0;
  const loop = () => {
    const q = queryMs[loops++ % queryMs.length] ?? 0;
    setTimeout(() => {
      tick();
      setTimeout(loop, intervalMs);
    }, q);
  };
  if (queryMs.every((q) => q === 0)) {
    tick();
    setInterval(tick, intervalMs);
  } else loop();
  process.on('SIGTERM', () => process.exit(0));
} else {
  fail(`replay: unsupported arguments: ${args.join(' ')}`, 2);
}
