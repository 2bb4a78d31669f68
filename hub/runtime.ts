/**
 * Node flags the hub runs with, wherever it runs (the chart, `npm start`,
 * `npm run start:hub`) and as bench:ws measures it: a 64 MiB young
 * generation. The stream allocates short-lived frames and arrays at a high
 * rate; with V8's default (16 MiB) they are promoted and collected by major
 * GCs, whose pauses put seconds into ingest latency at 50,000 samples/s to
 * 1,000 clients (docs/performance.md, "Live streaming"). runtime.test.ts
 * keeps the chart and package.json in step with this list.
 */
export const HUB_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
