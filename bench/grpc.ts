/**
 * Figure 4, gRPC latency: GetStatus and HealthCheck of the ModuleService,
 * p50 and p99, called one after another from a real @grpc/grpc-js client while
 * 8 publishers ingest in real time (transcoding off).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';
import { ModuleService } from '../src/gen/marchproxy/module/v1/module_pb.ts';
import { grpcDefinition } from '../src/grpc/adapter.ts';
import type { BenchContext, SectionResult } from './lib/context.ts';
import { publish } from './lib/publish.ts';
import { startOurs } from './lib/servers.ts';
import { fmt, quantile } from './lib/util.ts';

const ModuleClient = makeGenericClientConstructor(grpcDefinition(ModuleService), 'ModuleService');

function call(client: Client, method: string): Promise<number> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    fn.call(client, {}, new Metadata(), { deadline: Date.now() + 10_000 }, (err: ServiceError | null) =>
      err ? reject(err) : resolve(performance.now() - t0));
  });
}

/** Runs figure 4. */
export async function benchGrpc(ctx: BenchContext): Promise<SectionResult> {
  const calls = ctx.quick ? 100 : 400;
  const streams = 8;
  const server = await startOurs(ctx.bundlePath, { transcode: false });
  const client = new ModuleClient(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
  const pubs = Array.from({ length: streams }, (_, i) => publish(ctx.ingestSource.path, server.url(`grpc_${i}`), { realtime: true, loops: -1 }));
  const latencies: Record<string, number[]> = { getStatus: [], healthCheck: [] };
  try {
    await sleep(2000);
    for (let i = 0; i < 20; i++) {
      await call(client, 'getStatus');
      await call(client, 'healthCheck');
    }
    for (let i = 0; i < calls; i++) {
      latencies['getStatus']!.push(await call(client, 'getStatus'));
      latencies['healthCheck']!.push(await call(client, 'healthCheck'));
    }
  } finally {
    for (const p of pubs) p.kill('SIGINT');
    await Promise.all(pubs.map((p) => p.done));
    client.close();
    await server.stop();
  }
  const table = [['method', 'p50 ms', 'p99 ms', 'max ms', 'calls']];
  for (const [method, values] of Object.entries(latencies)) {
    const name = method === 'getStatus' ? 'GetStatus' : 'HealthCheck';
    table.push([name, fmt(quantile(values, 0.5), 2), fmt(quantile(values, 0.99), 2), fmt(Math.max(...values), 2), String(values.length)]);
    ctx.log(`  ${name.padEnd(12)} p50 ${fmt(quantile(values, 0.5), 2)} ms  p99 ${fmt(quantile(values, 0.99), 2)} ms`);
  }
  return {
    title: '4. gRPC latency while 8 streams ingest',
    table,
    notes: [
      `${streams} publishers \`ffmpeg -re -stream_loop -1 -i ${ctx.ingestSource.width}x${ctx.ingestSource.height} ${ctx.ingestSource.videoKbps} kbps -c copy\`, transcoding off; one plaintext @grpc/grpc-js client on 127.0.0.1 calls the two methods alternately, one call at a time, after 20 warm-up rounds.`,
      'Both methods read the system figures (/proc for the server and its children), which is most of their cost.',
    ],
  };
}
