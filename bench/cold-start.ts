/**
 * Figure 5, cold start: from spawn to every listener (RTMP, HTTP, gRPC)
 * accepting connections, and on to healthy (grpc.health.v1 Check "" answers
 * SERVING: the encoder probe, which runs in the background once the listeners
 * are up, has proven the encoder). Default configuration, transcoding on. The
 * single executable `dist/proxy-rtmp` when it is built (`npm run build`): its
 * first start (an empty cache directory: the carried ffmpeg is unpacked) and
 * later starts (unpacked copy verified and reused); then the esbuild bundle run
 * by node. Issue 16's target: listening within 0.3 s of spawn, after the first unpack.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';
import { Health, HealthCheckResponse_ServingStatus as Serving } from '../src/gen/grpc/health/v1/health_pb.ts';
import { grpcDefinition } from '../src/grpc/adapter.ts';
import type { BenchContext, SectionResult } from './lib/context.ts';
import { accepts, fmt, freePort, median, runToEnd, start, waitFor } from './lib/util.ts';

const ROOT = join(import.meta.dirname, '..');
const EXECUTABLE = join(ROOT, 'dist', 'proxy-rtmp');
const HealthClient = makeGenericClientConstructor(grpcDefinition(Health), 'Health');

/** grpc.health Check "" answers SERVING (false on any error: not up yet, NOT_SERVING). */
function serving(client: Client): Promise<boolean> {
  return new Promise((resolve) => {
    (client as unknown as { check: (...a: unknown[]) => void }).check({ service: '' }, new Metadata(), { deadline: Date.now() + 500 }, (err: ServiceError | null, res: { status: number }) =>
      resolve(err === null && res.status === Serving.SERVING));
  });
}

/** One start: seconds from spawn to listening and to SERVING. */
interface Start {
  listening: number;
  /** The server's own process.uptime() when the listeners were up. */
  own: number;
  /** The server's CPU time (all its threads) when the listeners were up: less sensitive to a busy machine than the wall clock. */
  cpu: number;
  healthy: number;
}

async function coldStart(file: string, args: string[], extraEnv: Record<string, string>, cacheDir: string): Promise<Start> {
  const [rtmp, http, grpc] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-cold-'));
  const t0 = performance.now();
  const child = start(file, args, {
    cwd: dir,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: dir,
      RTMP_HOST: '127.0.0.1',
      RTMP_PORT: String(rtmp),
      RTMP_HTTP_HOST: '127.0.0.1',
      RTMP_HTTP_PORT: String(http),
      RTMP_GRPC_HOST: '127.0.0.1',
      RTMP_GRPC_PORT: String(grpc),
      RTMP_OUTPUT_DIR: join(dir, 'out'),
      RTMP_CACHE_DIR: cacheDir,
      RTMP_DRAIN_GRACE_MS: '0',
      ...extraEnv,
    },
  });
  let exited = false;
  void child.closed.then(() => (exited = true));
  const client = new HealthClient(`127.0.0.1:${grpc}`, credentials.createInsecure());
  try {
    await waitFor(async () => {
      if (exited) throw new Error(`${file} exited at start: ${child.output().slice(-2000)}`);
      return (await accepts(grpc)) && (await accepts(rtmp)) && (await accepts(http));
    }, `${file} to listen`, 30_000, 5);
    const listening = (performance.now() - t0) / 1000;
    // The server's own figure: process.uptime() when its last listener was up (the 'listeners up' log line).
    let own: number | undefined;
    let cpu = NaN;
    await waitFor(() => {
      const m = /"sinceStartMs":(\d+)(?:,"cpuMs":(\d+))?[^\n]*"msg":"listeners up"/.exec(child.output());
      own = m === null ? undefined : Number(m[1]) / 1000;
      cpu = m?.[2] === undefined ? NaN : Number(m[2]) / 1000;
      return own !== undefined;
    }, `${file} to log 'listeners up'`, 10_000, 5);
    await waitFor(async () => {
      if (exited) throw new Error(`${file} exited at start: ${child.output().slice(-2000)}`);
      return serving(client);
    }, `${file} to be healthy`, 60_000, 5);
    return { listening, own: own!, cpu, healthy: (performance.now() - t0) / 1000 };
  } finally {
    client.close();
    await child.stop('SIGTERM', 5000);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `runs` starts, after one unmeasured start that warms the page cache. With
 * `fresh`, each start gets an empty cache directory (the carried ffmpeg is
 * unpacked every time); else they share one the warm-up start filled.
 */
async function series(ctx: BenchContext, label: string, file: string, args: string[], runs: number, o: { env?: Record<string, string>; fresh?: boolean } = {}): Promise<string[]> {
  const shared = mkdtempSync(join(tmpdir(), 'proxy-rtmp-cache-'));
  const starts: Start[] = [];
  try {
    await coldStart(file, args, o.env ?? {}, shared);
    for (let i = 0; i < runs; i++) {
      const cache = o.fresh === true ? mkdtempSync(join(tmpdir(), 'proxy-rtmp-cache-')) : shared;
      try {
        starts.push(await coldStart(file, args, o.env ?? {}, cache));
      } finally {
        if (cache !== shared) rmSync(cache, { recursive: true, force: true });
      }
      await sleep(200);
    }
  } finally {
    rmSync(shared, { recursive: true, force: true });
  }
  const ms = (xs: number[]) => xs.map((x) => x * 1000);
  const listening = ms(starts.map((s) => s.listening));
  const healthy = ms(starts.map((s) => s.healthy));
  const own = ms(starts.map((s) => s.own));
  const cpu = ms(starts.map((s) => s.cpu));
  ctx.log(`  ${label.padEnd(58)} listening median ${fmt(median(listening), 0)} ms (${listening.map((x) => fmt(x, 0)).join(', ')}); healthy median ${fmt(median(healthy), 0)} ms`);
  return [label, fmt(median(listening), 0), fmt(Math.min(...listening), 0), fmt(Math.max(...listening), 0), fmt(median(own), 0), fmt(median(cpu), 0), fmt(median(healthy), 0), fmt(Math.max(...healthy), 0), String(runs)];
}

/** Runs figure 5. */
export async function benchColdStart(ctx: BenchContext, build: boolean): Promise<SectionResult> {
  const runs = ctx.quick ? 3 : 7;
  const notes: string[] = [];
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
  if (build && scripts['build'] !== undefined) {
    ctx.log('  npm run build (the single executable)…');
    try {
      await runToEnd('npm', ['run', 'build'], { cwd: ROOT });
    } catch (err) {
      notes.push(`npm run build failed: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`);
    }
  }
  const table = [['binary', 'listening median ms', 'min ms', 'max ms', "server's own median ms", "server's CPU median ms", 'healthy median ms', 'healthy max ms', 'runs']];
  if (existsSync(EXECUTABLE)) {
    table.push(await series(ctx, 'dist/proxy-rtmp, first start (unpacks the carried ffmpeg)', EXECUTABLE, [], runs, { fresh: true }));
    table.push(await series(ctx, 'dist/proxy-rtmp, later starts (unpacked copy reused)', EXECUTABLE, [], runs));
    table.push(await series(ctx, 'dist/proxy-rtmp, RTMP_TRANSCODE=false (no ffmpeg probe)', EXECUTABLE, [], runs, { env: { RTMP_TRANSCODE: 'false' } }));
  } else {
    const why = scripts['build'] === undefined ? 'there is no `npm run build` script yet' : '`npm run build` did not produce it';
    ctx.log(`  dist/proxy-rtmp is not built (${why}): measuring the bundle only`);
    notes.push(`dist/proxy-rtmp is not built (${why}); the figure is the esbuild bundle's, run by node.`);
  }
  table.push(await series(ctx, 'bundle: node proxy-rtmp.cjs', process.execPath, [ctx.bundlePath], runs));
  notes.push(
    `Listening: spawn → RTMP, HTTP and gRPC all accept a TCP connection (polled every 5 ms). Server's own: the server's process.uptime() when its listeners were up (its 'listeners up' log line), which the bench's polling does not slow; server's CPU: its CPU time (every thread) by then, from the same line, which shows the work done when the machine is busy and the wall clock is not to be trusted. Healthy: spawn → grpc.health.v1 Check "" answers SERVING (polled every 5 ms with a real @grpc/grpc-js client), i.e. the encoder probe that runs in the background once the listeners are up (ffmpeg found, unpacked when carried, and the encoder proven by test encodes: x264 here, after NVENC, QSV and VAAPI are ruled out) has ended.`,
    'Default configuration unless noted; HOME and the cache directory are per series (first start: a new empty cache directory for each run). One unmeasured start first warms the page cache.',
    "Issue 16's target: listening within 0.3 s of spawn after the first unpack (the later-starts row).",
  );
  return { title: '5. Cold start to listening and to healthy', table, notes };
}
