/**
 * Builds the agent as it runs on nodes: one minified ES module,
 * `dist/agent/aiops-agent.mjs`, with its dependencies inside (esbuild).
 *
 * Why a bundle and not tsc's per-file output or tsx: every loaded module
 * keeps its source text and function metadata on the V8 heap, and per-file
 * loading adds loader state per file. One minified file with only the code
 * the agent imports cut the agent's resident memory by several MB
 * (docs/performance.md, bench:agent). The chart, the hub's all-in-one mode
 * and bench:agent all run this file with the Node flags and environment in
 * agent/runtime.json, so the benchmark measures what ships.
 *
 * Modules the agent needs only on some nodes (the YAML parser for a YAML
 * config file, proto-loader for the kubelet PodResources API) are required
 * lazily at run time from node_modules instead of being bundled
 * (agent/lazy-require.ts).
 *
 * Usage: `tsx agent/build.ts` (npm run build:agent). Prints the output path.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where the bundle goes, relative to the repository root (the chart runs it from the image's /app). */
export const AGENT_BUNDLE = 'dist/agent/aiops-agent.mjs';

/** Modules loaded lazily with agent/lazy-require.ts: left out of the bundle. */
export const LAZY_MODULES = ['yaml', '@grpc/proto-loader'];

export async function buildAgentBundle(outFile = join(root, AGENT_BUNDLE)): Promise<string> {
  const result = await build({
    entryPoints: [join(root, 'agent/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    // Stack traces in logs keep readable function and class names.
    keepNames: true,
    sourcemap: 'linked',
    external: LAZY_MODULES,
    // CommonJS dependencies (grpc-js, pino, ...) call require() for Node's
    // built-ins; an ES module has no require of its own.
    banner: {
      js: "import { createRequire as __aiopsCreateRequire } from 'node:module'; const require = __aiopsCreateRequire(import.meta.url);",
    },
    outfile: outFile,
    write: false,
    logLevel: 'warning',
  });
  mkdirSync(dirname(outFile), { recursive: true });
  // The Node flags and environment go beside the bundle, for whoever starts it
  // from there (the built hub's all-in-one mode).
  const files = [
    ...result.outputFiles.map((f) => ({ path: f.path, contents: f.contents })),
    {
      path: join(dirname(outFile), 'runtime.json'),
      contents: readFileSync(join(root, 'agent/runtime.json')),
    },
  ];
  // Written beside and renamed, so an agent starting meanwhile never reads half a file.
  for (const file of files) {
    const tmp = `${file.path}.${process.pid}.tmp`;
    writeFileSync(tmp, file.contents);
    renameSync(tmp, file.path);
  }
  return outFile;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${await buildAgentBundle()}\n`);
}
