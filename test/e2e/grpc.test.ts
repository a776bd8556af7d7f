import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Client, credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';
import pkg from '../../package.json' with { type: 'json' };
import { Health } from '../../src/gen/grpc/health/v1/health_pb.ts';
import {
  ModuleService,
  type HealthCheckResponse,
  type MetricsResponse,
  type RoutesResponse,
  type StatusResponse,
} from '../../src/gen/marchproxy/module/v1/module_pb.ts';
import { grpcDefinition } from '../../src/grpc/adapter.ts';
import { MODULE_SERVICE_ALIAS } from '../../src/grpc/grpc-server.ts';
import { ffmpegPublish, type Publisher } from '../support/ffmpeg.ts';
import { startTestServer, tempOutputDir } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';
import { closedWithin } from '../support/process.ts';

const execFileAsync = promisify(execFile);
const ModuleClient = makeGenericClientConstructor(grpcDefinition(ModuleService), 'ModuleService');
const HealthClient = makeGenericClientConstructor(grpcDefinition(Health), 'Health');
const AliasClient = makeGenericClientConstructor(grpcDefinition(MODULE_SERVICE_ALIAS), 'ModuleService');

function call<T>(client: Client, method: string): Promise<T> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
  return new Promise((resolve, reject) => {
    fn.call(client, {}, new Metadata(), { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

describe('gRPC ModuleService while a real ffmpeg publishes', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let client: Client;
  let pub: Publisher;
  before(async () => {
    server = await startTestServer({ RTMP_TRANSCODE: 'true', RTMP_TRANSCODE_PRESET: 'ultrafast' });
    client = new ModuleClient(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
    pub = ffmpegPublish(`rtmp://127.0.0.1:${server.port}/live/grpc_cam`, { width: 640, height: 360, seconds: 20, videoKbps: 600 });
    await waitUntil(() => (server.registry.get('grpc_cam')?.transcode?.progress?.frame ?? 0) > 60, 'the stream encoding', 20_000);
  });
  after(async () => {
    pub?.kill('SIGINT');
    await pub?.exited.catch(() => {});
    client?.close();
    await server?.close();
  });

  test('GetStatus: module, version, counts, growing byte totals, Go-style uptime', async () => {
    const a = await call<StatusResponse>(client, 'GetStatus');
    assert.equal(a.moduleName, 'rtmp-proxy');
    assert.equal(a.version, pkg.version);
    assert.ok(['healthy', 'degraded'].includes(a.status), a.status);
    assert.equal(a.activeStreams, 1);
    assert.match(a.uptime, /^(\d+h)?(\d+m)?\d+s$/);
    await new Promise((r) => setTimeout(r, 1000));
    const b = await call<StatusResponse>(client, 'GetStatus');
    assert.ok(b.totalBytesIn > a.totalBytesIn && a.totalBytesIn > 50_000n, `${a.totalBytesIn} → ${b.totalBytesIn}`);
    assert.ok(b.totalBytesOut > 0n);
  });

  test('GetRoutes: the source, measured bitrate and resolution, profiles of the planned ladder', async () => {
    const { routes } = await call<RoutesResponse>(client, 'GetRoutes');
    assert.equal(routes.length, 1);
    const r = routes[0]!;
    assert.equal(r.streamKey, 'grpc_cam');
    assert.equal(r.source, `rtmp://127.0.0.1:${server.port}/live/grpc_cam`);
    assert.equal(r.status, 'active');
    assert.equal(r.encoder, 'x264');
    assert.equal(r.inputResolution, 360);
    assert.ok(r.inputBitrate >= 350 && r.inputBitrate <= 1200, `input ${r.inputBitrate} kbps for a 600k+64k publish`);
    assert.ok(r.bytesProcessed > 50_000n);
    assert.deepEqual(
      r.profiles.map((p) => [p.name, p.codec, p.resolution, p.status]),
      [['360p', 'h264', 360, 'encoding']],
    );
    assert.ok(r.profiles[0]!.bitrate > 0 && r.profiles[0]!.bitrate <= 800);
  });

  test('GetMetrics: CPU and memory including ffmpeg, per-stream fps and duration', async () => {
    const m = await call<MetricsResponse>(client, 'GetMetrics');
    assert.ok(m.cpuPercent >= 0 && m.cpuPercent <= 100);
    assert.ok(m.memoryMb > 50, `memory ${m.memoryMb} MB (server + ffmpeg)`);
    assert.equal(m.gpuPercent, 0, 'no GPU on this machine');
    const s = m.streams[0]!;
    assert.equal(s.streamKey, 'grpc_cam');
    assert.ok(s.fps > 5, `fps ${s.fps}`);
    assert.ok(s.duration > 2, `duration ${s.duration}`);
    assert.ok(s.droppedFrames >= 0);
  });

  test('HealthCheck: a status, capacity in the message, errors with since; the same under the package-less name', async () => {
    const h = await call<HealthCheckResponse>(client, 'HealthCheck');
    assert.ok(['healthy', 'degraded'].includes(h.status));
    assert.match(h.message, /; 99 of 100 stream slots free, /);
    assert.ok(h.responseTimeMs >= 0 && h.responseTimeMs < 5000);
    if (h.status === 'healthy') assert.deepEqual(h.errors, []);
    for (const e of h.errors) assert.match(e, / since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const alias = new AliasClient(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
    try {
      const [s, a] = await Promise.all([call<StatusResponse>(client, 'GetStatus'), call<StatusResponse>(alias, 'GetStatus')]);
      assert.equal(a.moduleName, 'rtmp-proxy');
      assert.equal(a.activeStreams, s.activeStreams);
    } finally {
      alias.close();
    }
  });

  test('GetStatus and GetMetrics close together agree on CPU: no fresh interval per call', async () => {
    const a = await call<MetricsResponse>(client, 'GetMetrics');
    await call<StatusResponse>(client, 'GetStatus');
    const b = await call<MetricsResponse>(client, 'GetMetrics');
    // The sampler publishes once a second: two calls a few ms apart read the same sample (or the next one).
    assert.ok(Math.abs(a.cpuPercent - b.cpuPercent) <= 25, `${a.cpuPercent} then ${b.cpuPercent}`);
  });

  test('buf curl lists the service through reflection and calls GetStatus', async () => {
    const base = `http://127.0.0.1:${server.grpcPort}`;
    const list = await execFileAsync('npx', ['buf', 'curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-methods', base]);
    for (const m of ['GetStatus', 'GetRoutes', 'GetMetrics', 'HealthCheck']) {
      assert.match(list.stdout, new RegExp(`^marchproxy\\.module\\.v1\\.ModuleService/${m}$`, 'm'));
      assert.match(list.stdout, new RegExp(`^marchproxy\\.module\\.ModuleService/${m}$`, 'm'));
    }
    const status = await execFileAsync('npx', ['buf', 'curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', '{}', `${base}/marchproxy.module.v1.ModuleService/GetStatus`]);
    assert.equal(JSON.parse(status.stdout).moduleName, 'rtmp-proxy');
  });
});

describe('grpc.health.v1 for load balancers', () => {
  test('Watch sees SERVING once the encoder is proven, then NOT_SERVING on SIGTERM before the process exits 0', async () => {
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as { port: number };
    await new Promise((r) => probe.close(r));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...process.env, RTMP_HOST: '127.0.0.1', RTMP_PORT: '0', RTMP_HTTP_PORT: '0', RTMP_GRPC_HOST: '127.0.0.1',
        RTMP_GRPC_PORT: String(port), RTMP_DRAIN_GRACE_MS: '1000', RTMP_OUTPUT_DIR: tempOutputDir(),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    const exited = closedWithin(child, 60_000, 'the server', () => log);
    try {
      await waitUntil(() => log.includes('gRPC listening'), 'gRPC to listen', 20_000);
      const health = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
      const seen: number[] = [];
      const watch = (health as unknown as Record<string, (req: object) => NodeJS.ReadableStream>)['Watch']!.call(health, { service: ModuleService.typeName });
      watch.on('data', (m: { status: number }) => seen.push(m.status));
      watch.on('error', () => {});
      await waitUntil(() => seen.includes(1), 'SERVING');
      child.kill('SIGTERM');
      await waitUntil(() => seen.includes(2), 'NOT_SERVING', 5000);
      assert.equal(child.exitCode, null, 'NOT_SERVING arrived while the process still ran');
      const [code] = await exited;
      assert.equal(code, 0, log);
      // NOT_SERVING first when the Watch began while the encoder probe still ran (it runs after the listeners open).
      const first = seen[0] === 2 ? seen.slice(1) : seen;
      assert.deepEqual(first.slice(0, 2), [1, 2], `seen ${seen.join(', ')}`);
      health.close();
    } finally {
      child.kill('SIGKILL');
    }
  });
});
