import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { parseAudioTag, parseVideoTag } from '../../../src/media/flv-tag.ts';
import { readBoxes } from '../../../src/package/mp4/boxes.ts';
import { parseFragment } from '../../../src/package/mp4/fragment.ts';
import { parseInit } from '../../../src/package/mp4/init.ts';
import { Mp4Splitter } from '../../../src/package/mp4/splitter.ts';
import { aacTrack, avcTrack, box, fullBox, writeFragment, writeInitSegment, type WriteSample, type WritableTrack } from '../../../src/package/mp4/write.ts';
import { FFPROBE, flvTags, frameHashes, probe, requireBinary, run } from './support.ts';

const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

function mediaFixture(name: string): Buffer {
  return readFileSync(new URL(`../../media/fixtures/${name}`, import.meta.url));
}

const AVCC = parseVideoTag(mediaFixture('avc-high-320x240.tag.bin')).payload;
const ASC = parseAudioTag(mediaFixture('aac-lc-48000-mono.tag.bin')).payload;

describe('box / fullBox writer (ISO/IEC 14496-12 4.2)', () => {
  it('writes size, type, version/flags and payloads', () => {
    assert.equal(box('free', Buffer.from([1, 2])).toString('hex'), '0000000a' + '66726565' + '0102');
    assert.equal(fullBox('mfhd', 1, 0x020001, Buffer.from([9])).toString('hex'), '0000000d' + '6d666864' + '01020001' + '09');
    assert.throws(() => box('toolong'), isCode('ERR_MP4_INVALID'));
  });
});

describe('writeInitSegment / writeFragment: round trip through our parser', () => {
  const video = avcTrack(1, AVCC);
  const audio = aacTrack(2, ASC);

  it('init segments parse back to the same track (avc1+avcC, mp4a+esds)', () => {
    const v = parseInit(writeInitSegment(video));
    assert.equal(v.majorBrand, 'iso6');
    assert.ok(v.compatibleBrands.includes('cmfc'));
    assert.equal(v.fragmented, true);
    assert.equal(v.tracks.length, 1);
    const vt = v.tracks[0]!;
    assert.deepEqual(
      { trackId: vt.trackId, handler: vt.handler, timescale: vt.timescale, codec: vt.codec, width: vt.width, height: vt.height, entry: vt.sampleEntry },
      { trackId: 1, handler: 'vide', timescale: 90000, codec: 'avc1.64000d', width: 320, height: 240, entry: 'avc1' },
    );
    assert.ok(vt.decoderConfig?.equals(AVCC));
    const a = parseInit(writeInitSegment(audio)).tracks[0]!;
    assert.deepEqual(
      { trackId: a.trackId, handler: a.handler, timescale: a.timescale, codec: a.codec, sampleRate: a.sampleRate, channels: a.channels },
      { trackId: 2, handler: 'soun', timescale: 48000, codec: 'mp4a.40.2', sampleRate: 48000, channels: 1 },
    );
    assert.ok(a.decoderConfig?.equals(ASC));
  });

  it('fragments parse back: times, sizes, flags, signed composition offsets, sample bytes in place', () => {
    const samples: WriteSample[] = [
      { duration: 3000, data: Buffer.from('00000002656601', 'hex').subarray(0, 6), isSync: true, compositionOffset: 6000 },
      { duration: 3000, data: Buffer.alloc(10, 7), isSync: false, compositionOffset: -3000 },
      { duration: 3001, data: Buffer.alloc(3, 9), isSync: false },
    ];
    const frag = writeFragment(video, 7, 2 ** 40, samples);
    assert.deepEqual(readBoxes(frag).map((b) => b.type), ['moof', 'mdat']);
    const info = parseFragment(frag);
    assert.equal(info.sequenceNumber, 7);
    const t = info.tracks[0]!;
    assert.deepEqual(
      { trackId: t.trackId, base: t.baseDecodeTime, duration: t.duration, count: t.sampleCount, sync: t.firstSampleIsSync, trun: t.trunVersions, tfdt: t.tfdtVersion },
      { trackId: 1, base: 2 ** 40, duration: 9001, count: 3, sync: true, trun: [1], tfdt: 1 },
    );
    t.samples.forEach((s, i) => {
      assert.equal(s.duration, samples[i]!.duration);
      assert.equal(s.compositionOffset, samples[i]!.compositionOffset ?? 0);
      assert.equal(s.isSync, samples[i]!.isSync);
      assert.ok(frag.subarray(s.offset!, s.offset! + s.size).equals(samples[i]!.data));
    });
    // Positive offsets only: trun version 0; none at all: no composition offset field.
    assert.deepEqual(parseFragment(writeFragment(audio, 1, 0, [{ duration: 1024, data: Buffer.alloc(5), isSync: true }])).tracks[0]!.trunVersions, [0]);
  });

  it('the splitter reads a written stream back', () => {
    const stream = Buffer.concat([writeInitSegment(audio), writeFragment(audio, 1, 0, [{ duration: 1024, data: Buffer.alloc(5), isSync: true }])]);
    const s = new Mp4Splitter();
    assert.deepEqual(s.push(stream).map((i) => i.kind), ['init', 'fragment']);
  });

  it('refuses what it cannot write with typed errors', () => {
    assert.throws(() => writeInitSegment({ ...video, trackId: 0 }), isCode('ERR_MP4_INVALID'));
    assert.throws(() => writeInitSegment({ ...video, codec: 'hevc' } as unknown as WritableTrack), isCode('ERR_MP4_UNSUPPORTED'));
    assert.throws(() => writeFragment(video, 1, -1, []), isCode('ERR_MP4_INVALID'));
    assert.throws(() => writeFragment(video, 1, 0, [{ duration: 1.5, data: Buffer.alloc(1), isSync: true }]), isCode('ERR_MP4_INVALID'));
  });
});

describe('FLV H.264 + AAC remuxed to CMAF with our writer (the passthrough path)', () => {
  let flv: Buffer;
  let videoFile: Buffer;
  let audioFile: Buffer;
  let videoFrames = 0;
  let videoKeys = 0;
  let audioFrames = 0;

  before(async () => {
    requireBinary('/usr/bin/ffmpeg');
    requireBinary(FFPROBE);
    flv = await run('/usr/bin/ffmpeg', [
      '-hide_banner', '-loglevel', 'error',
      '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=44100',
      '-t', '2', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '15', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'flv', 'pipe:1',
    ]);
    let vTrack: WritableTrack | undefined;
    let aTrack: WritableTrack | undefined;
    const vSamples: { dts: number; sample: WriteSample }[] = [];
    const aSamples: WriteSample[] = [];
    for (const tag of flvTags(flv)) {
      if (tag.type === 9) {
        const v = parseVideoTag(tag.body);
        if (v.packet === 'sequence-start') vTrack = avcTrack(1, Buffer.from(v.payload));
        else if (v.packet === 'coded-frames') {
          vSamples.push({ dts: tag.ms * 90, sample: { duration: 0, data: v.payload, isSync: v.frameType === 'key', compositionOffset: v.compositionTimeMs * 90 } });
        }
      } else if (tag.type === 8) {
        const a = parseAudioTag(tag.body);
        if (a.packet === 'sequence-header') aTrack = aacTrack(1, Buffer.from(a.payload));
        else if (a.packet === 'raw') aSamples.push({ duration: 1024, data: a.payload, isSync: true });
      }
    }
    assert.ok(vTrack && aTrack, 'the FLV carries both sequence headers');
    const withDurations = vSamples.map((s, i) => ({
      dts: s.dts,
      sample: { ...s.sample, duration: (vSamples[i + 1]?.dts ?? s.dts + 3000) - s.dts },
    }));
    // Video: one fragment per GOP. Audio: 20 frames a fragment.
    const vParts: Buffer[] = [writeInitSegment(vTrack)];
    let gop: typeof withDurations = [];
    const flush = () => {
      if (gop.length > 0) vParts.push(writeFragment(vTrack!, vParts.length, gop[0]!.dts, gop.map((g) => g.sample)));
      gop = [];
    };
    for (const s of withDurations) {
      if (s.sample.isSync) flush();
      gop.push(s);
    }
    flush();
    const aParts: Buffer[] = [writeInitSegment(aTrack)];
    for (let i = 0; i < aSamples.length; i += 20) aParts.push(writeFragment(aTrack, aParts.length, i * 1024, aSamples.slice(i, i + 20)));
    videoFile = Buffer.concat(vParts);
    audioFile = Buffer.concat(aParts);
    videoFrames = vSamples.length;
    videoKeys = vSamples.filter((s) => s.sample.isSync).length;
    audioFrames = aSamples.length;
  });

  it('ffprobe reads the H.264 file: every frame, keyframes where FLV had them, High profile 320x240', async () => {
    const { streams, packets } = await probe(videoFile);
    assert.equal(streams.length, 1);
    assert.deepEqual([streams[0]!.codec_name, streams[0]!.profile, streams[0]!.width, streams[0]!.height], ['h264', 'High', 320, 240]);
    assert.equal(packets.length, videoFrames);
    assert.equal(packets.filter((p) => p.flags.startsWith('K')).length, videoKeys);
    assert.ok(videoKeys >= 4);
  });

  it('ffprobe reads the AAC file: every frame, LC, the FLV sample rate', async () => {
    const { streams, packets } = await probe(audioFile);
    assert.deepEqual([streams[0]!.codec_name, streams[0]!.profile, streams[0]!.sample_rate], ['aac', 'LC', '44100']);
    assert.equal(packets.length, audioFrames);
  });

  it('decodes to the same frames as the FLV it came from (video and audio)', async () => {
    assert.deepEqual(await frameHashes('/usr/bin/ffmpeg', videoFile), await frameHashes('/usr/bin/ffmpeg', flv, '0:v'));
    assert.deepEqual(await frameHashes('/usr/bin/ffmpeg', audioFile), await frameHashes('/usr/bin/ffmpeg', flv, '0:a'));
  });
});
