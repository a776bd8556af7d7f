import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { MediaClassifier } from '../../src/media/media-classifier.ts';
import type { MediaMessage } from '../../src/media/media-message.ts';
import { PackagedOutputs } from '../../src/package/outputs.ts';
import type { StreamEntry } from '../../src/streams/registry.ts';
import { TranscodeManager } from '../../src/transcode/manager.ts';
import { TRACK_WAIT_MS } from '../../src/transcode/stream-transcoder.ts';

const fixture = (name: string) => readFileSync(new URL(`../media/fixtures/${name}`, import.meta.url));
const log = createLogger({ level: 'silent', format: 'json' });
// No ffmpeg runs: the binary does not exist. A run is begun (packager.runs) the moment the plan is made.
const settings = {
  ffmpegPath: '/nonexistent/ffmpeg', encoder: 'x264' as const, preset: 'ultrafast', segmentSeconds: 2, partSeconds: 0.5,
  audioKbps: 128, maxBacklogBytes: 1 << 20, maxHeight: 1080,
};

/** A transcoder fed classified messages: what it planned, and when. */
function harness(key: string) {
  const outputs = new PackagedOutputs();
  const manager = new TranscodeManager(outputs, settings, { reconnectGraceMs: 0, lingerMs: 0, windowSegments: 6, maxBytesPerStream: 1 << 20 }, log);
  const entry = { key } as StreamEntry;
  const sink = manager.open(entry);
  const media = new MediaClassifier(1080);
  const push = (m: MediaMessage) => sink.push(m);
  return {
    meta: (values: Record<string, number>) => push(media.metadata(0, Buffer.alloc(0), values)),
    videoConfig: (t: number) => push(media.video(t, fixture('avc-high-320x240.tag.bin'))),
    keyframe: (t: number) => push(media.video(t, fixture('avc-high-320x240-key.tag.bin'))),
    aacConfig: (t: number) => push(media.audio(t, fixture('aac-lc-44100-stereo.tag.bin'))),
    aacFrame: (t: number) => push(media.audio(t, fixture('aac-lc-44100-stereo-raw.tag.bin'))),
    runs: () => outputs.get(key)!.runs,
    rungs: () => entry.transcode!.rungs.map((r) => r.name),
    close: () => manager.close(0),
  };
}

describe('which tracks a stream starts with, and how long it waits for one', () => {
  test('onMetaData names video only: the first keyframe starts a video-only run', async () => {
    const h = harness('v');
    h.meta({ width: 320, height: 240, videocodecid: 7 });
    h.videoConfig(0);
    h.keyframe(0);
    assert.equal(h.runs(), 0, 'the measuring window holds it');
    h.keyframe(1000);
    assert.equal(h.runs(), 1, 'the next keyframe closes the window: the run begins');
    assert.deepEqual(h.rungs(), ['240p']);
    await h.close();
  });

  test('onMetaData announces AAC: keyframes wait for its header, then the run has audio', async () => {
    const h = harness('va');
    h.meta({ width: 320, height: 240, videocodecid: 7, audiocodecid: 10 });
    h.videoConfig(0);
    h.keyframe(0);
    h.keyframe(1000);
    assert.equal(h.runs(), 0, 'waiting for the announced audio');
    h.aacConfig(1500);
    h.keyframe(2000);
    h.keyframe(3000); // closes the measuring window
    assert.equal(h.runs(), 1);
    await h.close();
  });

  test(`an announced track that does not come: the first keyframe ${TRACK_WAIT_MS} ms of source time in starts without it`, async () => {
    const h = harness('late');
    h.meta({ width: 320, height: 240, videocodecid: 7, audiocodecid: 10 });
    h.videoConfig(10_000);
    h.keyframe(10_000);
    h.keyframe(10_000 + TRACK_WAIT_MS - 1);
    assert.equal(h.runs(), 0);
    h.keyframe(10_000 + TRACK_WAIT_MS);
    h.keyframe(10_000 + TRACK_WAIT_MS + 1000); // closes the measuring window
    assert.equal(h.runs(), 1);
    await h.close();
  });

  test('no onMetaData: a second track may come, so video alone waits the same bound', async () => {
    const h = harness('bare');
    h.videoConfig(0);
    h.keyframe(0);
    h.keyframe(TRACK_WAIT_MS - 500);
    assert.equal(h.runs(), 0);
    h.keyframe(TRACK_WAIT_MS);
    h.keyframe(TRACK_WAIT_MS + 1000); // closes the measuring window
    assert.equal(h.runs(), 1);
    await h.close();
  });

  test('onMetaData names audio only: the first AAC frame after the header starts an audio-only run (no rungs)', async () => {
    const h = harness('a');
    h.meta({ audiocodecid: 10, audiosamplerate: 44100 });
    h.aacConfig(0);
    assert.equal(h.runs(), 0, 'a header is not a frame');
    h.aacFrame(0);
    assert.equal(h.runs(), 1);
    assert.deepEqual(h.rungs(), []);
    await h.close();
  });

  test('audio first, video announced but late: audio alone after the wait; the video, when it comes, re-plans', async () => {
    const h = harness('av');
    h.meta({ videocodecid: 7, audiocodecid: 10 });
    h.aacConfig(0);
    h.aacFrame(0);
    h.aacFrame(TRACK_WAIT_MS - 23);
    assert.equal(h.runs(), 0);
    h.aacFrame(TRACK_WAIT_MS);
    assert.equal(h.runs(), 1);
    assert.deepEqual(h.rungs(), []);
    h.videoConfig(TRACK_WAIT_MS + 100);
    assert.deepEqual(h.rungs(), ['240p'], 're-planned with the video');
    await h.close();
  });
});
