import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { ffmpegPublish, type Publisher } from '../support/ffmpeg.ts';
import { enhancedRtmpSource } from '../support/enhanced-source.ts';
import { sendPaced, synthesizeFlv, type FlvTag } from '../support/flv.ts';
import { TestRtmpClient } from '../support/rtmp-client.ts';
import { serverPool, type TestServer as Server } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';

const execFileAsync = promisify(execFile);

async function get(server: Server, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}${path}`);
  return { status: res.status, body: await res.text() };
}

/** ffprobe, asynchronously: the HTTP server it reads from runs in this very process. */
async function ffprobeJson(args: string[]): Promise<{ streams?: Record<string, unknown>[]; packets?: Record<string, unknown>[] }> {
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-of', 'json', ...args], { timeout: 30_000, maxBuffer: 16 << 20 });
  return JSON.parse(stdout);
}

/**
 * Publishes, watches the transcoder reach `encoding` while the publisher runs,
 * then waits for the output to end (ENDLIST, static MPD) so that ffprobe reads
 * all of it. Returns the master playlist and DASH manifest served while live.
 */
async function publishAndEnd(s: Server, key: string, pub: Publisher): Promise<{ master: string; mpd: string; statuses: Set<string> }> {
  const statuses = new Set<string>();
  let master = '';
  let mpd = '';
  await waitUntil(() => s.transcoder?.get(key) !== undefined, `${key} published`, 15_000);
  const transcoder = s.transcoder!.get(key)!;
  const watching = (async () => {
    while (transcoder.state.status !== 'complete' && transcoder.state.status !== 'error') {
      statuses.add(transcoder.state.status);
      if (master === '') {
        const m = await get(s, `/streams/${key}/master.m3u8`);
        if (m.status === 200) {
          master = m.body;
          mpd = (await get(s, `/streams/${key}/dash/manifest.mpd`)).body;
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    statuses.add(transcoder.state.status);
  })();
  assert.equal(await pub.exited, 0, pub.stderr());
  await watching;
  await waitUntil(() => s.outputs.get(key)?.ended === true, `${key} to end`, 10_000);
  return { master, mpd, statuses };
}

/** The tags with the AAC sequence header sent late, at `atMs`: the AAC frames before it are left out (undecodable without it). */
function withLateAacHeader(tags: readonly FlvTag[], atMs: number): FlvTag[] {
  const isHeader = (t: FlvTag) => t.type === 8 && t.body[0]! >> 4 === 10 && t.body[1] === 0;
  const header = tags.find(isHeader)!;
  const out = tags.filter((t) => !isHeader(t) && !(t.type === 8 && t.time < atMs));
  const at = out.findIndex((t) => t.time >= atMs);
  out.splice(at, 0, { ...header, time: out[at]!.time });
  return out;
}

/** Publishes `tags` in real time with our own client, then unpublishes. */
async function publishTags(s: Server, key: string, tags: readonly FlvTag[]): Promise<void> {
  const { client, streamId } = await TestRtmpClient.connected(s.port);
  assert.equal((await client.publish(streamId, key)).code, 'NetStream.Publish.Start');
  await sendPaced(client, streamId, tags);
  await new Promise((r) => setTimeout(r, 300));
  client.destroy();
}

/** Waits for `key`'s output to end, then ffprobes its master playlist: the streams and their decoded frames. */
async function probeEnded(s: Server, key: string): Promise<Record<string, unknown>[]> {
  await waitUntil(() => s.outputs.get(key)?.ended === true, `${key} to end`, 15_000);
  const probe = await ffprobeJson(['-count_frames', '-show_entries', 'stream=codec_type,codec_name,width,height,nb_read_frames', `http://127.0.0.1:${s.httpPort}/streams/${key}/master.m3u8`]);
  return probe.streams!;
}

describe('every source a broadcaster sends plays out (one server, three publishes at a time)', { concurrency: 3 }, () => {
  const server = serverPool({ RTMP_TRANSCODE: 'true', RTMP_TRANSCODE_PRESET: 'ultrafast', RTMP_RECONNECT_GRACE_SECONDS: '1' });
  const shared = server();

  test('audio only in: audio-only HLS and DASH, status leaves `starting`, every AAC frame decodes', async () => {
    const s = await shared;
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/radio`, { video: false, seconds: 3 });
    const { master, mpd, statuses } = await publishAndEnd(s, 'radio', pub);
    assert.ok(statuses.has('encoding'), `status went ${[...statuses].join(' → ')}`);
    const variants = master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF'));
    assert.equal(variants.length, 1, master);
    assert.match(variants[0]!, /CODECS="mp4a\.40\.2"/);
    assert.doesNotMatch(master, /RESOLUTION=|#EXT-X-MEDIA:/);
    assert.match(mpd, /mimeType="audio\/mp4"/);
    assert.doesNotMatch(mpd, /mimeType="video\/mp4"/);
    const probe = await ffprobeJson(['-count_frames', '-show_entries', 'stream=codec_type,codec_name,nb_read_frames', `http://127.0.0.1:${s.httpPort}/streams/radio/master.m3u8`]);
    assert.deepEqual(probe.streams!.map((x) => x['codec_type']), ['audio']);
    // 3 s of 48 kHz AAC is 140 frames of 1024 samples; the first run starts a moment in.
    const frames = Number(probe.streams![0]!['nb_read_frames']);
    assert.ok(frames > 90 && frames < 150, `${frames} AAC frames decoded`);
  });

  test('video only in: video-only HLS and DASH (no audio group), every frame decodes at the source size', async () => {
    const s = await shared;
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/silent`, { audio: false, seconds: 3 });
    const { master, mpd, statuses } = await publishAndEnd(s, 'silent', pub);
    assert.ok(statuses.has('encoding'));
    const variants = master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF'));
    assert.equal(variants.length, 1, master);
    assert.match(variants[0]!, /CODECS="avc1\.[0-9a-f]{6}",RESOLUTION=320x240|RESOLUTION=320x240.*CODECS="avc1\.[0-9a-f]{6}"/);
    assert.doesNotMatch(master, /mp4a|#EXT-X-MEDIA:/);
    assert.doesNotMatch(mpd, /mimeType="audio\/mp4"/);
    const probe = await ffprobeJson(['-count_frames', '-show_entries', 'stream=codec_type,width,height,nb_read_frames', `http://127.0.0.1:${s.httpPort}/streams/silent/master.m3u8`]);
    assert.deepEqual(probe.streams!.map((x) => x['codec_type']), ['video']);
    assert.deepEqual([probe.streams![0]!['width'], probe.streams![0]!['height']], [320, 240]);
    assert.ok(Number(probe.streams![0]!['nb_read_frames']) >= 60, JSON.stringify(probe.streams));
  });

  test('MP3 audio and 60 fps video in: MP3 is the stream\'s audio and comes out AAC; the 30 fps rung keeps every other frame, evenly spaced', async () => {
    const s = await shared;
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/mp3`, { audioCodec: 'libmp3lame', fps: 60, seconds: 3 });
    await waitUntil(() => s.registry.get('mp3')?.audio !== undefined, 'the MP3 configuration', 15_000);
    const audio = s.registry.get('mp3')!.audio!;
    assert.deepEqual([audio.codec, audio.sampleRate, audio.channels], ['mp3', 44100, 1]);
    const { master } = await publishAndEnd(s, 'mp3', pub);
    assert.match(master, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
    assert.match(master, /FRAME-RATE=30\.000/);
    const url = `http://127.0.0.1:${s.httpPort}/streams/mp3/master.m3u8`;
    const probe = await ffprobeJson(['-count_frames', '-show_entries', 'stream=codec_type,codec_name,r_frame_rate,nb_read_frames', url]);
    const audioOut = probe.streams!.find((x) => x['codec_type'] === 'audio');
    assert.equal(audioOut?.['codec_name'], 'aac');
    assert.ok(Number(audioOut?.['nb_read_frames']) > 60);
    const video = probe.streams!.find((x) => x['codec_type'] === 'video');
    assert.equal(video?.['r_frame_rate'], '30/1');
    const packets = await ffprobeJson(['-select_streams', 'v:0', '-show_entries', 'packet=pts', `http://127.0.0.1:${s.httpPort}/streams/mp3/240p.m3u8`]);
    const pts = packets.packets!.map((p) => Number(p['pts'])).sort((a, b) => a - b);
    assert.ok(pts.length >= 60 && pts.length <= 95, `${pts.length} frames for 3 s at 30 fps`);
    const steps = new Set(pts.slice(1).map((p, i) => p - pts[i]!));
    assert.deepEqual([...steps], [3000], 'every frame 1/30 s (3000 ticks of 90 kHz) after the one before');
  });

  test('an AAC header 1.5 s late (onMetaData announces audio): the start waits for it, and the one run has audio', async () => {
    const s = await shared;
    const tags = withLateAacHeader(await synthesizeFlv({ seconds: 4 }), 1500);
    await publishTags(s, 'late', tags);
    const streams = await probeEnded(s, 'late');
    assert.equal(s.outputs.get('late')!.figures().discontinuities, 0, 'one run');
    const audio = streams.find((x) => x['codec_type'] === 'audio');
    assert.equal(audio?.['codec_name'], 'aac', JSON.stringify(streams));
    assert.ok(Number(audio!['nb_read_frames']) > 60, JSON.stringify(streams));
  });

  test('an AAC header 4.5 s late: video starts alone after the bounded wait, then a new run (a discontinuity) brings the audio in', async () => {
    const s = await shared;
    // 1 s GOP: the run starts at the 3 s keyframe (the first after the 2.5 s wait) once its measuring window closes at 4 s;
    // a header inside the window (3.2 s) would join that run, one after it needs a new run.
    const tags = withLateAacHeader(await synthesizeFlv({ seconds: 7 }), 4500);
    await publishTags(s, 'later', tags);
    const streams = await probeEnded(s, 'later');
    assert.ok(s.outputs.get('later')!.figures().discontinuities >= 1, 'the audio came in a new run');
    const audio = streams.find((x) => x['codec_type'] === 'audio');
    assert.equal(audio?.['codec_name'], 'aac', JSON.stringify(streams));
    assert.ok(Number(audio!['nb_read_frames']) > 40, JSON.stringify(streams));
    assert.ok(streams.some((x) => x['codec_type'] === 'video' && x['width'] === 320));
  });

  test('a new video size mid-stream (640x360 → portrait 240x320): a new run with a re-planned ladder, aspect kept, no upscaled rung', async () => {
    const s = await shared;
    const [wide, tall] = await Promise.all([synthesizeFlv({ width: 640, height: 360, seconds: 2 }), synthesizeFlv({ width: 240, height: 320, seconds: 3 })]);
    const shift = wide.at(-1)!.time + 33;
    const tags = [...wide, ...tall.map((t) => ({ ...t, time: t.time + shift }))];
    const publishing = publishTags(s, 'turn', tags);
    await waitUntil(() => s.registry.get('turn')?.transcode?.rungs[0]?.name === '360p', 'the 360p plan', 15_000);
    const transcode = s.registry.get('turn')!.transcode!;
    await waitUntil(() => transcode.rungs[0]?.name !== '360p', 're-planned', 15_000);
    assert.deepEqual(transcode.rungs.map((r) => [r.name, r.width, r.height]), [['240p', 240, 320]], 'one rung at the source size: 360p would upscale');
    await publishing;
    await probeEnded(s, 'turn');
    const output = s.outputs.get('turn')!;
    assert.ok(output.figures().discontinuities >= 1);
    const snap = output.snapshot(Date.now());
    assert.deepEqual(snap.video.map((r) => [r.name, r.width, r.height]), [['240p', 240, 320]], 'the retired 360p is no longer listed');
    const last = snap.video[0]!.segments.filter((x) => x.complete).at(-1)!;
    const dir = mkdtempSync(join(tmpdir(), 'turn-'));
    const file = join(dir, 'last.mp4');
    writeFileSync(file, Buffer.concat([output.resource(last.initUri)!, output.resource(last.uri)!]));
    const probe = await ffprobeJson(['-count_frames', '-show_entries', 'stream=width,height,sample_aspect_ratio,nb_read_frames', '-select_streams', 'v:0', file]);
    const v = probe.streams![0]!;
    assert.deepEqual([v['width'], v['height']], [240, 320]);
    assert.ok(Number(v['nb_read_frames']) > 10);
    assert.match((await get(s, '/streams/turn/240p.m3u8')).body, /#EXT-X-DISCONTINUITY/);
  });

  test('an anamorphic source (352x288 at SAR 16:11, shown 16:9): the rung is 16:9 with square pixels', async () => {
    const s = await shared;
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/pal`, { width: 352, height: 288, seconds: 3, extra: ['-vf', 'setsar=16/11'] });
    await waitUntil(() => s.registry.get('pal')?.video !== undefined, 'the video configuration', 15_000);
    assert.deepEqual(s.registry.get('pal')!.video!.sar, [16, 11]);
    const { master } = await publishAndEnd(s, 'pal', pub);
    assert.match(master, /RESOLUTION=512x288/);
    const probe = await ffprobeJson(['-show_entries', 'stream=width,height,sample_aspect_ratio,display_aspect_ratio', '-select_streams', 'v:0', `http://127.0.0.1:${s.httpPort}/streams/pal/master.m3u8`]);
    const v = probe.streams![0]!;
    assert.deepEqual([v['width'], v['height'], v['sample_aspect_ratio'], v['display_aspect_ratio']], [512, 288, '1:1', '16:9']);
  });

  const enhanced = [['hevc', 'aac', "HEVC ('hvc1') + AAC"], ['av1', 'opus', "AV1 ('av01') + Opus ('Opus')"]] as const;
  for (const [codec, audioCodec, what] of enhanced) {
    test(`Enhanced RTMP ${what} in, from our own client: fed to ffmpeg as Matroska, out as the H.264 ladder with AAC`, async () => {
      const s = await shared;
      const key = `enhanced-${codec}`;
      const tags = await enhancedRtmpSource(codec, { seconds: 3, audio: audioCodec });
      const publishing = publishTags(s, key, tags);
      await waitUntil(() => s.registry.get(key)?.video !== undefined, 'the video configuration', 15_000);
      const entry = s.registry.get(key)!;
      assert.equal(entry.video!.codec, codec);
      await waitUntil(() => entry.audio !== undefined, 'the audio configuration', 15_000);
      assert.equal(entry.audio!.codec, audioCodec);
      assert.match(entry.video!.codecString, codec === 'hevc' ? /^hvc1\./ : /^av01\./);
      await waitUntil(() => entry.transcode?.status === 'encoding', 'encoding', 15_000);
      assert.deepEqual(entry.transcode!.rungs.map((r) => [r.name, r.codec]), [['240p', 'h264']]);
      await publishing;
      const streams = await probeEnded(s, key);
      const video = streams.find((x) => x['codec_type'] === 'video');
      assert.deepEqual([video?.['codec_name'], video?.['width'], video?.['height']], ['h264', 320, 240], JSON.stringify(streams));
      assert.ok(Number(video!['nb_read_frames']) >= 60, `${String(video!['nb_read_frames'])} frames of 3 s at 30 fps`);
      const audio = streams.find((x) => x['codec_type'] === 'audio');
      assert.equal(audio?.['codec_name'], 'aac');
      assert.ok(Number(audio!['nb_read_frames']) > 80, JSON.stringify(streams));
    });
  }
});
