import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evaluateHealth, formatUptime, healthConditions, slowEncoders, streamMetrics, streamRoutes, summarizeHealth, type HealthInputs } from '../../src/grpc/module-figures.ts';
import { capacityOf, describeCapacity, freeSlots, slowestEncoderSpeed } from '../../src/metrics/capacity.ts';
import { StreamEntry } from '../../src/streams/registry.ts';
import type { TranscodeState } from '../../src/transcode/stream-transcoder.ts';
import { DEFAULT_LADDER } from '../../src/transcode/ladder.ts';

describe('uptime like Go Duration.String()', () => {
  const cases: [number, string][] = [
    [0, '0s'], [999, '0s'], [45_000, '45s'], [123_000, '2m3s'], [3_600_000, '1h0m0s'],
    [(2 * 3600 + 45 * 60 + 30) * 1000, '2h45m30s'], [100 * 3600_000 + 1000, '100h0m1s'],
  ];
  for (const [ms, want] of cases) test(`${ms} ms → ${want}`, () => assert.equal(formatUptime(ms), want));
});

describe('health rules', () => {
  const ok: HealthInputs = {
    rtmpListening: true, ffmpegUsable: true, cpuPercent: 20, diskUsedFraction: 0.1, streamErrors: [], slowEncoders: [], draining: false,
    encoder: undefined, encoderUsable: true, encoderFallbacks: [],
  };
  test('healthy', () => assert.deepEqual(evaluateHealth(ok), { status: 'healthy', message: 'All systems operational', errors: [] }));
  test('degraded: CPU at 90% or more', () => {
    const h = evaluateHealth({ ...ok, cpuPercent: 95 });
    assert.equal(h.status, 'degraded');
    assert.deepEqual(h.errors, ['CPU usage at 95%']);
    assert.equal(evaluateHealth({ ...ok, cpuPercent: 89.4 }).status, 'healthy');
  });
  test('degraded: disk, slow encoder and a stream in error, each listed', () => {
    const h = evaluateHealth({
      ...ok, diskUsedFraction: 0.93, slowEncoders: [{ key: 'a', speed: 0.8 }], streamErrors: [{ key: 'b', error: 'ffmpeg failed' }],
    });
    assert.equal(h.status, 'degraded');
    assert.deepEqual(h.errors, ['output disk 93% full', 'stream a: encoder at 0.80x, slower than realtime', 'stream b: ffmpeg failed']);
    assert.match(h.message, /^3 problems: output disk 93% full/);
  });
  test('unhealthy: listener down, no ffmpeg, draining', () => {
    assert.deepEqual(evaluateHealth({ ...ok, rtmpListening: false }).status, 'unhealthy');
    const h = evaluateHealth({ ...ok, ffmpegUsable: false, cpuPercent: 99 });
    assert.equal(h.status, 'unhealthy');
    assert.equal(h.message, 'no usable ffmpeg');
    assert.deepEqual(h.errors, ['no usable ffmpeg', 'CPU usage at 99%']);
    assert.equal(evaluateHealth({ ...ok, draining: true }).status, 'unhealthy');
  });
  test('the encoder detection ends the message; its rejected candidates are not errors', () => {
    const encoder = 'encoder x264 (nvenc: Cannot load libcuda.so.1 | qsv: Device creation failed: -542398533)';
    assert.deepEqual(evaluateHealth({ ...ok, encoder }), { status: 'healthy', message: `All systems operational; ${encoder}`, errors: [] });
    const degraded = evaluateHealth({ ...ok, encoder: 'encoder nvenc', cpuPercent: 97 });
    assert.deepEqual(degraded, { status: 'degraded', message: 'CPU usage at 97%; encoder nvenc', errors: ['CPU usage at 97%'] });
  });
  test('unhealthy: not even x264 encodes', () => {
    const h = evaluateHealth({ ...ok, encoder: 'no working encoder (x264: Unknown encoder libx264)', encoderUsable: false });
    assert.equal(h.status, 'unhealthy');
    assert.equal(h.message, 'no working video encoder, not even x264; no working encoder (x264: Unknown encoder libx264)');
    assert.deepEqual(h.errors, ['no working video encoder, not even x264']);
    assert.deepEqual(evaluateHealth({ ...ok, ffmpegUsable: false, encoderUsable: false }).errors, ['no usable ffmpeg'], 'one cause, one line');
  });
  test('degraded: a stream that fell back to x264, naming the stream and the reason', () => {
    const h = evaluateHealth({
      ...ok, encoder: 'encoder nvenc', encoderFallbacks: [{ key: 'cam', from: 'nvenc', reason: 'OpenEncodeSessionEx failed: out of memory (10)' }],
    });
    assert.equal(h.status, 'degraded');
    assert.deepEqual(h.errors, ['stream cam: nvenc failed (OpenEncodeSessionEx failed: out of memory (10)), fell back to x264']);
    assert.equal(h.message, 'stream cam: nvenc failed (OpenEncodeSessionEx failed: out of memory (10)), fell back to x264; encoder nvenc');
  });
  test('capacity ends the message; no slot left degrades at once', () => {
    const capacity = { maxStreams: 10, activeStreams: 3, encodingStreams: 3, slowestEncoderSpeed: 1.453 };
    assert.deepEqual(evaluateHealth({ ...ok, capacity }), {
      status: 'healthy', message: 'All systems operational; 7 of 10 stream slots free, slowest encoder at 1.45x realtime', errors: [],
    });
    const full = healthConditions({ ...ok, capacity: { ...capacity, activeStreams: 10 } });
    assert.deepEqual(full, [{ id: 'no-slot', level: 'degraded', text: 'no stream slot free (10 streams, limit 10)', immediate: true }]);
    const h = summarizeHealth(full.map((c) => ({ ...c, since: Date.UTC(2026, 11, 3, 19, 30, 5) })), { encoder: 'encoder x264', capacity: { ...capacity, activeStreams: 10 } });
    assert.deepEqual(h, {
      status: 'degraded',
      message: 'no stream slot free (10 streams, limit 10) since 2026-12-03T19:30:05Z; 0 of 10 stream slots free, slowest encoder at 1.45x realtime; encoder x264',
      errors: ['no stream slot free (10 streams, limit 10) since 2026-12-03T19:30:05Z'],
    });
  });
  test('starting: unhealthy while the encoder probe runs, first in the message, cleared at once when it ends', () => {
    const c = healthConditions({ ...ok, starting: true });
    assert.deepEqual(c, [{ id: 'starting', level: 'unhealthy', text: 'starting: proving the video encoder by test encodes', immediate: true, transient: true }]);
    const h = summarizeHealth(c.map((x) => ({ ...x, since: Date.UTC(2026, 11, 3, 21, 0, 0) })), { encoder: undefined, capacity: { maxStreams: 5, activeStreams: 1, encodingStreams: 0, slowestEncoderSpeed: undefined } });
    assert.deepEqual(h, {
      status: 'unhealthy',
      message: 'starting: proving the video encoder by test encodes since 2026-12-03T21:00:00Z; 4 of 5 stream slots free, no stream encoding',
      errors: ['starting: proving the video encoder by test encodes since 2026-12-03T21:00:00Z'],
    });
  });
  test('GOP drops: degraded at once while they go on; once over, named in the message with both times, status healthy', () => {
    const at = (s: number) => Date.UTC(2026, 11, 3, 21, 0, s);
    const episode = { key: 'cam', gops: 6, frames: 180, from: at(5), to: at(17) };
    const going = healthConditions({ ...ok, gopDrops: { ongoing: [episode], recent: [] } });
    assert.deepEqual(going, [{ id: 'drops:cam', level: 'degraded', text: 'stream cam: ffmpeg fell behind, 6 GOPs (180 video frames) dropped', immediate: true, transient: true }]);
    const over = evaluateHealth({ ...ok, gopDrops: { ongoing: [], recent: [episode, { ...episode, key: 'b', gops: 1, frames: 1 }] } });
    assert.deepEqual(over, {
      status: 'healthy',
      message:
        'All systems operational; recovered: stream cam dropped 6 GOPs (180 video frames) between 2026-12-03T21:00:05Z and 2026-12-03T21:00:17Z; ' +
        'recovered: stream b dropped 1 GOP (1 video frame) between 2026-12-03T21:00:05Z and 2026-12-03T21:00:17Z',
      errors: [],
    });
  });
  test('conditions carry stable ids; only the fatal ones, the slot rule and a fallback are immediate', () => {
    const c = healthConditions({
      ...ok, rtmpListening: false, cpuPercent: 91, slowEncoders: [{ key: 'a', speed: 0.5 }], streamErrors: [{ key: 'b', error: 'x' }],
      encoderFallbacks: [{ key: 'c', from: 'nvenc', reason: 'r' }],
    });
    assert.deepEqual(c.map((x) => [x.id, x.level, x.immediate === true]), [
      ['rtmp-down', 'unhealthy', true], ['cpu', 'degraded', false], ['slow:a', 'degraded', false], ['error:b', 'degraded', false], ['fallback:c', 'degraded', true],
    ]);
  });
});

describe('capacity', () => {
  test('free slots never go below 0; the text names no encoder speed when nothing encodes', () => {
    assert.equal(freeSlots({ maxStreams: 2, activeStreams: 5, encodingStreams: 0, slowestEncoderSpeed: undefined }), 0);
    assert.equal(describeCapacity({ maxStreams: 2, activeStreams: 1, encodingStreams: 0, slowestEncoderSpeed: undefined }), '1 of 2 stream slots free, no stream encoding');
  });
  test('a stream encoding in its warm-up (a fallback to x264 restarts it) is not "no stream encoding"', () => {
    const fellBack = entry('gpu_cam', 0, { encoder: 'x264', fallback: { from: 'nvenc', reason: 'r' }, status: 'starting', restarts: 1 });
    const c = capacityOf(4, [fellBack, entry('ingest_only', 0)], 5000);
    assert.deepEqual(c, { maxStreams: 4, activeStreams: 2, encodingStreams: 1, slowestEncoderSpeed: undefined });
    assert.equal(describeCapacity(c), '2 of 4 stream slots free, 1 stream encoding, speed not measured yet');
    assert.equal(describeCapacity({ ...c, encodingStreams: 2 }), '2 of 4 stream slots free, 2 streams encoding, speed not measured yet');
    const encoding = entry('gpu_cam', 0, { encoder: 'x264', fallback: { from: 'nvenc', reason: 'r' }, restarts: 1 });
    assert.equal(describeCapacity(capacityOf(4, [encoding], 5000)), '3 of 4 stream slots free, 1 stream encoding, speed not measured yet');
    assert.equal(describeCapacity(capacityOf(4, [encoding], 30_000)), '3 of 4 stream slots free, slowest encoder at 1.49x realtime');
  });
  test('the slowest encoder past its warm-up; starting, erroring and speedless streams are ignored', () => {
    const streams = [
      entry('a', 0, { progress: { ...entry('x', 0, {}).transcode!.progress!, speed: 1.8 } }),
      entry('b', 0, {}), // 1.49
      entry('c', 9000, { progress: { ...entry('x', 0, {}).transcode!.progress!, speed: 0.3 } }), // warming up at 12 s
      entry('d', 0, { status: 'error' }),
      entry('e', 0, { progress: undefined }),
      entry('f', 0),
    ];
    assert.equal(slowestEncoderSpeed(streams, 12_000), 1.49);
    assert.equal(slowestEncoderSpeed(streams, 20_000), 0.3);
    assert.equal(slowestEncoderSpeed([entry('f', 0)], 20_000), undefined);
    assert.deepEqual(capacityOf(8, streams, 20_000), { maxStreams: 8, activeStreams: 6, encodingStreams: 4, slowestEncoderSpeed: 0.3 });
  });
});

function entry(key: string, startedAt: number, transcode?: Partial<TranscodeState>): StreamEntry {
  const e = new StreamEntry({ key, app: 'live', query: {}, peer: '127.0.0.1:5000', sourceUrl: `rtmp://h:1935/live/${key}` }, startedAt, 5000);
  e.video = { codec: 'h264', codecString: 'avc1.64001f', width: 1280, height: 720, profile: 100, level: 31 };
  e.addBytes(625_000, startedAt + 1000);
  e.addBytes(625_000, startedAt + 4900);
  e.lastMediaAt = startedAt + 4900;
  if (transcode) {
    e.transcode = {
      status: 'encoding', rungs: DEFAULT_LADDER.slice(1), encoder: 'x264', fallback: undefined, restarts: 0, droppedGops: 0, droppedFrames: 3, error: undefined,
      progress: { frame: 300, fps: 29.97, bitrateKbps: 5000, totalSize: 0, outTimeSeconds: 10, dupFrames: 0, dropFrames: 2, speed: 1.49, progress: 'continue' },
      ...transcode,
    };
  }
  return e;
}

describe('routes and metrics from the registry', () => {
  test('StreamRoute fields', () => {
    const [r] = streamRoutes([entry('cam', 0, {})], 5000);
    // 1.25 MB over the ~4.75 s the meter has covered: about 2.1 Mbit/s.
    assert.ok(r!.inputBitrate >= 2000 && r!.inputBitrate <= 2200, `inputBitrate ${r!.inputBitrate}`);
    assert.deepEqual({ ...r, inputBitrate: 0, profiles: r!.profiles.length }, {
      streamKey: 'cam', source: 'rtmp://h:1935/live/cam', status: 'active', encoder: 'x264',
      inputBitrate: 0, inputResolution: 720, bytesProcessed: 1_250_000n, profiles: 3,
    });
    assert.deepEqual(r!.profiles[0], { name: '720p', codec: 'h264', bitrate: 3000, resolution: 720, status: 'encoding' });
    assert.equal(streamRoutes([entry('x', 0, { status: 'error' })], 5000)[0]!.profiles[0]!.status, 'error');
    assert.equal(streamRoutes([entry('y', 0)], 5000)[0]!.encoder, 'none');
    assert.equal(streamRoutes([entry('n', 0, { encoder: 'nvenc' })], 5000)[0]!.encoder, 'nvenc_h264');
    const fell = entry('f', 0, { encoder: 'x264', fallback: { from: 'nvenc', reason: 'OpenEncodeSessionEx failed: out of memory (10)' } });
    assert.equal(streamRoutes([fell], 5000)[0]!.encoder, 'x264', 'the encoder the stream uses now');
    // Passthrough (issue 15): the top rung is the source, the rest encoded; off or measuring: the encoder alone.
    const copied = entry('p', 0, { passthrough: { status: 'on', rung: '720p', measuredKbps: 2400 }, rungs: [{ ...DEFAULT_LADDER[1]!, bitrateKbps: 2400 }, ...DEFAULT_LADDER.slice(2)] });
    const route = streamRoutes([copied], 5000)[0]!;
    assert.equal(route.encoder, 'copy+x264');
    assert.deepEqual(route.profiles[0], { name: '720p', codec: 'h264', bitrate: 2400, resolution: 720, status: 'encoding' });
    assert.equal(streamRoutes([entry('q', 0, { passthrough: { status: 'off', reason: 'GOP 1.7 s does not divide the 2 s segment' } })], 5000)[0]!.encoder, 'x264');
    assert.equal(streamRoutes([entry('r', 0, { encoder: 'nvenc', passthrough: { status: 'measuring' } })], 5000)[0]!.encoder, 'nvenc_h264');
  });
  test('StreamMetrics fields; fps as ingested, transcoded or not', () => {
    const cam = entry('cam', 0, { progress: { ...entry('x', 0, {}).transcode!.progress!, fps: 12 } }); // ffmpeg behind
    cam.ingestFps = 29.97;
    assert.deepEqual(streamMetrics([cam], 12_500), [
      { streamKey: 'cam', fps: 29.97, duration: 12.5, droppedFrames: 5, encoderSpeed: 1 },
    ]);
    // Not transcoded (transcoding off): the fps measured at ingest, not 0.
    const ingestOnly = entry('raw', 0);
    ingestOnly.ingestFps = 29.9700001;
    assert.equal(streamMetrics([ingestOnly], 12_500)[0]!.fps, 29.97);
  });
  test('slow encoders only after the warm-up', () => {
    const slow = entry('s', 0, { progress: { frame: 1, fps: 1, bitrateKbps: 0, totalSize: 0, outTimeSeconds: 0, dupFrames: 0, dropFrames: 0, speed: 0.7, progress: 'continue' } });
    assert.deepEqual(slowEncoders([slow], 5000), []);
    assert.deepEqual(slowEncoders([slow], 11_000), [{ key: 's', speed: 0.7 }]);
  });
});
