import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ModuleServiceHandlers, type HealthReport, type ModuleSources } from '../../src/grpc/module-service.ts';
import { EMPTY_SAMPLE, type SystemSample } from '../../src/metrics/system.ts';
import { StreamEntry } from '../../src/streams/registry.ts';
import { DEFAULT_LADDER } from '../../src/transcode/ladder.ts';
import type { EncoderFallback } from '../../src/transcode/stream-transcoder.ts';

function stream(key: string, encoder: 'nvenc' | 'x264', fallback: EncoderFallback | undefined): StreamEntry {
  const e = new StreamEntry({ key, app: 'live', query: {}, peer: '127.0.0.1:5000', sourceUrl: `rtmp://h/live/${key}` }, 0, 5000);
  e.transcode = {
    status: 'encoding', rungs: DEFAULT_LADDER.slice(2), encoder, fallback, progress: undefined, restarts: 1, droppedGops: 0, droppedFrames: 0, error: undefined,
  };
  return e;
}

function handlers(streams: StreamEntry[], encoder: ModuleSources['encoder']): ModuleServiceHandlers {
  return new ModuleServiceHandlers({
    version: '1.0.0',
    startedAt: 0,
    streams: () => streams,
    totals: () => ({ bytesIn: 0, bytesOut: 0 }),
    rtmpListening: () => true,
    ffmpegUsable: () => true,
    draining: () => false,
    system: { latest: () => ({ ...EMPTY_SAMPLE, cpuPercent: 5, cpuCorePercent: 10, memoryMb: 100, processes: 2 }), on: () => {} },
    outputDir: undefined,
    ...(encoder === undefined ? {} : { encoder }),
    now: () => 5000,
  });
}

describe('ModuleService reports the encoder detection and runtime fallbacks', () => {
  test('HealthCheck names the detected encoder; GetStatus stays healthy', async () => {
    const h = handlers([stream('a', 'nvenc', undefined)], () => ({ summary: 'encoder nvenc', usable: true }));
    const health = await h.healthCheck();
    assert.equal(health.status, 'healthy');
    assert.equal(health.message, 'All systems operational; encoder nvenc');
    assert.equal((await h.getStatus()).status, 'healthy');
    assert.equal((await h.getRoutes()).routes![0]!.encoder, 'nvenc_h264');
  });

  test('a stream that fell back: degraded, naming the stream and the reason; GetRoutes shows x264', async () => {
    const fallback = { from: 'nvenc' as const, reason: 'OpenEncodeSessionEx failed: out of memory (10)' };
    const h = handlers([stream('a', 'nvenc', undefined), stream('b', 'x264', fallback)], () => ({ summary: 'encoder nvenc', usable: true }));
    const health = await h.healthCheck();
    assert.equal(health.status, 'degraded');
    assert.deepEqual(health.errors, ['stream b: nvenc failed (OpenEncodeSessionEx failed: out of memory (10)), fell back to x264 since 1970-01-01T00:00:05Z']);
    assert.equal((await h.getStatus()).status, 'degraded');
    assert.deepEqual((await h.getRoutes()).routes!.map((r) => r.encoder), ['nvenc_h264', 'x264']);
  });

  test('no working encoder: unhealthy', async () => {
    const h = handlers([], () => ({ summary: 'no working encoder (x264: Unknown encoder libx264)', usable: false }));
    const health = await h.healthCheck();
    assert.equal(health.status, 'unhealthy');
    assert.match(health.message ?? '', /^no working video encoder, not even x264 since 1970-01-01T00:00:05Z; no working encoder \(x264: Unknown encoder libx264\)$/);
  });

  test('transcoding off: no encoder in the message', async () => {
    assert.equal((await handlers([], undefined).healthCheck()).message, 'All systems operational');
  });
});

describe('ModuleService health from the latest sample, with hysteresis', () => {
  /** Handlers over a fake sampler and clock; `tick()` is what the real sampler's 'sample' event does. */
  function rig(maxStreams = 4, extra: Partial<ModuleSources> = {}) {
    const clock = { t: Date.UTC(2026, 11, 3, 19, 30, 0) };
    let sample: SystemSample = { ...EMPTY_SAMPLE, cpuPercent: 3, machineCpuPercent: 10 };
    let latestCalls = 0;
    const listeners: (() => void)[] = [];
    const streams: StreamEntry[] = [];
    const h = new ModuleServiceHandlers({
      version: '1.0.0', startedAt: clock.t, streams: () => streams, totals: () => ({ bytesIn: 0, bytesOut: 0 }),
      rtmpListening: () => true, ffmpegUsable: () => true, draining: () => false, outputDir: undefined, maxStreams,
      system: {
        latest: () => {
          latestCalls++;
          return sample;
        },
        on: (_event, listener) => listeners.push(() => listener(sample, clock.t)),
      },
      now: () => clock.t,
      ...extra,
    });
    const reports: HealthReport[] = [];
    h.onReport((r) => reports.push(r));
    return {
      h, clock, streams, reports,
      set: (s: Partial<SystemSample>) => (sample = { ...sample, ...s }),
      latestCalls: () => latestCalls,
      tick: async (ms: number) => {
        clock.t += ms;
        for (const l of listeners) l();
        await new Promise((r) => setImmediate(r));
      },
    };
  }

  test('machine CPU at 97% degrades only once it has held 5 s, naming since when; clears 5 s after it drops', async () => {
    const r = rig();
    r.set({ machineCpuPercent: 97 });
    await r.tick(1000);
    const since = r.clock.t;
    for (let i = 0; i < 4; i++) {
      await r.tick(1000);
      assert.equal((await r.h.healthCheck()).status, 'healthy', `after ${i + 1} s`);
    }
    await r.tick(1000);
    const degraded = await r.h.healthCheck();
    assert.equal(degraded.status, 'degraded');
    assert.deepEqual(degraded.errors, [`CPU usage at 97% since ${new Date(since).toISOString().replace('.000Z', 'Z')}`]);
    assert.equal((await r.h.getStatus()).status, 'degraded');
    r.set({ machineCpuPercent: 20 });
    await r.tick(1000);
    assert.equal((await r.h.healthCheck()).status, 'degraded', 'still reported while the clear hold runs');
    for (let i = 0; i < 5; i++) await r.tick(1000);
    assert.equal((await r.h.healthCheck()).status, 'healthy');
  });

  test('40 GetStatus+HealthCheck pairs on a quiet box are all healthy, and read one sample each', async () => {
    const r = rig();
    await r.tick(1000);
    const before = r.latestCalls();
    for (let i = 0; i < 40; i++) {
      assert.equal((await r.h.getStatus()).status, 'healthy');
      const hc = await r.h.healthCheck();
      assert.equal(hc.status, 'healthy');
    }
    assert.equal(r.latestCalls() - before, 80);
  });

  test('capacity in the message; no slot left: degraded at once and reported to listeners', async () => {
    const r = rig(2);
    await r.tick(1000);
    assert.equal((await r.h.healthCheck()).message, 'All systems operational; 2 of 2 stream slots free, no stream encoding');
    r.streams.push(stream('a', 'x264', undefined), stream('b', 'x264', undefined));
    const hc = await r.h.healthCheck();
    assert.equal(hc.status, 'degraded');
    assert.match(hc.errors![0]!, /^no stream slot free \(2 streams, limit 2\) since 2026-12-03T19:30:01Z$/);
    assert.equal(r.reports.at(-1)?.capacity?.activeStreams, 2);
  });

  test('GetMetrics: gpu_percent is the busier video engine when the driver reports them, else the GPU', async () => {
    const r = rig();
    r.set({ gpuPercent: 90, gpuEncoderPercent: 35, gpuDecoderPercent: 12, cpuPercent: 41.6, memoryMb: 511.6 });
    assert.deepEqual({ ...(await r.h.getMetrics()), streams: [] }, { cpuPercent: 42, gpuPercent: 35, memoryMb: 512, streams: [] });
    r.set({ gpuEncoderPercent: undefined, gpuDecoderPercent: undefined });
    assert.equal((await r.h.getMetrics()).gpuPercent, 90);
  });

  test('starting while the encoder probe runs: unhealthy, reported as starting; healthy the moment it ends', async () => {
    let probing = true;
    const r = rig(4, { starting: () => probing });
    await r.tick(1000);
    const hc = await r.h.healthCheck();
    assert.equal(hc.status, 'unhealthy');
    assert.equal(hc.message, 'starting: proving the video encoder by test encodes since 2026-12-03T19:30:01Z; 4 of 4 stream slots free, no stream encoding');
    assert.deepEqual(hc.errors, ['starting: proving the video encoder by test encodes since 2026-12-03T19:30:01Z']);
    assert.equal(r.reports.at(-1)?.starting, true);
    await r.tick(1000);
    probing = false;
    assert.equal(r.h.report().starting, false);
    assert.deepEqual(await r.h.healthCheck(), { status: 'healthy', message: 'All systems operational; 4 of 4 stream slots free, no stream encoding', errors: [], responseTimeMs: 0 });
  });

  test('GOPs dropped: degraded while they go on; once over, the message names them with both times for 5 min, status healthy', async () => {
    const r = rig();
    const s = stream('cam', 'x264', undefined);
    const state = s.transcode as { droppedGops: number; droppedFrames: number };
    r.streams.push(s);
    await r.tick(1000);
    state.droppedGops = 2;
    state.droppedFrames = 60;
    await r.tick(1000); // 19:30:02
    let hc = await r.h.healthCheck();
    assert.equal(hc.status, 'degraded');
    assert.deepEqual(hc.errors, ['stream cam: ffmpeg fell behind, 2 GOPs (60 video frames) dropped since 2026-12-03T19:30:02Z']);
    for (let i = 0; i < 4; i++) await r.tick(1000);
    state.droppedGops = 6;
    state.droppedFrames = 180;
    await r.tick(1000); // 19:30:07
    assert.deepEqual((await r.h.healthCheck()).errors, ['stream cam: ffmpeg fell behind, 6 GOPs (180 video frames) dropped since 2026-12-03T19:30:02Z']);
    for (let i = 0; i < 9; i++) await r.tick(1000);
    assert.equal((await r.h.healthCheck()).status, 'degraded', '9 s after the last drop the run still goes on');
    // No drop for 10 s: the run is over, the error goes at once, and the message keeps it.
    await r.tick(1000);
    hc = await r.h.healthCheck();
    assert.equal(hc.status, 'healthy');
    assert.deepEqual(hc.errors, []);
    assert.equal(
      hc.message,
      'All systems operational; recovered: stream cam dropped 6 GOPs (180 video frames) between 2026-12-03T19:30:02Z and 2026-12-03T19:30:07Z; 3 of 4 stream slots free, 1 stream encoding, speed not measured yet',
    );
    r.streams.length = 0; // the stream ends: its drops are still told
    await r.tick(200_000);
    assert.match((await r.h.healthCheck()).message!, /recovered: stream cam dropped 6 GOPs/);
    await r.tick(100_000); // 5 min after the last drop
    assert.equal((await r.h.healthCheck()).message, 'All systems operational; 4 of 4 stream slots free, no stream encoding');
  });
});
