/**
 * Figure 4, gRPC latency: HealthCheck, GetStatus and GetMetrics of the
 * ModuleService and grpc.health.v1 Check, p50 and p99, called one after
 * another from a real @grpc/grpc-js client while 8 publishers ingest in real
 * time (transcoding off). Issue 16's target: HealthCheck p99 ≤ 2 ms.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';
import { Health } from '../src/gen/grpc/health/v1/health_pb.ts';
import { ModuleService } from '../src/gen/marchproxy/module/v1/module_pb.ts';
import { grpcDefinition } from '../src/grpc/adapter.ts';
import { ModuleServiceHandlers } from '../src/grpc/module-service.ts';
import { EMPTY_SAMPLE } from '../src/metrics/system.ts';
import { StreamEntry } from '../src/streams/registry.ts';
import type { BenchContext, SectionResult } from './lib/context.ts';
import { publish } from './lib/publish.ts';
import { startOurs } from './lib/servers.ts';
import { fmt, quantile } from './lib/util.ts';

const ModuleClient = makeGenericClientConstructor(grpcDefinition(ModuleService), 'ModuleService');
const HealthClient = makeGenericClientConstructor(grpcDefinition(Health), 'Health');

/** One unary call; resolves with its round trip in ms and the answer. */
function call(client: Client, method: string, req: object = {}): Promise<{ ms: number; res: Record<string, unknown> }> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    fn.call(client, req, new Metadata(), { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res: Record<string, unknown>) =>
      err ? reject(err) : resolve({ ms: performance.now() - t0, res }));
  });
}

/** The methods measured: label, client, method name. */
type Method = [label: string, client: Client, method: string];

/**
 * HealthCheck's own time, without gRPC: the handler called in this process
 * over 8 live-looking streams (transcoding, with progress), µs per call.
 */
async function handlerMicros(calls: number): Promise<{ p50: number; p99: number }> {
  const now = Date.now();
  const streams = Array.from({ length: 8 }, (_, i) => {
    const e = new StreamEntry({ key: `s${i}`, app: 'live', query: {}, peer: '127.0.0.1:1', sourceUrl: `rtmp://h/live/s${i}` }, now - 60_000, 5000);
    e.transcode = {
      status: 'encoding', rungs: [], encoder: 'x264', fallback: undefined, restarts: 0, droppedGops: i, droppedFrames: 30 * i, error: undefined,
      progress: { frame: 1800, fps: 30, bitrateKbps: 3000, totalSize: 0, outTimeSeconds: 60, dupFrames: 0, dropFrames: 0, speed: 1.2, progress: 'continue' },
    };
    return e;
  });
  const handlers = new ModuleServiceHandlers({
    version: 'bench', startedAt: now, streams: () => streams, totals: () => ({ bytesIn: 0, bytesOut: 0 }),
    rtmpListening: () => true, ffmpegUsable: () => true, draining: () => false, starting: () => false, maxStreams: 100, outputDir: undefined,
    encoder: () => ({ summary: 'encoder x264', usable: true }),
    system: { latest: () => ({ ...EMPTY_SAMPLE, cpuPercent: 40, machineCpuPercent: 50, memoryMb: 300 }), on: () => {} },
  });
  for (let i = 0; i < 1000; i++) await handlers.healthCheck();
  const us: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await handlers.healthCheck();
    us.push((performance.now() - t0) * 1000);
  }
  return { p50: quantile(us, 0.5), p99: quantile(us, 0.99) };
}

/** Runs figure 4. */
export async function benchGrpc(ctx: BenchContext): Promise<SectionResult> {
  const calls = ctx.quick ? 200 : 1000;
  const streams = 8;
  const server = await startOurs(ctx.bundlePath, { transcode: false });
  const target = `127.0.0.1:${server.grpcPort}`;
  const module = new ModuleClient(target, credentials.createInsecure());
  const health = new HealthClient(target, credentials.createInsecure());
  const methods: Method[] = [
    ['HealthCheck', module, 'healthCheck'],
    ['GetStatus', module, 'getStatus'],
    ['GetMetrics', module, 'getMetrics'],
    ['grpc.health Check', health, 'check'],
  ];
  const pubs = Array.from({ length: streams }, (_, i) => publish(ctx.ingestSource.path, server.url(`grpc_${i}`), { realtime: true, loops: -1 }));
  const latencies = new Map<string, number[]>(methods.map(([label]) => [label, []]));
  let serverMs = 0;
  let live = 0;
  try {
    // Long enough for every publisher to be ingesting and the sampler to have a full window.
    await sleep(6000);
    for (let i = 0; i < 20; i++) for (const [, client, method] of methods) await call(client, method);
    live = ((await call(module, 'getStatus')).res['activeStreams'] as number | undefined) ?? 0;
    for (let i = 0; i < calls; i++) {
      for (const [label, client, method] of methods) {
        const { ms, res } = await call(client, method);
        latencies.get(label)!.push(ms);
        if (method === 'healthCheck') serverMs = Math.max(serverMs, Number(res['responseTimeMs'] ?? 0));
      }
    }
  } finally {
    for (const p of pubs) p.kill('SIGINT');
    await Promise.all(pubs.map((p) => p.done));
    module.close();
    health.close();
    await server.stop();
  }
  const table = [['method', 'p50 ms', 'p99 ms', 'max ms', 'calls']];
  for (const [label, values] of latencies) {
    table.push([label, fmt(quantile(values, 0.5), 2), fmt(quantile(values, 0.99), 2), fmt(Math.max(...values), 2), String(values.length)]);
    ctx.log(`  ${label.padEnd(18)} p50 ${fmt(quantile(values, 0.5), 2)} ms  p99 ${fmt(quantile(values, 0.99), 2)} ms`);
  }
  const p99 = quantile(latencies.get('HealthCheck')!, 0.99);
  const own = await handlerMicros(ctx.quick ? 2000 : 20_000);
  ctx.log(`  HealthCheck handler alone: p50 ${fmt(own.p50, 1)} µs  p99 ${fmt(own.p99, 1)} µs`);
  return {
    title: '4. gRPC latency while 8 streams ingest',
    table,
    notes: [
      `${streams} publishers \`ffmpeg -re -stream_loop -1 -i ${ctx.ingestSource.width}x${ctx.ingestSource.height} ${ctx.ingestSource.videoKbps} kbps -c copy\`, transcoding off (${live} streams live when measuring); one plaintext @grpc/grpc-js client on 127.0.0.1 calls the four methods in turn, one call at a time, ${calls} rounds after 20 warm-up rounds.`,
      `Round trips as the client sees them. Issue 16's target, HealthCheck p99 ≤ 2 ms: ${p99 <= 2 ? 'met' : 'not met'} in this run (${fmt(p99, 2)} ms). The server's own time (response_time_ms) was at most ${serverMs} ms.`,
      `HealthCheck's own time without gRPC (the handler called in the bench's process over 8 transcoding streams, ${ctx.quick ? 2000 : 20_000} calls): p50 ${fmt(own.p50, 1)} µs, p99 ${fmt(own.p99, 1)} µs.`,
      'Every method reads the latest sample of the one 1 s system sampler: none walks /proc or spawns nvidia-smi per call.',
    ],
  };
}
