import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StreamEntry } from '../../src/streams/registry.ts';
import { ffmpegPublish, gstLaunch, type Publisher } from '../support/ffmpeg.ts';
import { startTestServer } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';

/**
 * Real publishers (ffmpeg, GStreamer rtmpsink/librtmp and rtmp2sink) over real
 * sockets; the registry must show what they sent.
 */
describe('publishing from real encoders', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const ended = new Map<string, StreamEntry>();

  before(async () => {
    server = await startTestServer();
    server.registry.on('unpublish', (entry) => ended.set(entry.key, entry));
  });
  after(() => server?.close());

  async function checkLive(key: string, publisher: Publisher): Promise<StreamEntry> {
    await waitUntil(() => server.registry.get(key)?.video !== undefined || publisher.child.exitCode !== null, `${key} to be configured`);
    const live = server.registry.get(key);
    assert.ok(live, `${key} is registered while publishing; publisher said: ${publisher.stderr()}`);
    assert.equal(live.status(Date.now()), 'active');
    assert.match(live.peer, /^127\.0\.0\.1:\d+$/);
    assert.equal(live.sourceUrl, `rtmp://127.0.0.1:${server.port}/live/${key}`);
    return live;
  }

  test('ffmpeg: 320x240 H.264 + AAC for 3 s', async () => {
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${server.port}/live/ffmpeg_1`, { seconds: 3 });
    const live = await checkLive('ffmpeg_1', pub);
    await waitUntil(() => live.bitrate(Date.now()) > 0, 'a measured bitrate');
    assert.equal(await pub.exited, 0, pub.stderr());
    await waitUntil(() => ended.has('ffmpeg_1'), 'unpublish');
    const entry = ended.get('ffmpeg_1')!;
    assert.equal(entry, live);
    assert.equal(entry.width, 320);
    assert.equal(entry.height, 240);
    assert.match(entry.video!.codecString, /^avc1\.[0-9a-f]{6}$/);
    assert.equal(entry.audio?.codecString, 'mp4a.40.2');
    assert.equal(entry.audio?.sampleRate, 44100);
    assert.ok(entry.videoFrames >= 85 && entry.videoFrames <= 92, `video frames ${entry.videoFrames}`);
    assert.ok(entry.keyFrames >= 3, `keyframes ${entry.keyFrames}`);
    assert.ok(entry.ingestFps > 27 && entry.ingestFps < 33, `fps measured at ingest, transcoding off: ${entry.ingestFps}`);
    assert.ok(entry.audioFrames > 100, `audio frames ${entry.audioFrames}`);
    assert.equal(entry.metadata['width'], 320);
    const sent = Number(pub.progress.get('total_size'));
    assert.ok(sent > 10_000, `ffmpeg reported ${sent} bytes`);
    const ratio = entry.bytesIn / sent;
    assert.ok(ratio > 0.95 && ratio < 1.05, `registry ${entry.bytesIn} bytes vs ffmpeg ${sent} (ratio ${ratio.toFixed(3)})`);
  });

  const gstSources = (fourSeconds: number) =>
    `videotestsrc num-buffers=${fourSeconds * 30} is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ` +
    `! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=300 ! h264parse ! queue ! mux. ` +
    `audiotestsrc num-buffers=${Math.round((fourSeconds * 44100) / 1024)} samplesperbuffer=1024 is-live=true ` +
    `! audio/x-raw,rate=44100,channels=2 ! voaacenc bitrate=64000 ! aacparse ! queue ! mux. ` +
    `flvmux name=mux streamable=true`;

  for (const [sink, key] of [['rtmpsink', 'gst_rtmpsink'], ['rtmp2sink', 'gst_rtmp2sink']] as const) {
    test(`GStreamer ${sink}: 320x240 H.264 + AAC for 3 s`, async () => {
      const location = `rtmp://127.0.0.1:${server.port}/live/${key}`;
      const sinkPart = sink === 'rtmpsink' ? `rtmpsink location=${location}` : `rtmp2sink location=${location}`;
      const pub = gstLaunch(`${gstSources(3)} ! ${sinkPart}`);
      const live = await checkLive(key, pub);
      assert.equal(await pub.exited, 0, pub.stderr());
      await waitUntil(() => ended.has(key), `${key} unpublish`);
      assert.equal(live.width, 320);
      assert.equal(live.height, 240);
      assert.match(live.video!.codecString, /^avc1\./);
      assert.equal(live.audio?.codecString, 'mp4a.40.2');
      assert.ok(live.videoFrames >= 80, `video frames ${live.videoFrames}`);
      assert.ok(live.bytesIn > 50_000, `bytes ${live.bytesIn}`);
    });
  }
});
