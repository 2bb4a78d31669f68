import { open, stat } from 'node:fs/promises';

/**
 * Polling tail of one log file: each `read()` returns the complete lines
 * appended since the previous call. A file that exists when the tail starts
 * is read from its end (history is not replayed); a file that appears later is
 * read from its start. Truncation (size shrinks) and rotation (new inode)
 * restart at offset 0. At most `maxReadBytes` are read per call; the rest
 * waits for the next call, so a burst never blocks a collection.
 */
export class LogTail {
  private offset = 0;
  private inode: number | undefined;
  private partial = '';
  private started = false;

  constructor(
    readonly path: string,
    private readonly maxReadBytes: number,
  ) {}

  /** Records where reading starts; safe to call when the file does not exist yet. */
  async start(): Promise<void> {
    this.started = true;
    const info = await stat(this.path).catch(() => undefined);
    if (info) {
      this.offset = info.size;
      this.inode = info.ino;
    }
  }

  /** New complete lines, or [] when the file is absent; `pendingBytes` is what waits for the next call. */
  async read(): Promise<{ lines: string[]; present: boolean; pendingBytes: number }> {
    if (!this.started) await this.start();
    const info = await stat(this.path).catch(() => undefined);
    if (!info) return { lines: [], present: false, pendingBytes: 0 };
    if (this.inode !== info.ino || info.size < this.offset) {
      this.inode = info.ino;
      this.offset = 0;
      this.partial = '';
    }
    const available = info.size - this.offset;
    if (available <= 0) return { lines: [], present: true, pendingBytes: 0 };
    const length = Math.min(available, this.maxReadBytes);
    const handle = await open(this.path, 'r');
    try {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, this.offset);
      this.offset += bytesRead;
      const text = this.partial + buffer.subarray(0, bytesRead).toString('utf8');
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      // A single line longer than the read budget is cut rather than buffered forever.
      if (this.partial.length > this.maxReadBytes) {
        parts.push(this.partial);
        this.partial = '';
      }
      return { lines: parts, present: true, pendingBytes: info.size - this.offset };
    } finally {
      await handle.close();
    }
  }
}
