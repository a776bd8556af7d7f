import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ModuleServiceHandlers, type ModuleSources } from '../../src/grpc/module-service.ts';
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
    system: async () => ({ cpuPercent: 5, cpuCorePercent: 10, memoryMb: 100, gpuPercent: 0, processes: 2 }),
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
    assert.deepEqual(health.errors, ['stream b: nvenc failed (OpenEncodeSessionEx failed: out of memory (10)), fell back to x264']);
    assert.equal((await h.getStatus()).status, 'degraded');
    assert.deepEqual((await h.getRoutes()).routes!.map((r) => r.encoder), ['nvenc_h264', 'x264']);
  });

  test('no working encoder: unhealthy', async () => {
    const h = handlers([], () => ({ summary: 'no working encoder (x264: Unknown encoder libx264)', usable: false }));
    const health = await h.healthCheck();
    assert.equal(health.status, 'unhealthy');
    assert.match(health.message ?? '', /^no working video encoder, not even x264; no working encoder \(x264: Unknown encoder libx264\)$/);
  });

  test('transcoding off: no encoder in the message', async () => {
    assert.equal((await handlers([], undefined).healthCheck()).message, 'All systems operational');
  });
});
