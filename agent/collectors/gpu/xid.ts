import { closeSync, constants, openSync, readSync } from 'node:fs';

/** One `NVRM: Xid (PCI:0000:9b:00): 119, pid=…, name=…, <message>` kernel line. */
export interface XidRecord {
  /** PCI address as the kernel printed it, e.g. `0000:9b:00`. */
  readonly pci: string;
  readonly xid: number;
  readonly message: string;
  /** Microseconds since boot, when the line came from /dev/kmsg. */
  readonly bootUs?: number;
}

// Newer drivers print "Xid (PCI:0000:9b:00): 119, …"; older ones "Xid (0000:03:00): 13, …".
const xidPattern =
  /NVRM: Xid \((?:PCI:)?([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}(?:\.[0-7])?)\): (\d+),\s*(.*)$/;

/** Parses a /dev/kmsg record (`pri,seq,usec,flags;text`) or a dmesg line; undefined if it is not an Xid. */
export function parseXidLine(line: string): XidRecord | undefined {
  const match = xidPattern.exec(line);
  if (!match?.[1] || match[2] === undefined) return undefined;
  const kmsg = /^\d+,\d+,(\d+),[^;]*;/.exec(line);
  return {
    pci: match[1].toLowerCase(),
    xid: Number(match[2]),
    message: (match[3] ?? '').trim(),
    ...(kmsg?.[1] ? { bootUs: Number(kmsg[1]) } : {}),
  };
}

/**
 * Canonical `dddd:bb:dd` for matching kernel PCI ids (`0000:9b:00`) against
 * nvidia-smi's (`00000000:9B:00.0`).
 */
export function normalizePci(pci: string): string | undefined {
  const match = /([0-9a-fA-F]{4,8}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})/.exec(pci);
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return `${match[1].slice(-4)}:${match[2]}:${match[3]}`.toLowerCase();
}

/**
 * Reads new kernel log lines without ever blocking: /dev/kmsg is opened
 * non-blocking (one record per read, EAGAIN at the end), a regular file (a
 * recorded log) is followed from its start like `tail -f`. Lines are drained
 * in `poll()`, called from the collector's `collect()`.
 */
export class KernelLogReader {
  private fd: number | undefined;
  private readonly buffer = Buffer.alloc(16 * 1024);
  private partial = '';
  private readonly isKmsg: boolean;
  private position = 0;

  /** Throws (ENOENT, EACCES, EPERM) when the log cannot be opened: the caller reports the source absent. */
  constructor(readonly path: string) {
    this.isKmsg = path === '/dev/kmsg' || path.endsWith('/kmsg');
    this.fd = openSync(path, constants.O_RDONLY | (this.isKmsg ? constants.O_NONBLOCK : 0));
  }

  /** New complete lines since the last call, at most `maxLines`. */
  poll(maxLines = 10_000): string[] {
    const lines: string[] = [];
    if (this.fd === undefined) return lines;
    while (lines.length < maxLines) {
      let n: number;
      try {
        n = this.isKmsg
          ? readSync(this.fd, this.buffer, 0, this.buffer.length, null)
          : readSync(this.fd, this.buffer, 0, this.buffer.length, this.position);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break; // no more records for now
        if (code === 'EPIPE') continue; // records were overwritten before we read them; go on with the next
        throw error;
      }
      if (n === 0) break;
      const chunk = this.buffer.toString('utf8', 0, n);
      if (this.isKmsg) {
        lines.push(chunk.split('\n')[0] ?? '');
        continue;
      }
      this.position += n;
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop() ?? '';
      lines.push(...parts);
    }
    return lines;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
