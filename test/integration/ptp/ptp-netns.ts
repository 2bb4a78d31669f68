import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * A real ptp4l master and slave in two network namespaces joined by a veth
 * pair, software timestamping, as ../shared/recipes/ptp-netns.sh does. The
 * machine's clock is never touched: both ptp4l run with `free_running 1` (no
 * clock adjustment at all) and without CAP_SYS_TIME in their bounding set.
 * Short announce / sync intervals keep each phase to a few seconds.
 */
const run = promisify(execFile);

export const binaries = {
  ptp4l: '/usr/sbin/ptp4l',
  pmc: '/usr/sbin/pmc',
  ip: '/usr/sbin/ip',
  setpriv: '/usr/bin/setpriv',
} as const;

/** Why the suite cannot run here, or undefined when it can. */
export function linuxptpMissing(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not running as root (network namespaces, raw sockets)';
  for (const [name, path] of Object.entries(binaries)) {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      return `${name} not found at ${path} (apt-get install -y linuxptp iproute2 util-linux)`;
    }
  }
  // Refuse a ptp4l without free_running: its slave would discipline CLOCK_REALTIME.
  if (!readFileSync(binaries.ptp4l).includes('free_running')) return 'ptp4l lacks the free_running option';
  return undefined;
}

export interface PtpNetns {
  readonly dir: string;
  readonly masterSocket: string;
  readonly slaveSocket: string;
  readonly slaveLog: string;
  readonly slaveTag: string;
  readonly secondMasterSocket: string;
  /** The identity the second master announces (set in its config, not derived from the MAC). */
  readonly secondMasterIdentity: string;
  startMaster(): void;
  killMaster(): Promise<void>;
  /** A second master on the same link with a better priority1 and clockClass 6: the slave must switch to it. */
  startSecondMaster(): void;
  startSlave(): void;
  /** `pmc -u -b 0 -s <slave uds> <command>` from the root namespace (the UDS is a filesystem socket). */
  pmc(command: string): Promise<string>;
  cleanup(): Promise<void>;
}

const commonConfig = [
  'free_running 1',
  // 1 s announces, loss declared after 2 missed ones; 4 syncs per second.
  'logAnnounceInterval 0',
  'announceReceiptTimeout 2',
  'logSyncInterval -2',
  'logMinDelayReqInterval -2',
];

export async function createPtpNetns(): Promise<PtpNetns> {
  const id = randomBytes(3).toString('hex');
  const nsMaster = `aiops-ptpm-${id}`;
  const nsSlave = `aiops-ptps-${id}`;
  const ifMaster = `apm${id}`;
  const ifSlave = `aps${id}`;
  const dir = await mkdtemp(join(tmpdir(), 'aiops-ptp-'));
  const masterSocket = join(dir, 'ptp4l-master.sock');
  const slaveSocket = join(dir, 'ptp4l-slave.sock');
  const slaveLog = join(dir, 'ptp4l-slave.log');
  const slaveTag = `ptp4l.${id}.config`;
  const secondMasterSocket = join(dir, 'ptp4l-master2.sock');
  const secondMasterIdentity = `a10500.fffe.${id}`;
  const children = new Set<ChildProcess>();
  let master: ChildProcess | undefined;
  let created = false;

  const ip = (...args: string[]): Promise<unknown> => run(binaries.ip, args);
  const cleanup = async (): Promise<void> => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await Promise.all(
      [...children].map((c) =>
        c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)),
      ),
    );
    if (created) {
      await ip('netns', 'del', nsSlave).catch(() => undefined);
      await ip('netns', 'del', nsMaster).catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await ip('netns', 'add', nsMaster);
    created = true;
    await ip('netns', 'add', nsSlave);
    await ip('link', 'add', ifMaster, 'type', 'veth', 'peer', 'name', ifSlave);
    await ip('link', 'set', ifMaster, 'netns', nsMaster);
    await ip('link', 'set', ifSlave, 'netns', nsSlave);
    for (const [ns, ifname] of [
      [nsMaster, ifMaster],
      [nsSlave, ifSlave],
    ] as const) {
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      await ip('-n', ns, 'link', 'set', ifname, 'up');
    }
    await writeFile(
      join(dir, 'master.cfg'),
      ['[global]', ...commonConfig, `uds_address ${masterSocket}`, `[${ifMaster}]`, ''].join('\n'),
    );
    await writeFile(
      join(dir, 'master2.cfg'),
      [
        '[global]',
        ...commonConfig,
        `uds_address ${secondMasterSocket}`,
        `clockIdentity ${secondMasterIdentity}`,
        'priority1 100',
        'clockClass 6',
        `[${ifMaster}]`,
        '',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'slave.cfg'),
      [
        '[global]',
        'slaveOnly 1',
        ...commonConfig,
        `uds_address ${slaveSocket}`,
        `message_tag [${slaveTag}]`,
        // Per-sample "master offset ... sN" lines (a summary interval above the sync interval prints "rms" lines).
        'summary_interval -2',
        `[${ifSlave}]`,
        '',
      ].join('\n'),
    );
  } catch (err) {
    await cleanup();
    throw err;
  }

  const startPtp4l = (ns: string, cfg: string, logPath: string): ChildProcess => {
    const fd = openSync(logPath, 'a');
    const child = spawn(
      binaries.ip,
      [
        'netns',
        'exec',
        ns,
        binaries.setpriv,
        '--bounding-set',
        '-sys_time',
        '--',
        binaries.ptp4l,
        '-f',
        join(dir, cfg),
        '-S',
        '-2',
        '-m',
        '-q',
      ],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    children.add(child);
    return child;
  };

  return {
    dir,
    masterSocket,
    slaveSocket,
    slaveLog,
    slaveTag,
    startMaster: () => {
      master = startPtp4l(nsMaster, 'master.cfg', join(dir, 'ptp4l-master.log'));
    },
    killMaster: async () => {
      const child = master;
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      // SIGKILL: ptp4l gets no chance to say goodbye, like a crashed or cut-off grandmaster.
      child.kill('SIGKILL');
      await exited;
    },
    secondMasterSocket,
    secondMasterIdentity,
    startSecondMaster: () => {
      startPtp4l(nsMaster, 'master2.cfg', join(dir, 'ptp4l-master2.log'));
    },
    startSlave: () => {
      startPtp4l(nsSlave, 'slave.cfg', slaveLog);
    },
    pmc: async (command: string) =>
      (await run(binaries.pmc, ['-u', '-b', '0', '-s', slaveSocket, command])).stdout,
    cleanup,
  };
}
