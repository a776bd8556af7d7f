/**
 * Figure 5, cold start: from spawn to every listener (RTMP, HTTP, gRPC)
 * accepting connections, default configuration (transcoding on, so the
 * ffmpeg probe at start is included). The single executable `dist/proxy-rtmp`
 * when it is built (`npm run build`), and the esbuild bundle run by node.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchContext, SectionResult } from './lib/context.ts';
import { accepts, fmt, freePort, median, runToEnd, start, waitFor } from './lib/util.ts';

const ROOT = join(import.meta.dirname, '..');
const EXECUTABLE = join(ROOT, 'dist', 'proxy-rtmp');

async function coldStart(file: string, args: string[], extraEnv: Record<string, string>): Promise<number> {
  const [rtmp, http, grpc] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-cold-'));
  const t0 = performance.now();
  const child = start(file, args, {
    cwd: dir,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      RTMP_HOST: '127.0.0.1',
      RTMP_PORT: String(rtmp),
      RTMP_HTTP_HOST: '127.0.0.1',
      RTMP_HTTP_PORT: String(http),
      RTMP_GRPC_HOST: '127.0.0.1',
      RTMP_GRPC_PORT: String(grpc),
      RTMP_OUTPUT_DIR: join(dir, 'out'),
      RTMP_DRAIN_GRACE_MS: '0',
      ...extraEnv,
    },
  });
  let exited = false;
  void child.closed.then(() => (exited = true));
  try {
    await waitFor(async () => {
      if (exited) throw new Error(`${file} exited at start: ${child.output().slice(-2000)}`);
      return (await accepts(grpc)) && (await accepts(rtmp)) && (await accepts(http));
    }, `${file} to listen`, 30_000, 5);
    return (performance.now() - t0) / 1000;
  } finally {
    await child.stop('SIGTERM', 5000);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function series(ctx: BenchContext, label: string, file: string, args: string[], runs: number, env: Record<string, string> = {}): Promise<string[]> {
  const s: number[] = [];
  await coldStart(file, args, env); // page cache warm: every later run starts from the same state
  for (let i = 0; i < runs; i++) {
    s.push(await coldStart(file, args, env));
    await sleep(200);
  }
  ctx.log(`  ${label.padEnd(52)} median ${fmt(median(s) * 1000, 0)} ms (${s.map((x) => fmt(x * 1000, 0)).join(', ')})`);
  return [label, fmt(median(s) * 1000, 0), fmt(Math.min(...s) * 1000, 0), fmt(Math.max(...s) * 1000, 0), String(runs)];
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
  const table = [['binary', 'median ms', 'min ms', 'max ms', 'runs']];
  if (existsSync(EXECUTABLE)) {
    table.push(await series(ctx, 'dist/proxy-rtmp (single executable)', EXECUTABLE, [], runs));
    table.push(await series(ctx, 'dist/proxy-rtmp, RTMP_TRANSCODE=false (no ffmpeg probe)', EXECUTABLE, [], runs, { RTMP_TRANSCODE: 'false' }));
  } else {
    const why = scripts['build'] === undefined ? 'there is no `npm run build` script yet' : '`npm run build` did not produce it';
    ctx.log(`  dist/proxy-rtmp is not built (${why}): measuring the bundle only`);
    notes.push(`dist/proxy-rtmp is not built (${why}); the figure is the esbuild bundle's, run by node.`);
  }
  table.push(await series(ctx, 'bundle: node proxy-rtmp.cjs', process.execPath, [ctx.bundlePath], runs));
  notes.push(
    'Spawn → RTMP, HTTP and gRPC all accept a TCP connection (polled every 5 ms); default configuration (transcoding on: ffmpeg is probed and the encoder proved by a test encode before listening) unless noted. One unmeasured run first warms the page cache.',
  );
  return { title: '5. Cold start to listening', table, notes };
}
