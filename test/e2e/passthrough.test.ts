/**
 * Passthrough end to end (issue 15): a real ffmpeg publishes 640x360 H.264
 * with a 2 s GOP to a server whose ladder tops out at 360p; the top rendition
 * is the source packaged by our own remux (no encode), its bytes play with
 * ffprobe, every rendition's segments start at the same decode time, and
 * GetRoutes (a real grpc-js client) names it. A second publish with a 1.7 s
 * GOP, at the same time, falls back to encoding every rung and says why. A
 * third, 704x396 (larger than the top rung: no passthrough candidate) and
 * declaring no bitrate in onMetaData, gets every rung capped at the bitrate its
 * short measuring window measured (about 600 kbps), and its 360p rendition
 * comes out near that, not at the rung's 800k budget.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';
import { ModuleService } from '../../src/gen/marchproxy/module/v1/module_pb.ts';
import { grpcDefinition } from '../../src/grpc/adapter.ts';
import { parseFragment } from '../../src/package/mp4/fragment.ts';
import { ffmpegPublish, type Publisher } from '../support/ffmpeg.ts';
import { startTestServer } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';
import { FFPROBE, probe, requireBinary } from '../package/mp4/support.ts';

const ModuleClient = makeGenericClientConstructor(grpcDefinition(ModuleService), 'ModuleService');

interface Route {
  streamKey: string;
  encoder: string;
  profiles: { name: string; codec: string; bitrate: number; resolution: number; status: string }[];
}

function getRoutes(client: Client): Promise<{ routes: Route[] }> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)['GetRoutes']!;
  return new Promise((resolve, reject) => {
    fn.call(client, {}, new Metadata(), { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res: { routes: Route[] }) => (err ? reject(err) : resolve(res)));
  });
}

const LADDER = JSON.stringify([
  { name: '360p', width: 640, height: 360, bitrateKbps: 800, fps: 30, codec: 'h264' },
  { name: '240p', width: 426, height: 240, bitrateKbps: 400, fps: 30, codec: 'h264' },
  { name: '180p', width: 320, height: 180, bitrateKbps: 200, fps: 30, codec: 'h264' },
]);

/** A 2 s (fits) or 1.7 s (does not) GOP, closed GOPs, no scene cuts. */
const gop = (frames: number) => ['-g', String(frames), '-keyint_min', String(frames), '-sc_threshold', '0'];

describe('passthrough: the source as the top rung', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let client: Client;
  let fits: Publisher;
  let off: Publisher;
  let short: Publisher;
  let capped: Publisher;
  const base = () => `http://127.0.0.1:${server.httpPort}/streams`;

  before(async () => {
    requireBinary(FFPROBE);
    server = await startTestServer({ RTMP_TRANSCODE: 'true', RTMP_TRANSCODE_PRESET: 'veryfast', RTMP_LADDER: LADDER });
    client = new ModuleClient(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
    const url = (key: string) => `rtmp://127.0.0.1:${server.port}/live/${key}`;
    fits = ffmpegPublish(url('pt_fits'), { width: 640, height: 360, seconds: 16, videoKbps: 500, extra: gop(60) });
    off = ffmpegPublish(url('pt_gop'), { width: 640, height: 360, seconds: 16, videoKbps: 500, extra: gop(51) });
    short = ffmpegPublish(url('pt_short'), { width: 640, height: 360, seconds: 3, videoKbps: 500, extra: gop(60) });
    // No -b:v (CRF under a 600k VBV, the buffer starting nearly empty so the first GOP is not over it): flv writes videodatarate 0.
    capped = ffmpegPublish(url('pt_cap'), { width: 704, height: 396, seconds: 16, videoKbps: 600, extra: [...gop(60), '-b:v', '0', '-crf', '12', '-rc_init_occupancy', '60k'] });
    const complete = (key: string) => {
      const snap = server.transcoder!.get(key)?.packager.snapshot(Date.now());
      return snap !== undefined && snap.video.length === 3 && snap.video.every((v) => v.segments.filter((s) => s.complete).length >= 3);
    };
    await waitUntil(() => complete('pt_fits') && complete('pt_gop') && complete('pt_cap'), 'three complete segments in every rendition of the three streams', 40_000);
  });

  after(async () => {
    client?.close();
    fits?.kill();
    off?.kill();
    short?.kill();
    capped?.kill();
    await Promise.allSettled([fits?.exited, off?.exited, short?.exited, capped?.exited]);
    await server?.close();
  });

  test('the fitting source is passed through as 360p; the other falls back with the reason', () => {
    const on = server.registry.get('pt_fits')!.transcode!;
    assert.equal(on.passthrough?.status, 'on', JSON.stringify(on.passthrough));
    assert.equal(on.passthrough?.rung, '360p');
    assert.deepEqual(on.rungs.map((r) => r.name), ['360p', '240p', '180p']);
    // Measured bitrate caps every rung: a ~500k source gets no rung above what it measured.
    const measured = on.passthrough!.measuredKbps!;
    assert.ok(measured > 200 && measured < 800, `measured ${measured} kbps`);
    for (const r of on.rungs.slice(1)) assert.ok(r.bitrateKbps <= Math.max(measured, 1), `${r.name} at ${r.bitrateKbps}k`);
    const no = server.registry.get('pt_gop')!.transcode!;
    assert.equal(no.passthrough?.status, 'off');
    assert.match(no.passthrough?.reason ?? '', /GOP 1\.7\d* s does not divide the 2 s segment/);
  });

  test('no candidate, no declared bitrate: every rung capped at the bitrate measured over one GOP', async (ctx) => {
    const t = server.registry.get('pt_cap')!.transcode!;
    assert.equal(t.passthrough?.status, 'off');
    assert.match(t.passthrough?.reason ?? '', /larger than the top rung/);
    assert.equal(t.bitrateCap?.from, 'measured', JSON.stringify(t.bitrateCap));
    const cap = t.bitrateCap!.kbps;
    assert.ok(cap > 500 && cap < 700, `measured ${cap} kbps of a 600k source`);
    assert.deepEqual(t.rungs.map((r) => [r.name, r.bitrateKbps]), [['360p', cap], ['240p', Math.min(400, cap)], ['180p', 200]]);
    const { routes } = await getRoutes(client);
    const route = routes.find((r) => r.streamKey === 'pt_cap')!;
    assert.deepEqual(route.profiles.map((p) => p.bitrate), t.rungs.map((r) => r.bitrateKbps));
    // What ffmpeg made of the capped 360p rung: near the cap, well under the rung's 800k budget.
    const snap = server.transcoder!.get('pt_cap')!.packager.snapshot(Date.now());
    const top = snap.video.find((v) => v.name === '360p')!;
    const done = top.segments.filter((s) => s.complete);
    const get = async (uri: string) => Buffer.from(await (await fetch(`${base()}/pt_cap/${uri}`)).arrayBuffer());
    const bytes = Buffer.concat([await get(done[0]!.initUri), ...(await Promise.all(done.map((s) => get(s.uri))))]);
    const { streams, packets } = await probe(bytes);
    assert.deepEqual([streams[0]!.width, streams[0]!.height], [640, 360]);
    const kbps = (packets.reduce((n, p) => n + p.size, 0) * 8) / (packets.length / 30) / 1000;
    ctx.diagnostic(`measured ${cap} kbps; 360p output ${Math.round(kbps)} kbps over ${done.length} segments`);
    assert.ok(kbps > cap * 0.6 && kbps < Math.min(cap * 1.2, 760), `360p output at ${Math.round(kbps)} kbps, capped at ${cap}k`);
  });

  test('a stream that ends inside the measuring window is still encoded, all of it', async () => {
    assert.equal(await short.exited, 0, short.stderr());
    // Its ffmpeg starts only at the end (the window held all of it): on a loaded box the publisher may have just exited.
    await waitUntil(() => server.transcoder!.get('pt_short') === undefined, "pt_short's ffmpeg to finish", 20_000);
    const res = await fetch(`${base()}/pt_short/360p.m3u8`);
    assert.equal(res.status, 200);
    const segments = (await res.text()).split('\n').filter((l) => /^360p-.*\.m4s$/.test(l));
    assert.ok(segments.length >= 1, 'the 3 s stream has its segments');
  });

  test('GetRoutes: copy+x264 and the passed-through profile (h264, measured bitrate)', async () => {
    const { routes } = await getRoutes(client);
    const on = routes.find((r) => r.streamKey === 'pt_fits')!;
    assert.equal(on.encoder, 'copy+x264');
    assert.deepEqual(on.profiles.map((p) => [p.name, p.codec, p.resolution]), [['360p', 'h264', 360], ['240p', 'h264', 240], ['180p', 'h264', 180]]);
    assert.equal(on.profiles[0]!.bitrate, server.registry.get('pt_fits')!.transcode!.passthrough!.measuredKbps);
    assert.equal(on.profiles[0]!.status, 'encoding');
    assert.equal(routes.find((r) => r.streamKey === 'pt_gop')!.encoder, 'x264');
  });

  test('the passed-through rendition plays with ffprobe: the source H.264 at 640x360', async () => {
    const snap = server.transcoder!.get('pt_fits')!.packager.snapshot(Date.now());
    const top = snap.video.find((v) => v.name === '360p')!;
    const segment = top.segments.find((s) => s.complete)!;
    const get = async (uri: string) => Buffer.from(await (await fetch(`${base()}/pt_fits/${uri}`)).arrayBuffer());
    const bytes = Buffer.concat([await get(segment.initUri), await get(segment.uri)]);
    const { streams, packets } = await probe(bytes);
    assert.deepEqual([streams[0]!.codec_name, streams[0]!.width, streams[0]!.height], ['h264', 640, 360]);
    assert.ok(packets.length >= 55 && packets.length <= 65, `${packets.length} frames in a 2 s segment`);
    assert.ok(packets[0]!.flags.startsWith('K'));
  });

  test('every rendition\'s segments start at the same decode time (tfdt) as the source\'s', async () => {
    const starts = async (key: string) => {
      const snap = server.transcoder!.get(key)!.packager.snapshot(Date.now());
      const out = new Map<string, number[]>();
      for (const v of snap.video) {
        const list: number[] = [];
        for (const s of v.segments.filter((x) => x.complete)) {
          const bytes = Buffer.from(await (await fetch(`${base()}/${key}/${s.uri}`)).arrayBuffer());
          list.push(parseFragment(bytes).tracks[0]!.baseDecodeTime!);
        }
        out.set(v.name, list);
      }
      return out;
    };
    const byRung = await starts('pt_fits');
    const top = byRung.get('360p')!;
    assert.ok(top.length >= 3);
    for (const [name, list] of byRung) {
      // Same segment boundaries, to the tick: the encoded rungs key where the source does (x264 veryfast: with B-frames).
      const n = Math.min(top.length, list.length);
      assert.deepEqual(list.slice(0, n), top.slice(0, n), `${name} segment starts vs 360p's`);
    }
  });
});
