/**
 * Issue 15, "measured bitrate caps every rung": a stream that is not a
 * passthrough candidate is held over its short measuring window (the next
 * keyframe or 1 s) and its rungs capped at the measured video
 * bitrate, which wins over onMetaData's; with nothing measured (the window
 * cut short), the declared cap applies; a rung is never capped below
 * CAP_FLOOR of its own budget. No ffmpeg runs (the binary does not exist):
 * the plan is made the moment the window closes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { MediaClassifier } from '../../src/media/media-classifier.ts';
import { PackagedOutputs } from '../../src/package/outputs.ts';
import type { StreamEntry } from '../../src/streams/registry.ts';
import { CAP_FLOOR, type Rung } from '../../src/transcode/ladder.ts';
import { TranscodeManager } from '../../src/transcode/manager.ts';
import { CAP_WINDOW_MS } from '../../src/transcode/passthrough-fit.ts';

const fixture = (name: string) => readFileSync(new URL(`../media/fixtures/${name}`, import.meta.url));
const KEYFRAME = fixture('avc-high-320x240-key.tag.bin');
const log = createLogger({ level: 'silent', format: 'json' });
const LADDER: Rung[] = [
  { name: '240p', width: 320, height: 240, bitrateKbps: 1000, fps: 30, codec: 'h264' },
  { name: '180p', width: 240, height: 180, bitrateKbps: 500, fps: 30, codec: 'h264' },
  { name: '120p', width: 160, height: 120, bitrateKbps: 200, fps: 30, codec: 'h264' },
];

function harness(key: string, maxBacklogBytes = 1 << 20) {
  const outputs = new PackagedOutputs();
  const settings = {
    ffmpegPath: '/nonexistent/ffmpeg', encoder: 'x264' as const, preset: 'ultrafast', segmentSeconds: 2, partSeconds: 0.5,
    audioKbps: 128, maxBacklogBytes, maxHeight: 1080, ladder: LADDER, passthrough: false,
  };
  const manager = new TranscodeManager(outputs, settings, { reconnectGraceMs: 0, lingerMs: 0, windowSegments: 6, maxBytesPerStream: 1 << 20 }, log);
  const entry = { key } as StreamEntry;
  const sink = manager.open(entry);
  const media = new MediaClassifier(1080);
  sink.push(media.video(0, fixture('avc-high-320x240.tag.bin')));
  return {
    meta: (values: Record<string, number>) => sink.push(media.metadata(0, Buffer.alloc(0), values)),
    keyframe: (t: number) => sink.push(media.video(t, KEYFRAME)),
    /** An inter frame of `bytes` bytes in all (FLV AVC NALU tag). */
    frame: (t: number, bytes: number) => sink.push(media.video(t, Buffer.concat([Buffer.from([0x27, 1, 0, 0, 0]), Buffer.alloc(bytes - 5, 7)]))),
    /** A keyframe, then `bytes`-byte frames at 30 fps up to (not including) `until` ms. */
    gop: function (from: number, until: number, bytes: number) {
      this.keyframe(from);
      for (let i = 1; from + Math.round((i * 1000) / 30) < until; i++) this.frame(from + Math.round((i * 1000) / 30), bytes);
    },
    aac: (t: number) => sink.push(media.audio(t, fixture('aac-lc-44100-stereo.tag.bin'))),
    runs: () => outputs.get(key)!.runs,
    packager: () => outputs.get(key)!,
    state: () => entry.transcode!,
    bitrates: () => entry.transcode!.rungs.map((r) => [r.name, r.bitrateKbps]),
    close: () => manager.close(0),
  };
}

describe('the measured bitrate caps every rung of a stream that is not a passthrough candidate', () => {
  // A 3813-byte keyframe and 29 frames of 3000 bytes over 1 s: 726.5 kbps.
  const measured = Math.round(((KEYFRAME.length + 29 * 3000) * 8) / 1000);

  test('measured over one GOP, and it wins over what onMetaData declares', async () => {
    const h = harness('measured');
    h.meta({ width: 320, height: 240, videocodecid: 7, videodatarate: 5000 });
    h.gop(0, 1000, 3000);
    assert.equal(h.runs(), 0, 'held in the measuring window');
    h.keyframe(1000);
    assert.equal(h.runs(), 1, 'the next keyframe closes it');
    assert.deepEqual(h.state().bitrateCap, { kbps: measured, from: 'measured' });
    assert.deepEqual(h.bitrates(), [['240p', measured], ['180p', 500], ['120p', 200]]);
    assert.equal(h.state().passthrough, undefined, 'passthrough is disabled');
    await h.close();
  });

  test('a GOP longer than CAP_WINDOW_MS: closed that far in, no later', async () => {
    const h = harness('long');
    h.meta({ width: 320, height: 240, videocodecid: 7 });
    h.gop(0, CAP_WINDOW_MS - 10, 2000);
    assert.equal(h.runs(), 0);
    h.frame(CAP_WINDOW_MS, 2000);
    assert.equal(h.runs(), 1);
    assert.equal(h.state().bitrateCap?.from, 'measured');
    await h.close();
  });

  test('a source measured far below the budgets (a still slide): each rung keeps CAP_FLOOR of its own', async () => {
    const h = harness('slide');
    h.meta({ width: 320, height: 240, videocodecid: 7 });
    h.gop(0, 1000, 10);
    h.frame(1000, 10);
    assert.ok(h.state().bitrateCap!.kbps < 40, `${h.state().bitrateCap!.kbps} kbps`);
    assert.deepEqual(h.bitrates(), LADDER.map((r) => [r.name, Math.round(r.bitrateKbps * CAP_FLOOR)]));
    await h.close();
  });

  test('the window cut by its hold limit: nothing measured, the declared cap applies', async () => {
    const h = harness('cut', 20_000);
    h.meta({ width: 320, height: 240, videocodecid: 7, videodatarate: 300 });
    h.gop(0, 1000, 2000);
    assert.equal(h.runs(), 1, 'the hold limit closed the window');
    assert.deepEqual(h.state().bitrateCap, { kbps: 300, from: 'declared' });
    assert.deepEqual(h.bitrates(), [['240p', 300], ['180p', 300], ['120p', 200]]);
    await h.close();
  });

  test('audio configured during the window joins the run it holds', async () => {
    const h = harness('audio');
    h.meta({ width: 320, height: 240, videocodecid: 7 }); // no audio announced: video starts alone
    h.gop(0, 500, 3000);
    h.aac(600);
    h.keyframe(1000);
    assert.equal(h.runs(), 1);
    assert.ok(h.packager().nextSegmentUri('audio') !== undefined, 'the one run has an audio track');
    await h.close();
  });

  test('(and without it, the run has no audio track)', async () => {
    const h = harness('noaudio');
    h.meta({ width: 320, height: 240, videocodecid: 7 });
    h.gop(0, 500, 3000);
    h.keyframe(1000);
    assert.equal(h.runs(), 1);
    assert.equal(h.packager().nextSegmentUri('audio'), undefined);
    await h.close();
  });

  test('a stream that ends inside the window, with no cap declared: planned at the full budgets', async () => {
    const h = harness('short');
    h.meta({ width: 320, height: 240, videocodecid: 7 });
    h.gop(0, 500, 2000);
    assert.equal(h.runs(), 0);
    await h.close();
    assert.equal(h.runs(), 1, 'encoded all the same');
    assert.equal(h.state().bitrateCap, undefined);
    assert.deepEqual(h.bitrates(), LADDER.map((r) => [r.name, r.bitrateKbps]));
  });
});
