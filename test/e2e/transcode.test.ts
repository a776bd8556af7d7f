import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ffmpegPublish } from '../support/ffmpeg.ts';
import { serverPool, type TestServer as Server } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';
import { alive } from '../support/process.ts';

const execFileAsync = promisify(execFile);


async function get(server: Server, path: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}${path}`);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

/**
 * Waits until master.m3u8 and a media playlist with at least one segment are served. Any
 * master.m3u8 served at all must already be the completed one (AVERAGE-BANDWIDTH): ffmpeg's
 * own, which 4.2 writes under that very name, never reaches a player.
 */
async function waitPlayable(server: Server, key: string, timeoutMs = 20_000): Promise<string> {
  let master = '';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await get(server, `/streams/${key}/master.m3u8`);
    if (m.status === 200) assert.match(m.body, /AVERAGE-BANDWIDTH=/, 'a served master.m3u8 is always the completed one');
    if (m.status === 200 && m.body.includes('#EXT-X-STREAM-INF')) {
      master = m.body;
      const media = master.split('\n').find((l) => l.endsWith('.m3u8'))!;
      const p = await get(server, `/streams/${key}/${media}`);
      if (p.status === 200 && /\.m4s/.test(p.body)) return master;
    }
    if (Date.now() > deadline) throw new Error(`${key} not playable within ${timeoutMs} ms (last master: ${m.status} ${m.body})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** ffprobe, asynchronously: the HTTP server it reads from runs in this very process. */
async function ffprobeJson(args: string[]): Promise<{ streams?: Record<string, unknown>[]; frames?: Record<string, unknown>[] }> {
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-of', 'json', ...args], { timeout: 30_000 });
  return JSON.parse(stdout);
}


describe('transcoding to HLS and DASH, served over HTTP', () => {
  const server = serverPool({ RTMP_TRANSCODE: 'true', RTMP_TRANSCODE_PRESET: 'ultrafast' });

  test('a 640x360 source: one 360p rung in HLS and DASH, playable, ENDLIST at the end, removed after the linger', async () => {
    const s = await server({ RTMP_LINGER_SECONDS: '2' });
    const t0 = Date.now();
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/small`, { width: 640, height: 360, seconds: 8, videoKbps: 600 });
    const master = await waitPlayable(s, 'small');
    const firstPlayableMs = Date.now() - t0;
    process.stderr.write(`# publish → first playable master.m3u8: ${firstPlayableMs} ms\n`);
    const variants = master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF'));
    assert.equal(variants.length, 1, master);
    assert.match(variants[0]!, /RESOLUTION=640x360/);
    assert.match(variants[0]!, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
    assert.match(variants[0]!, /BANDWIDTH=\d+/);
    // The 800 kbps rung is capped at the source's ~586 kbps (onMetaData videodatarate), plus 128 kbps audio.
    const average = Number(/AVERAGE-BANDWIDTH=(\d+)/.exec(variants[0]!)?.[1]);
    assert.ok(average > 650_000 && average <= 728_000, `AVERAGE-BANDWIDTH=${average}`);
    assert.match(variants[0]!, /FRAME-RATE=30\.000/);
    const mpd = await get(s, '/streams/small/dash/manifest.mpd');
    assert.equal(mpd.status, 200);
    assert.equal(mpd.type, 'application/dash+xml');
    const videoReps = [...mpd.body.matchAll(/<Representation[^>]*width="(\d+)"[^>]*height="(\d+)"/g)].map((m) => `${m[1]}x${m[2]}`);
    assert.deepEqual(videoReps, ['640x360']);
    const metrics = await get(s, '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^proxy_rtmp_active_streams 1$/m);
    assert.match(metrics.body, /^proxy_rtmp_stream_input_bitrate_bps\{key="small"\} [1-9]/m);
    assert.match(metrics.body, /^proxy_rtmp_stream_fps\{key="small"\} [1-9]/m);
    const probe = await ffprobeJson(['-show_entries', 'stream=codec_name,width,height', `http://127.0.0.1:${s.httpPort}/streams/small/master.m3u8`]);
    const video = probe.streams!.find((x) => x['codec_name'] === 'h264');
    assert.deepEqual([video?.['width'], video?.['height']], [640, 360]);
    assert.ok(probe.streams!.some((x) => x['codec_name'] === 'aac'), 'audio decodes too');
    assert.equal(await pub.exited, 0, pub.stderr());
    await waitUntil(() => s.transcoder!.get('small') === undefined, 'unpublish');
    const dir = join(s.transcoder!.root, 'small');
    await waitUntil(() => existsSync(dir) && spawnSync('grep', ['-l', 'EXT-X-ENDLIST', join(dir, 'media_0.m3u8')]).status === 0, 'ENDLIST in the media playlist');
    const ended = await get(s, '/streams/small/dash/manifest.mpd');
    assert.match(ended.body, /type="static"/);
    // ffmpeg's DASH demuxer waits on a live manifest's clock; the finished (static) one probes at once.
    const dashProbe = await ffprobeJson(['-show_entries', 'stream=codec_name,width', `http://127.0.0.1:${s.httpPort}/streams/small/dash/manifest.mpd`]);
    assert.ok(dashProbe.streams!.some((x) => x['codec_name'] === 'h264' && x['width'] === 640));
    await waitUntil(() => !existsSync(dir), 'output removed after the linger', 6000);
    assert.equal((await get(s, '/streams/small/master.m3u8')).status, 404);
  });

  test('a 1280x720 source gets 720p, 480p and 360p with keyframes at every segment start', async () => {
    const s = await server();
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/hd`, { width: 1280, height: 720, seconds: 9, videoKbps: 1500 });
    const master = await waitPlayable(s, 'hd', 30_000);
    const resolutions = [...master.matchAll(/RESOLUTION=(\d+x\d+)/g)].map((m) => m[1]);
    assert.deepEqual(resolutions, ['1280x720', '854x480', '640x360']);
    const mpd = await get(s, '/streams/hd/dash/manifest.mpd');
    const heights = [...mpd.body.matchAll(/<Representation[^>]*height="(\d+)"/g)].map((m) => Number(m[1]));
    assert.deepEqual(heights, [720, 480, 360]);
    const state = s.transcoder!.get('hd')!.state;
    await pub.exited;
    await waitUntil(() => state.status === 'complete', 'ffmpeg finished');
    assert.ok((state.progress?.speed ?? 0) > 0, 'ffmpeg reported its speed');
    process.stderr.write(`# 720p source, 3 rungs at ultrafast: ffmpeg speed ${state.progress?.speed}x, ${state.progress?.frame} frames\n`);
    await waitUntil(() => s.transcoder!.get('hd') === undefined, 'unpublish');
    const dir = join(s.transcoder!.root, 'hd');
    await waitUntil(() => existsSync(join(dir, 'chunk-2-00002.m4s')), 'segments of every rung', 15_000);
    for (const rep of [0, 1, 2]) {
      for (const n of ['00001', '00002']) {
        const seg = join(dir, `seg-${rep}-${n}.mp4`);
        spawnSync('sh', ['-c', `cat "${join(dir, `init-${rep}.m4s`)}" "${join(dir, `chunk-${rep}-${n}.m4s`)}" > "${seg}"`]);
        const frames = (await ffprobeJson(['-select_streams', 'v:0', '-show_entries', 'frame=key_frame', '-read_intervals', '%+#1', seg])).frames!;
        assert.equal(frames[0]?.['key_frame'], 1, `rung ${rep} segment ${n} starts with a keyframe`);
      }
    }
  });

  test('ffmpeg killed mid-stream is restarted and the stream plays on; a killed publisher leaves no ffmpeg', async () => {
    const s = await server();
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/phoenix`, { width: 320, height: 240, seconds: 30, videoKbps: 300 });
    await waitPlayable(s, 'phoenix');
    const first = s.transcoder!.get('phoenix')!;
    const pid = first.pid!;
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => first.state.restarts === 1 && first.pid !== undefined && first.pid !== pid, 'a restarted ffmpeg', 10_000);
    await waitUntil(() => first.state.status === 'encoding' && (first.state.progress?.frame ?? 0) > 30, 'the new run encoding', 15_000);
    const newPid = first.pid!;
    pub.kill('SIGKILL');
    await waitUntil(() => s.registry.get('phoenix') === undefined, 'the key freed', 35_000);
    await waitUntil(() => !alive(newPid), 'no ffmpeg left after the publisher died', 10_000);
    assert.equal(first.state.status, 'complete');
  });

  test('a ladder from the configuration (RTMP_LADDER) is what gets encoded, aspect ratio and fps kept', async () => {
    const ladder = [{ name: 'low', width: 320, height: 180, bitrateKbps: 200, fps: 15, codec: 'h264' }];
    const s = await server({ RTMP_LADDER: JSON.stringify(ladder), RTMP_SEGMENT_SECONDS: '1', RTMP_WINDOW_SEGMENTS: '2' });
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/custom`, { width: 320, height: 240, seconds: 9 });
    const master = await waitPlayable(s, 'custom');
    const variants = master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF'));
    assert.equal(variants.length, 1, master);
    assert.match(variants[0]!, /RESOLUTION=240x180/, '4:3 source: the 180-line rung is 240 wide');
    assert.match(variants[0]!, /FRAME-RATE=15\.000/);
    assert.deepEqual(s.registry.get('custom')?.transcode?.rungs.map((r) => r.name), ['low']);
    // A 2-segment window of 1 s segments: the oldest segments leave the disk while the stream runs.
    const dir = join(s.transcoder!.root, 'custom');
    await waitUntil(() => existsSync(join(dir, 'chunk-0-00007.m4s')), 'a seventh segment', 15_000);
    assert.equal(existsSync(join(dir, 'chunk-0-00001.m4s')), false, 'the first segment was deleted');
    pub.kill('SIGINT');
    await pub.exited;
  });
});
