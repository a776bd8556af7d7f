import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Client, credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';
import pkg from '../../package.json' with { type: 'json' };
import { ModuleService, type MetricsResponse, type StatusResponse } from '../../src/gen/marchproxy/module/v1/module_pb.ts';
import { grpcDefinition } from '../../src/grpc/adapter.ts';
import { ffmpegPublish } from '../support/ffmpeg.ts';
import { tempOutputDir } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';
import { closedWithin } from '../support/process.ts';

const ModuleClient = makeGenericClientConstructor(grpcDefinition(ModuleService), 'ModuleService');

/**
 * The deno executable of the `deno` devDependency. Its install_api places the
 * platform binary at node_modules/deno/deno (what its postinstall would do when
 * npm runs no install scripts) and returns that path: the binary itself, not the
 * bin.cjs wrapper, so signals reach Deno.
 */
const DENO: string = (createRequire(import.meta.url)('deno/install_api.cjs') as { runInstall(): string }).runInstall();
const denoJson = JSON.parse(readFileSync('deno.json', 'utf8')) as { imports: Record<string, string>; tasks: Record<string, string>; nodeModulesDir: string };

function call<T>(client: Client, method: string): Promise<T> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
  return new Promise((resolve, reject) => {
    fn.call(client, {}, new Metadata(), { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/** Bare package names imported anywhere under src/ (node: builtins excluded). */
function importedPackages(dir: string, found = new Set<string>()): Set<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) importedPackages(path, found);
    else if (path.endsWith('.ts')) {
      for (const m of readFileSync(path, 'utf8').matchAll(/(?:from|import\()\s*'([^.'/][^']*|@[^']+)'/g)) {
        const spec = m[1]!;
        if (spec.startsWith('node:')) continue;
        found.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
  }
  return found;
}

describe('Deno', () => {
  test('deno.json maps every package src/ imports to npm: at the range package.json installs', () => {
    assert.equal(denoJson.nodeModulesDir, 'manual', 'Deno uses the node_modules npm ci made');
    const ranges: Record<string, string> = { ...pkg.dependencies };
    for (const name of importedPackages('src')) {
      assert.ok(name in ranges, `${name} is a dependency in package.json`);
      assert.equal(denoJson.imports[name], `npm:${name}@${ranges[name]}`, `deno.json imports["${name}"]`);
    }
    for (const [spec, target] of Object.entries(denoJson.imports)) {
      const m = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)@([^/]+)\/?$/.exec(target);
      assert.ok(m, `${spec} → ${target} is an npm: specifier`);
      assert.equal(m[2], ranges[m[1]!], `${spec}: same range as package.json`);
    }
  });

  test('the deno devDependency runs here, at the pinned version', async () => {
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
      execFile(DENO, ['--version'], (err, stdout) => (err ? reject(err) : resolve({ stdout }))));
    assert.match(stdout, new RegExp(`^deno ${pkg.devDependencies.deno.replaceAll('.', '\\.')} `));
  });

  test('deno task start runs the server: a real ffmpeg publishes, GetStatus sees it, SIGTERM exits 0', async (t) => {
    assert.match(denoJson.tasks['start']!, / --cached-only .* src\/main\.ts$/, 'offline, the same entry as npm start');
    const started = Date.now();
    const denoDir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-deno-'));
    const child = spawn(DENO, ['task', 'start'], {
      env: {
        ...process.env,
        // A fresh Deno cache: with --cached-only this proves nothing is fetched.
        DENO_DIR: denoDir,
        NO_COLOR: '1',
        RTMP_HOST: '127.0.0.1', RTMP_PORT: '0', RTMP_HTTP_HOST: '127.0.0.1', RTMP_HTTP_PORT: '0', RTMP_GRPC_HOST: '127.0.0.1', RTMP_GRPC_PORT: '0',
        RTMP_DRAIN_GRACE_MS: '0', RTMP_OUTPUT_DIR: tempOutputDir(), RTMP_LOG_FORMAT: 'json',
        // Transcoding on with one small rung: ffmpeg runs under Deno's child_process too.
        RTMP_TRANSCODE: 'true', RTMP_ENCODER: 'x264', RTMP_TRANSCODE_PRESET: 'ultrafast',
        RTMP_LADDER: JSON.stringify([{ name: '240p', width: 320, height: 240, bitrateKbps: 300, fps: 30, codec: 'h264' }]),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: on a failure the task runner and the server it started are killed together.
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = closedWithin(child, 60_000, 'the server under Deno', () => out);
    const lines = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const port = (msg: string) => Number(lines().find((l) => l['msg'] === msg)?.['port']);
    let client: Client | undefined;
    try {
      await waitUntil(() => out.includes('gRPC listening'), `Deno to start the server (${out})`, 20_000);
      t.diagnostic(`Deno start-up to listening: ${Date.now() - started} ms`);
      const start = lines().find((l) => l['msg'] === 'starting proxy-rtmp');
      t.diagnostic(`process.version under Deno: ${String(start?.['node'])}`);
      client = new ModuleClient(`127.0.0.1:${port('gRPC listening')}`, credentials.createInsecure());
      const pub = ffmpegPublish(`rtmp://127.0.0.1:${port('RTMP listening')}/live/deno_cam`, { seconds: 3 });
      let status: StatusResponse | undefined;
      await waitUntil(() => {
        void call<StatusResponse>(client!, 'GetStatus').then((s) => (status = s), () => {});
        return status !== undefined && status.activeStreams === 1 && status.totalBytesIn > 0n;
      }, `GetStatus to show the stream (${out})`, 10_000);
      assert.equal(status!.moduleName, 'rtmp-proxy');
      assert.equal(status!.version, pkg.version);
      const metrics = await call<MetricsResponse>(client, 'GetMetrics');
      t.diagnostic(`GetMetrics under Deno: cpu ${metrics.cpuPercent.toFixed(1)}%, memory ${metrics.memoryMb.toFixed(0)} MB`);
      assert.ok(metrics.memoryMb > 0, 'memory measured under Deno');
      // HLS written by the ffmpeg Deno spawned, served by Deno's node:http.
      const master = `http://127.0.0.1:${port('HTTP listening')}/streams/deno_cam/master.m3u8`;
      let body = '';
      await waitUntil(() => {
        void fetch(master).then(async (r) => (body = r.ok ? await r.text() : ''), () => {});
        return body.startsWith('#EXTM3U');
      }, 'the master playlist', 10_000);
      assert.match(body, /RESOLUTION=320x240/);
      assert.equal(await pub.exited, 0, pub.stderr());
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0, out);
      assert.ok(lines().some((l) => l['msg'] === 'stopped'), 'the drain ran to its end');
    } finally {
      client?.close();
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      rmSync(denoDir, { recursive: true, force: true });
    }
  });
});
