import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { BrowserPlayer } from '../support/player.ts';
import { ffmpegPublish, type Publisher } from '../support/ffmpeg.ts';
import { startCachingProxy, type CachingProxy } from '../support/nginx.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const execFileAsync = promisify(execFile);

/** The last segment the MPD's video SegmentTimeline lists (the open one, in the low-latency form): its URL and number. */
function lastListed(mpd: string, base: string): { url: string; number: number } {
  const template = /<SegmentTemplate [^>]*media="([^"]+)" startNumber="(\d+)"[^>]*>([\s\S]*?)<\/SegmentTemplate>/.exec(mpd);
  assert.ok(template, 'a SegmentTemplate');
  let count = 0;
  for (const s of template[3]!.matchAll(/<S [^>]*?(?:r="(\d+)")?\/>/g)) count += 1 + Number(s[1] ?? 0);
  const number = Number(template[2]) + count - 1;
  return { url: `${base}/${template[1]!.replace('$Number$', String(number)).replace(/&amp;/g, '&')}`, number };
}

describe('low latency: LL-DASH from the same bytes, LL-HLS through a caching nginx', () => {
  let server: TestServer;
  let player: BrowserPlayer;
  let nginx: CachingProxy;
  let publisher: Publisher;
  let direct = '';
  before(async () => {
    server = await startTestServer({ RTMP_TRANSCODE: 'true', RTMP_TRANSCODE_PRESET: 'ultrafast' });
    [player, nginx] = await Promise.all([BrowserPlayer.launch(), startCachingProxy(server.httpPort)]);
    publisher = ffmpegPublish(`rtmp://127.0.0.1:${server.port}/live/ll`, { width: 640, height: 360, seconds: 22 });
    direct = `http://127.0.0.1:${server.httpPort}/streams/ll`;
    const deadline = Date.now() + 20_000;
    while ((await fetch(`${direct}/dash/manifest.mpd`)).status !== 200) {
      assert.ok(Date.now() < deadline, `the stream did not become playable: ${publisher.stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    publisher?.kill();
    await publisher?.exited.catch(() => {});
    await Promise.all([player?.close(), nginx?.stop(), server?.close()]);
  });

  test('the MPD in its low-latency form; the open segment is sent as it is made and ends as the closed segment', async () => {
    const mpd = await (await fetch(`${direct}/dash/manifest.mpd`)).text();
    assert.match(mpd, /availabilityTimeOffset="1\.5" availabilityTimeComplete="false"/);
    assert.match(mpd, /<Latency target="1500" min="500" max="3500" referenceId="0"\/>/);
    assert.match(mpd, /minimumUpdatePeriod="PT0\.5S"/);
    const utc = /<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="([^"]+)"\/>/.exec(mpd);
    assert.ok(utc);
    assert.ok(Math.abs(Date.parse(await (await fetch(utc[1]!)).text()) - Date.now()) < 2000, 'UTCTiming names our /time');
    // Wait for a segment to open, then fetch it at once: about 1.5 s of it is still to come.
    const before = lastListed(mpd, `${direct}/dash`).number;
    let open = lastListed(mpd, `${direct}/dash`);
    for (const deadline = Date.now() + 6000; open.number === before; await new Promise((r) => setTimeout(r, 50))) {
      assert.ok(Date.now() < deadline, 'a new segment within 6 s');
      open = lastListed(await (await fetch(`${direct}/dash/manifest.mpd`)).text(), `${direct}/dash`);
    }
    const res = await fetch(open.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('transfer-encoding'), 'chunked');
    const reader = res.body!.getReader();
    const chunks: Buffer[] = [];
    let firstAt = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      firstAt ||= performance.now();
      chunks.push(Buffer.from(r.value));
    }
    const endAt = performance.now();
    assert.ok(endAt - firstAt > 500, `the first bytes came ${(endAt - firstAt).toFixed(0)} ms before the segment closed`);
    const closed = await fetch(open.url);
    assert.ok(Number(closed.headers.get('content-length')) > 0, 'closed: served with its length');
    assert.deepEqual(Buffer.concat(chunks), Buffer.from(await closed.arrayBuffer()));
  });

  test('dash.js (low-latency mode, from the MPD) and hls.js (lowLatencyMode) through nginx play without errors; ffprobe plays the MPD', async () => {
    const probe = execFileAsync('ffprobe', ['-v', 'error', '-of', 'json', '-show_entries', 'stream=codec_name,width', `${direct}/dash/manifest.mpd`], { timeout: 30_000 });
    const viaNginx = `http://127.0.0.1:${nginx.port}/streams/ll`;
    const [dash, hls] = await Promise.all([
      player.play('dash', `${direct}/dash/manifest.mpd`),
      player.play('hls', `${viaNginx}/master.m3u8`, { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 }),
    ]);
    const [dashState, hlsState] = await Promise.all([
      dash.until((s) => s.played >= 4 || s.errors.length > 0, 'dash.js to play 4 s', 20_000),
      hls.until((s) => s.played >= 4 || s.errors.length > 0, 'hls.js through nginx to play 4 s', 20_000),
    ]);
    assert.deepEqual([dashState.errors, hlsState.errors], [[], []], nginx.errorLog());
    await Promise.all([dash.close(), hls.close()]);
    const streams = JSON.parse((await probe).stdout).streams as Record<string, unknown>[];
    assert.ok(streams.some((s) => s['codec_name'] === 'h264' && s['width'] === 640), JSON.stringify(streams));
  });

  test('through nginx: blocking playlist requests are never answered stale; parts come from the cache', async () => {
    const viaNginx = `http://127.0.0.1:${nginx.port}/streams/ll`;
    const master = await (await fetch(`${viaNginx}/master.m3u8`)).text();
    const media = master.split('\n').find((l) => l.endsWith('.m3u8'))!;
    const playlist = await (await fetch(`${viaNginx}/${media}`)).text();
    const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[^"]*-(\d+)\.(\d+)\.m4s"/.exec(playlist);
    assert.ok(hint, playlist);
    let [msn, part] = [Number(hint[1]), Number(hint[2])];
    for (let i = 0; i < 3; i++) {
      const url = `${viaNginx}/${media}?_HLS_msn=${msn}&_HLS_part=${part}`;
      const res = await fetch(url);
      assert.equal(res.status, 200);
      // MISS unless the player asked this very URL before it closed; either way it must list the part it names.
      assert.match(res.headers.get('x-cache-status') ?? '', /^(MISS|HIT)$/);
      const text = await res.text();
      const uri = new RegExp(`#EXT-X-PART:[^\\n]*URI="([^"]*-${msn}\\.${part}\\.m4s)"`).exec(text);
      assert.ok(uri, `the answer to _HLS_msn=${msn}&_HLS_part=${part} lists that part:\n${text}`);
      const again = await fetch(url);
      assert.deepEqual([again.headers.get('x-cache-status'), await again.text()], ['HIT', text], 'the same blocking URL again: from the cache');
      const first = await fetch(`${viaNginx}/${uri[1]}`);
      const bytes = Buffer.from(await first.arrayBuffer());
      assert.match(first.headers.get('x-cache-status') ?? '', /^(MISS|HIT)$/);
      const cached = await fetch(`${viaNginx}/${uri[1]}`);
      assert.equal(cached.headers.get('x-cache-status'), 'HIT', 'an immutable part, fetched again');
      assert.deepEqual(Buffer.from(await cached.arrayBuffer()), bytes);
      const next = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[^"]*-(\d+)\.(\d+)\.m4s"/.exec(text)!;
      [msn, part] = [Number(next[1]), Number(next[2])];
    }
  });
});
