import { execFile } from 'node:child_process';

/** Runs nvidia-smi once (never through a shell) and resolves its stdout; rejects with stderr/stdout on failure. */
export function runOnce(
  executable: string,
  args: readonly string[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      executable,
      [...args],
      {
        shell: false,
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, LC_ALL: 'C' },
        ...(signal ? { signal } : {}),
      },
      (error, stdout, stderr) => {
        if (error) {
          // nvidia-smi prints its errors ("couldn't communicate with the NVIDIA driver") on stdout.
          const detail = `${String(stderr).trim()} ${String(stdout).trim()}`.trim().slice(0, 300);
          reject(
            new Error(`${executable} ${args.join(' ')} failed: ${detail || error.message}`, { cause: error }),
          );
          return;
        }
        resolve(String(stdout));
      },
    );
  });
}
