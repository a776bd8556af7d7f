import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Client, credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';
import { whichOnPath } from '../../src/ffmpeg/locate.ts';
import { ModuleService, type HealthCheckResponse, type RoutesResponse } from '../../src/gen/marchproxy/module/v1/module_pb.ts';
import { grpcDefinition } from '../../src/grpc/adapter.ts';
import { ffmpegPublish } from '../support/ffmpeg.ts';
import { startTestServer } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';

const ModuleClient = makeGenericClientConstructor(grpcDefinition(ModuleService), 'ModuleService');

function call<T>(client: Client, method: string): Promise<T> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
  return new Promise((resolve, reject) => {
    fn.call(client, {}, new Metadata(), { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/**
 * A "hardware" ffmpeg (there is no GPU here): with h264_nvenc in its argv, the
 * start-up test encode (lavfi in, null out) succeeds, so detection picks NVENC,
 * but a live run (FLV on pipe:0) fails with `liveFailure`; everything else runs
 * the real ffmpeg. Every argv is appended to `<dir>/calls`.
 */
async function hardwareFfmpeg(liveFailure: string[]): Promise<{ path: string; calls: () => string[] }> {
  const real = await whichOnPath('ffmpeg', process.env['PATH']);
  assert.ok(real, 'ffmpeg on PATH');
  const dir = mkdtempSync(join(tmpdir(), 'fake-nvenc-'));
  const path = join(dir, 'ffmpeg');
  const calls = join(dir, 'calls');
  writeFileSync(calls, '');
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      `echo "$*" >> '${calls}'`,
      'case " $* " in',
      '  *" h264_nvenc "*" pipe:0 "*|*" pipe:0 "*" h264_nvenc "*)',
      ...liveFailure.map((l) => `    echo '${l}' >&2`),
      '    exit 1 ;;',
      '  *" h264_nvenc "*) exit 0 ;;',
      'esac',
      `exec '${real}' "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  return { path, calls: () => readFileSync(calls, 'utf8').split('\n').filter(Boolean) };
}

type Server = Awaited<ReturnType<typeof startTestServer>>;

describe('a hardware encoder that fails while running: the stream falls back to x264', () => {
  const servers: Server[] = [];
  const clients: Client[] = [];
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.close()));
  });
  async function server(ffmpegPath: string): Promise<{ s: Server; client: Client }> {
    const s = await startTestServer({ RTMP_TRANSCODE: 'true', RTMP_TRANSCODE_PRESET: 'ultrafast', RTMP_ENCODER: 'auto', RTMP_FFMPEG_PATH: ffmpegPath });
    servers.push(s);
    const client = new ModuleClient(`127.0.0.1:${s.grpcPort}`, credentials.createInsecure());
    clients.push(client);
    return { s, client };
  }

  test('NVENC session limit: x264 at once, the stream plays, health degraded naming it until it ends', async () => {
    const fake = await hardwareFfmpeg([
      '[h264_nvenc @ 0x55d0c8a3c2c0] OpenEncodeSessionEx failed: out of memory (10): (no details)',
      'Error initializing output stream 0:0 -- Error while opening encoder for output stream #0:0 - maybe incorrect parameters such as bit_rate, rate, width or height',
      'Conversion failed!',
    ]);
    const { s, client } = await server(fake.path);
    assert.equal(s.encoder?.chosen?.encoder, 'nvenc', 'detection picked NVENC');
    assert.match((await call<HealthCheckResponse>(client, 'HealthCheck')).message, /^All systems operational; .*encoder nvenc$/);

    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/gpu_cam`, { seconds: 12 });
    await waitUntil(() => (s.registry.get('gpu_cam')?.transcode?.progress?.frame ?? 0) > 30, 'the stream encoding after the fallback', 20_000);
    const state = s.registry.get('gpu_cam')!.transcode!;
    assert.deepEqual(state.fallback, { from: 'nvenc', reason: 'OpenEncodeSessionEx failed: out of memory (10): (no details)' });
    assert.equal(state.restarts, 1, 'one run with NVENC, then x264 at once');
    const live = fake.calls().filter((c) => c.includes('pipe:0'));
    assert.equal(live.length, 2);
    assert.match(live[0]!, /-c:v:0 h264_nvenc/);
    assert.match(live[1]!, /-c:v:0 libx264 .*-preset:v:0 ultrafast/);
    assert.doesNotMatch(live[1]!, /nvenc|hwupload|scale_cuda/);

    // It plays: the master playlist and segments are served.
    const base = `http://127.0.0.1:${s.httpPort}/streams/gpu_cam`;
    await waitUntil(() => state.status === 'encoding', 'encoding');
    let master = '';
    await waitUntil(() => {
      void fetch(`${base}/master.m3u8`).then(async (r) => (master = r.ok ? await r.text() : ''), () => {});
      return master.includes('#EXT-X-STREAM-INF');
    }, 'master.m3u8', 15_000);
    const variant = master.split('\n').find((l) => l.endsWith('.m3u8'))!;
    let playlist = '';
    await waitUntil(() => {
      void fetch(`${base}/${variant}`).then(async (r) => (playlist = r.ok ? await r.text() : ''), () => {});
      return /^[^#].*\.m4s$/m.test(playlist);
    }, 'a media segment', 15_000);
    const segment = await fetch(`${base}/${playlist.split('\n').find((l) => !l.startsWith('#') && l.endsWith('.m4s'))!}`);
    assert.equal(segment.status, 200);
    assert.ok((await segment.arrayBuffer()).byteLength > 1000);

    const { routes } = await call<RoutesResponse>(client, 'GetRoutes');
    assert.equal(routes[0]!.encoder, 'x264', 'GetRoutes shows the encoder the stream uses now');
    const health = await call<HealthCheckResponse>(client, 'HealthCheck');
    assert.equal(health.status, 'degraded');
    assert.equal(health.errors.length, 1, health.errors.join('; '));
    assert.match(health.errors[0]!, /^stream gpu_cam: nvenc failed \(OpenEncodeSessionEx failed: out of memory \(10\): \(no details\)\), fell back to x264 since \d{4}-\d\d-\d\dT[\d:]+Z$/);
    assert.match(health.message, /^stream gpu_cam: nvenc failed .*fell back to x264 since .*; encoder nvenc$/);

    pub.kill('SIGINT');
    await pub.exited;
    await waitUntil(() => s.registry.get('gpu_cam') === undefined, 'the stream to end');
    // Only the fallback is checked gone: on a busy CI box CPU alone may still read degraded.
    // Health clears a condition once it has been gone a few seconds (hysteresis, so that an NLB does not flap).
    let afterwards = await call<HealthCheckResponse>(client, 'HealthCheck');
    const deadline = Date.now() + 12_000;
    while (afterwards.errors.some((e) => /fell back/.test(e)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      afterwards = await call<HealthCheckResponse>(client, 'HealthCheck');
    }
    assert.ok(!afterwards.errors.some((e) => /fell back/.test(e)), `degraded by the fallback only while that stream lasts: ${afterwards.errors.join('; ')}`);
    assert.ok(afterwards.status === 'healthy' || afterwards.errors.every((e) => /^CPU usage at/.test(e)), afterwards.errors.join('; '));
  });

  test('a hardware encoder that keeps dying without a telling message: x264 after three deaths', async () => {
    const fake = await hardwareFfmpeg(['pipe:0: something odd happened']);
    const { s } = await server(fake.path);
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/flaky`, { seconds: 15 });
    await waitUntil(() => (s.registry.get('flaky')?.transcode?.progress?.frame ?? 0) > 30, 'x264 encoding', 25_000);
    const state = s.registry.get('flaky')!.transcode!;
    assert.equal(state.encoder, 'x264');
    assert.equal(state.fallback?.from, 'nvenc');
    assert.match(state.fallback?.reason ?? '', /^ffmpeg died 3 times within 60 s; last: pipe:0: something odd happened$/);
    assert.equal(fake.calls().filter((c) => c.includes('pipe:0') && c.includes('h264_nvenc')).length, 3);
    assert.equal(s.registry.get('flaky')!.error, undefined, 'not in error: it encodes');
    pub.kill('SIGINT');
    await pub.exited;
  });
});
