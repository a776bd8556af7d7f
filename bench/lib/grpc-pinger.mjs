// A unary-call client in its own process, as a load balancer's health checker is, so that the
// bench's own work (its ffmpeg publishers' pipes, its GC) is not in the round trips. Calls each
// target in turn, one call at a time, `calls` rounds after `warmup` rounds, and prints one JSON
// line on stdout: every round trip in ms per target, and this process's own event-loop delay
// (its share of the scheduler). Requests are empty messages; answers stay raw bytes, so no
// protobuf decoding is in the timed path. Usage:
//   node grpc-pinger.mjs <warmup> <calls> <host:port/full.Service/Method> [...]
import { createRequire } from 'node:module';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const { Client, credentials, Metadata } = require('@grpc/grpc-js');
const [warmup, calls, ...specs] = process.argv.slice(2);
const identity = (b) => b;
const channels = new Map();
const targets = specs.map((spec) => {
  const slash = spec.indexOf('/');
  const address = spec.slice(0, slash);
  if (!channels.has(address)) channels.set(address, new Client(address, credentials.createInsecure()));
  return { client: channels.get(address), method: spec.slice(slash) };
});
const call = ({ client, method }) =>
  new Promise((resolve, reject) => {
    const t0 = performance.now();
    client.makeUnaryRequest(method, identity, identity, Buffer.alloc(0), new Metadata(), { deadline: Date.now() + 10_000 }, (err) =>
      err ? reject(err) : resolve(performance.now() - t0));
  });
for (let i = 0; i < Number(warmup); i++) for (const t of targets) await call(t);
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
const ms = targets.map(() => []);
for (let i = 0; i < Number(calls); i++) for (let j = 0; j < targets.length; j++) ms[j].push(await call(targets[j]));
loop.disable();
for (const c of channels.values()) c.close();
process.stdout.write(`${JSON.stringify({ ms, loopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 } })}\n`);
