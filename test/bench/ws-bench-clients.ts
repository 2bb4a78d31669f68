/**
 * bench:ws clients (child process): N real ws clients, client i subscribed
 * with clientSelector(i). Latency = receipt time − sample timestamp (set by
 * the load generator when it sent the batch). Usage: ws-bench-clients.ts <url> <token> <n>.
 */
import { WebSocket } from 'ws';
import { LatencyHistogram, clientSelector } from './ws-bench-shape.js';

const [url, token, n] = process.argv.slice(2);
if (!url || !token || !n) throw new Error('usage: ws-bench-clients.ts <url> <token> <n>');
const count = Number(n);
const histogram = new LatencyHistogram();
let frames = 0;
let acks = 0;
let closed = 0;

interface DataFrame {
  type: string;
  subs?: Record<string, { samples?: [number, number, number][] }>;
}

function open(i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url!, { headers: { authorization: `Bearer ${token}` } });
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'subscribe', id: 's', stream: 'samples', selector: clientSelector(i) }));
      resolve();
    });
    ws.on('error', reject);
    ws.on('close', () => closed++);
    ws.on('message', (data) => {
      const now = Date.now();
      const msg = JSON.parse(data.toString()) as DataFrame;
      if (msg.type === 'ack') acks++;
      if (msg.type !== 'data' || !msg.subs) return;
      frames++;
      for (const sub of Object.values(msg.subs)) {
        for (const t of sub.samples ?? []) histogram.record(now - t[1]);
      }
    });
  });
}

for (let i = 0; i < count; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => open(i + k)));
}
while (acks < count) await new Promise((r) => setTimeout(r, 50));
process.send!({ type: 'ready' });
let mark = { cpu: process.cpuUsage(), atMs: performance.now() };
process.on('message', (m: { type: string }) => {
  if (m.type === 'reset') {
    histogram.reset();
    frames = 0;
    mark = { cpu: process.cpuUsage(), atMs: performance.now() };
  } else if (m.type === 'report') {
    const cpu = process.cpuUsage(mark.cpu);
    const cpuPercent = ((cpu.user + cpu.system) / 1000 / (performance.now() - mark.atMs)) * 100;
    process.send!({ type: 'report', ...histogram.percentiles(), frames, closed, cpuPercent });
  }
});
process.on('disconnect', () => process.exit(0));
