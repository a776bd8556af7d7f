import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { parseVideoTag } from '../../src/media/flv-tag.ts';
import { AvcFragmenter } from '../../src/package/avc-fragmenter.ts';
import { parseFragment } from '../../src/package/mp4/fragment.ts';
import type { FragmentIn } from '../../src/package/stream-packager.ts';
import { FFPROBE, flvTags, frameHashes, probe, requireBinary, run, type ProbePacket } from './mp4/support.ts';

/**
 * The passthrough remux (FLV H.264 → CMAF) checked against ffprobe packet by
 * packet: an x264 FLV with B-frames (so composition offsets are non-zero) and
 * a 1 s GOP, remuxed at 0.5 s parts, must give back every packet with the
 * FLV's decode and presentation times, sizes and keyframe flags.
 */
describe('AvcFragmenter: FLV H.264 remuxed to CMAF without decoding', () => {
  let flv: Buffer;
  let flvPackets: ProbePacket[];
  let fragments: FragmentIn[];
  let file: Buffer;
  let fragmenter: AvcFragmenter;

  before(async () => {
    requireBinary('/usr/bin/ffmpeg');
    requireBinary(FFPROBE);
    flv = await run('/usr/bin/ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-t', '3',
      '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '2', '-g', '30', '-keyint_min', '30', '-sc_threshold', '0', '-pix_fmt', 'yuv420p', '-f', 'flv', 'pipe:1',
    ]);
    flvPackets = (await probe(flv)).packets;
    fragments = [];
    for (const tag of flvTags(flv)) {
      if (tag.type !== 9) continue;
      const v = parseVideoTag(tag.body);
      if (v.packet === 'sequence-start') fragmenter = new AvcFragmenter(v.payload, { partSeconds: 0.5 });
      else fragments.push(...fragmenter.push(tag.ms, tag.body));
    }
    fragments.push(...fragmenter.flush());
    file = Buffer.concat([fragmenter.init.bytes, ...fragments.map((f) => f.bytes)]);
  });

  it('the init segment names the record: avc1, 90 kHz, the SPS size', () => {
    assert.match(fragmenter.init.codecs, /^avc1\.64/);
    assert.deepEqual([fragmenter.init.timescale, fragmenter.init.width, fragmenter.init.height], [90000, 320, 240]);
  });

  it('fragments cut at every keyframe and at the part duration, and state their own times', () => {
    assert.ok(fragments.length >= 6, `${fragments.length} fragments`);
    let end = 0;
    for (const f of fragments) {
      const info = parseFragment(f.bytes).tracks[0]!;
      assert.equal(info.baseDecodeTime, f.baseDecodeTime);
      assert.equal(info.duration, f.duration);
      assert.equal(info.firstSampleIsSync, f.independent);
      assert.equal(f.baseDecodeTime, end, 'fragments are contiguous');
      end += f.duration;
      // Never longer than a part plus a frame; a keyframe only ever first.
      assert.ok(f.duration <= 45000 + 3000, `fragment of ${f.duration} ticks`);
      assert.ok(info.samples.slice(1).every((s) => !s.isSync));
    }
    assert.equal(fragments.filter((f) => f.independent).length, 3, 'one independent fragment per 1 s GOP');
  });

  it('ffprobe sees every FLV packet with the same decode and presentation time, size and keyframe flag', async () => {
    const { streams, packets } = await probe(file);
    assert.deepEqual([streams[0]!.codec_name, streams[0]!.width, streams[0]!.height], ['h264', 320, 240]);
    assert.equal(packets.length, flvPackets.length);
    packets.forEach((p, i) => {
      const f = flvPackets[i]!;
      // FLV times are ms; the remux's are 90 kHz ticks of the same ms.
      assert.deepEqual(
        { dts: p.dts, pts: p.pts, size: p.size, key: p.flags.startsWith('K') },
        { dts: f.dts * 90, pts: f.pts * 90, size: f.size, key: f.flags.startsWith('K') },
        `packet ${i}`,
      );
    });
    assert.ok(packets.some((p) => p.pts !== p.dts), 'B-frames: composition offsets are written');
  });

  it('decodes to the same pictures as the FLV', async () => {
    assert.deepEqual(await frameHashes('/usr/bin/ffmpeg', file), await frameHashes('/usr/bin/ffmpeg', flv, '0:v'));
  });

  it('a decode time that goes back is refused with a typed error; headers and other codecs give nothing', () => {
    const f = new AvcFragmenter(fragmenter.track.avcC, { partSeconds: 0.5 });
    const key = Buffer.from([0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]);
    assert.deepEqual(f.push(100, key), []);
    assert.throws(() => f.push(50, key), (err: { code?: string }) => err.code === 'ERR_MP4_INVALID');
    assert.deepEqual(f.push(200, Buffer.from([0x17, 0, 0, 0, 0])), []);
    assert.deepEqual(f.push(200, Buffer.from([0x12, 0])), []);
  });
});
