/**
 * StreamTranscoder with passthrough, fed an FLV file's messages directly (no
 * RTMP), a real packager and ffmpeg-static: what happens at the edges of the
 * decision. A stream shorter than the measuring window is still encoded; a
 * source whose GOP changes after the decision turns passthrough off and
 * continues with every rung encoded in a new run.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { MediaClassifier } from '../../src/media/media-classifier.ts';
import { rebaseFragment } from '../../src/package/mp4/write.ts';
import { StreamPackager } from '../../src/package/stream-packager.ts';
import { StreamEntry } from '../../src/streams/registry.ts';
import { StreamTranscoder } from '../../src/transcode/stream-transcoder.ts';
import { flvTags, run } from '../package/mp4/support.ts';
import { PUBLISHER_FFMPEG } from '../support/ffmpeg.ts';
import { waitUntil } from '../support/wait.ts';

const LADDER = [
  { name: '360p', width: 640, height: 360, bitrateKbps: 800, fps: 30, codec: 'h264' as const },
  { name: '240p', width: 426, height: 240, bitrateKbps: 400, fps: 30, codec: 'h264' as const },
];

/** 640x360 H.264 (keyframes at `keys`, in seconds) + AAC as FLV. */
function source(seconds: number, keys: string): Promise<Buffer> {
  return run(PUBLISHER_FFMPEG, [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=44100',
    '-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-b:v', '400k',
    '-g', '1000', '-keyint_min', '1000', '-sc_threshold', '0', '-force_key_frames', keys, '-c:a', 'aac', '-f', 'flv', 'pipe:1',
  ]);
}

function transcoder(key: string): StreamTranscoder {
  const packager = new StreamPackager(key, [], {
    segmentSeconds: 2, partSeconds: 0.5, windowSegments: 6, extraSegments: 2, maxBytes: 64 << 20, instanceId: key,
    rebaseFragment: (bytes, time, sequence) => rebaseFragment(bytes, time, sequence),
  });
  const entry = new StreamEntry({ key, app: 'live', query: {}, peer: '127.0.0.1:1', sourceUrl: `rtmp://x/live/${key}` }, Date.now(), 5000);
  return new StreamTranscoder(entry, packager, {
    ffmpegPath: PUBLISHER_FFMPEG, encoder: 'x264', preset: 'ultrafast', segmentSeconds: 2, partSeconds: 0.5, audioKbps: 64,
    maxBacklogBytes: 8 << 20, maxHeight: 1080, ladder: LADDER, passthrough: true,
  }, createLogger({ level: 'silent', format: 'json' }));
}

/** Feeds the file's tags, `speed` times faster than real time (Infinity: all at once). */
async function feed(t: StreamTranscoder, flv: Buffer, speed: number): Promise<void> {
  const classifier = new MediaClassifier(1080);
  const started = Date.now();
  for (const tag of flvTags(flv)) {
    if (tag.type !== 8 && tag.type !== 9) continue;
    if (Number.isFinite(speed)) {
      const due = started + tag.ms / speed - Date.now();
      if (due > 0) await sleep(due);
    }
    t.onMedia(tag.type === 9 ? classifier.video(tag.ms, tag.body) : classifier.audio(tag.ms, tag.body));
  }
}

describe('StreamTranscoder: the edges of the passthrough decision', () => {
  it('a stream that ends inside the measuring window is encoded, every rung, all of it', async () => {
    const t = transcoder('short');
    await feed(t, await source(3, '0,2'), Infinity);
    assert.equal(t.state.passthrough?.status, 'measuring');
    await t.end();
    assert.deepEqual(t.state.passthrough, { status: 'off', reason: 'the stream ended within the measuring window' });
    t.packager.end();
    const snap = t.packager.snapshot(Date.now());
    assert.deepEqual(snap.video.map((v) => v.name), ['360p', '240p']);
    for (const v of snap.video) {
      const seconds = v.segments.reduce((n, s) => n + s.duration, 0) / v.timescale;
      assert.ok(seconds > 2.5, `${v.name}: ${seconds} s of the 3 s stream`);
    }
  });

  it('a GOP that changes after the decision turns passthrough off: a new run encodes every rung', async () => {
    const t = transcoder('gop');
    const flv = await source(11, '0,2,4,6,7,8,9,10');
    await feed(t, flv, 3);
    await waitUntil(() => t.packager.runs === 2, 'the second run', 10_000);
    await t.end();
    assert.equal(t.state.passthrough?.status, 'off');
    assert.equal(t.state.passthrough?.reason, "the source's GOP changed from 2 s to 1 s");
    assert.equal(t.state.passthrough?.measuredKbps !== undefined, true);
    assert.deepEqual(t.state.rungs.map((r) => r.name), ['360p', '240p']);
    // Run 1: 360p was the source; run 2 (a discontinuity): ffmpeg encodes 360p too.
    t.packager.end();
    const top = t.packager.snapshot(Date.now()).video.find((v) => v.name === '360p')!;
    assert.deepEqual([...new Set(top.segments.map((s) => s.discontinuity))], [0, 1]);
  });
});
