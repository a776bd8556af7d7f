import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MediaMessage } from '../../src/media/media-message.ts';
import { NULL_SINK, type SinkEndReason } from '../../src/media/stream-sink.ts';
import { StreamRegistry } from '../../src/streams/registry.ts';
import type { TranscodeState } from '../../src/transcode/transcode-state.ts';

const request = (key: string) => ({ key, app: 'live', query: {}, peer: '127.0.0.1:1', sourceUrl: `rtmp://h/live/${key}` });
const media = (typeId: 8 | 9, frame: boolean, keyframe = false): MediaMessage => ({
  type: 'media', typeId, timestamp: 40, payload: Buffer.alloc(10), keyframe, config: false, frame, info: undefined,
});

describe('StreamRegistry and its sinks', () => {
  test('publish opens one sink per stream, unpublish ends it once with the reason; events once each', () => {
    const log: string[] = [];
    const registry = new StreamRegistry({
      maxStreams: 2,
      bitrateWindowMs: 1000,
      sinks: { open: (entry) => ({ push: (m) => log.push(`${entry.key} push ${m.typeId}`), end: (r: SinkEndReason) => log.push(`${entry.key} end ${r}`) }) },
    });
    registry.on('publish', (e) => log.push(`publish ${e.key}`));
    registry.on('unpublish', (e) => log.push(`unpublish ${e.key}`));
    const { entry, sink } = registry.publish(request('a'));
    sink.push(media(9, true));
    registry.unpublish(entry, 'disconnected');
    registry.unpublish(entry, 'disconnected');
    assert.deepEqual(log, ['publish a', 'a push 9', 'a end disconnected', 'unpublish a']);
  });

  test('without a sink factory, media is counted and dropped', () => {
    const { sink } = new StreamRegistry({ maxStreams: 1, bitrateWindowMs: 1000 }).publish(request('a'));
    assert.equal(sink, NULL_SINK);
  });

  test('a throwing factory leaves the stream published, without a sink', () => {
    const errors: string[] = [];
    const registry = new StreamRegistry({
      maxStreams: 1, bitrateWindowMs: 1000,
      sinks: { open: () => { throw new Error('boom'); } },
      onListenerError: (_err, event) => errors.push(event),
    });
    assert.equal(registry.publish(request('a')).sink, NULL_SINK);
    assert.deepEqual(errors, ['open sink']);
    assert.equal(registry.size, 1);
  });

  test('record: the figures from classified messages, one writer', () => {
    const { entry } = new StreamRegistry({ maxStreams: 1, bitrateWindowMs: 1000, now: () => 5 }).publish(request('a'));
    entry.record(media(9, true, true), 100);
    entry.record(media(9, true), 140);
    entry.record(media(8, true), 150);
    entry.record({ ...media(9, false), config: true, info: { codec: 'h264', video: { codec: 'h264', codecString: 'avc1.42c00a', width: 160, height: 120, profile: 66, level: 10 } } }, 160);
    entry.record({ ...media(8, false), typeId: 18, info: { codec: undefined, metadata: { width: 160 } } } as MediaMessage, 170);
    assert.deepEqual([entry.videoFrames, entry.keyFrames, entry.audioFrames, entry.mediaBytes, entry.lastMediaAt], [2, 1, 1, 40, 160]);
    assert.deepEqual([entry.videoCodec, entry.width, entry.metadata['width']], ['h264', 160, 160]);
  });

  test('ingestFps: video frames per second of source time, whatever the transcoder does; a clock jump restarts the span', () => {
    const { entry } = new StreamRegistry({ maxStreams: 1, bitrateWindowMs: 1000, now: () => 5 }).publish(request('a'));
    const frame = (t: number) => entry.record({ ...media(9, true), timestamp: t }, t);
    assert.equal(entry.ingestFps, 0);
    for (let i = 0; i <= 60; i++) frame(1000 + Math.round((i * 1000) / 30));
    assert.ok(Math.abs(entry.ingestFps - 30) < 0.1, `${entry.ingestFps}`);
    entry.record({ ...media(8, true), timestamp: 9000 }, 9000); // audio is not a frame
    // The source clock goes back: the next span starts again, the last figure stays until then.
    for (let i = 0; i <= 29; i++) frame(100 + Math.round((i * 1000) / 15));
    assert.ok(Math.abs(entry.ingestFps - 30) < 0.1, 'not measured across the jump');
    for (let i = 30; i <= 62; i++) frame(100 + Math.round((i * 1000) / 15));
    assert.ok(Math.abs(entry.ingestFps - 15) < 0.1, `${entry.ingestFps}`);
  });

  test("error: what a refusing sink said, else the transcoder's own", () => {
    const registry = new StreamRegistry({
      maxStreams: 2, bitrateWindowMs: 1000,
      sinks: { open: (e) => (e.key === 'full' ? { ...NULL_SINK, error: 'output quota full' } : NULL_SINK) },
    });
    const full = registry.publish(request('full')).entry;
    assert.equal(full.error, 'output quota full');
    assert.equal(full.status(0), 'error');
    const ok = registry.publish(request('ok')).entry;
    assert.equal(ok.error, undefined);
    ok.transcode = { status: 'error', error: 'ffmpeg failed 5 times' } as TranscodeState;
    assert.equal(ok.error, 'ffmpeg failed 5 times');
  });
});
