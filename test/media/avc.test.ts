import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAvcDecoderConfig, parseAvcSps } from '../../src/media/avc.ts';
import { BitWriter } from '../support/bit-writer.ts';

/** Real sequence header tags from ffmpeg 5.1 + libx264 (`-f flv`); the record follows the 5-byte AVC tag header. */
function record(name: string): Buffer {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url)).subarray(5);
}


/** Wraps SPS NAL units in an AVCDecoderConfigurationRecord with one tiny PPS. */
function avcC(sps: Buffer, profile = sps[1] ?? 0, level = sps[3] ?? 0): Buffer {
  const pps = Buffer.from('68ce3880', 'hex');
  const head = Buffer.from([1, profile, 0, level, 0xff, 0xe1, sps.length >> 8, sps.length & 0xff]);
  return Buffer.concat([head, sps, Buffer.from([1, 0, pps.length]), pps]);
}

const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

describe('parseAvcDecoderConfig on libx264 records', () => {
  const cases = [
    { file: 'avc-high-320x240.tag.bin', codecString: 'avc1.64000d', width: 320, height: 240, profile: 100, level: 13 },
    // 1080 = 68 MBs - 8 rows: frame_crop_bottom_offset 4 in 4:2:0 crop units.
    { file: 'avc-baseline-1920x1080.tag.bin', codecString: 'avc1.42c028', width: 1920, height: 1080, profile: 66, level: 40 },
    // 854 = 54 MBs - 10 columns: frame_crop_right_offset 5.
    { file: 'avc-main-854x480.tag.bin', codecString: 'avc1.4d401f', width: 854, height: 480, profile: 77, level: 31 },
    // High 4:4:4 with scaling lists (cqm=jvt): 12 lists, crop unit 1.
    { file: 'avc-high444-cqm-640x360.tag.bin', codecString: 'avc1.f4001e', width: 640, height: 360, profile: 244, level: 30 },
    { file: 'avc-high10-320x240.tag.bin', codecString: 'avc1.6e000d', width: 320, height: 240, profile: 110, level: 13 },
    // frame_mbs_only_flag 0: 8 map units of 32 rows, 16 rows cropped.
    { file: 'avc-interlaced-320x240.tag.bin', codecString: 'avc1.640015', width: 320, height: 240, profile: 100, level: 21 },
  ];
  for (const { file, ...expected } of cases) {
    it(`${file} → ${expected.codecString} ${expected.width}x${expected.height}`, () => {
      assert.deepEqual(parseAvcDecoderConfig(record(file)), { codec: 'h264', ...expected });
    });
  }

  it('reads the SPS fields of the High 10 and interlaced streams', () => {
    const hi10 = record('avc-high10-320x240.tag.bin');
    const sps = parseAvcSps(hi10.subarray(8, 8 + hi10.readUInt16BE(6)));
    assert.equal(sps.bitDepthLuma, 10);
    assert.equal(sps.chromaFormatIdc, 1);
    const interlaced = record('avc-interlaced-320x240.tag.bin');
    assert.equal(parseAvcSps(interlaced.subarray(8, 8 + interlaced.readUInt16BE(6))).frameMbsOnly, false);
  });

  it('accepts a High-profile record without the trailing chroma/bit-depth extension', () => {
    const full = record('avc-high-320x240.tag.bin');
    assert.equal(parseAvcDecoderConfig(full.subarray(0, full.length - 4)).width, 320);
    assert.throws(() => parseAvcDecoderConfig(full.subarray(0, full.length - 2)), isCode('ERR_MEDIA_TRUNCATED'));
  });
});

describe('parseAvcSps on hand-built parameter sets', () => {
  it('crops in luma samples when ChromaArrayType is 0 (monochrome, field coding)', () => {
    const sps = new BitWriter()
      .u(8, 0x67).u(8, 100).u(8, 0).u(8, 30).ue(0) // header, profile_idc 100, level 30, sps id
      .ue(0).ue(0).ue(0).u(1, 0).u(1, 0) // chroma_format_idc 0, bit depths, bypass, no scaling matrix
      .ue(0).ue(2) // log2_max_frame_num_minus4, pic_order_cnt_type 2
      .ue(1).u(1, 0).ue(1).ue(1) // max_num_ref_frames, gaps, 2 MBs wide, 2 map units high
      .u(1, 0).u(1, 0).u(1, 1) // frame_mbs_only 0, mbaff, direct_8x8
      .u(1, 1).ue(0).ue(3).ue(0).ue(1) // crop right 3 (×1), bottom 1 (×2)
      .rbsp();
    const parsed = parseAvcDecoderConfig(avcC(sps));
    assert.equal(parsed.width, 32 - 3);
    assert.equal(parsed.height, 64 - 2);
  });

  it('walks pic_order_cnt_type 1 and rejects a cycle over 255', () => {
    const ok = new BitWriter()
      .u(8, 0x67).u(8, 66).u(8, 0).u(8, 30).ue(0)
      .ue(0).ue(1).u(1, 0).se(-3).se(2).ue(2).se(1).se(-1)
      .ue(1).u(1, 0).ue(19).ue(14).u(1, 1).u(1, 1).u(1, 0)
      .rbsp();
    const parsed = parseAvcDecoderConfig(avcC(ok));
    assert.deepEqual([parsed.width, parsed.height], [320, 240]);
    const tooLong = new BitWriter()
      .u(8, 0x67).u(8, 66).u(8, 0).u(8, 30).ue(0)
      .ue(0).ue(1).u(1, 0).se(-3).se(2).ue(256)
      .u(32, 0xffffffff)
      .rbsp();
    assert.throws(() => parseAvcDecoderConfig(avcC(tooLong)), isCode('ERR_MEDIA_INVALID'));
  });

  it('the VUI sample aspect ratio: every aspect_ratio_idc of Table E-1, Extended_SAR reduced, 1:1, unspecified and reserved left out, a VUI cut short taken as square', () => {
    const withVui = (vui: (w: BitWriter) => BitWriter) =>
      parseAvcDecoderConfig(avcC(vui(new BitWriter()
        .u(8, 0x67).u(8, 66).u(8, 0).u(8, 30).ue(0)
        .ue(0).ue(2).ue(1).u(1, 0).ue(43).ue(35).u(1, 1).u(1, 1).u(1, 0) // 704x576, frame_mbs_only, no cropping
      ).rbsp())).sar;
    const table: [number, number][] = [[1, 1], [12, 11], [10, 11], [16, 11], [40, 33], [24, 11], [20, 11], [32, 11], [80, 33], [18, 11], [15, 11], [64, 33], [160, 99], [4, 3], [3, 2], [2, 1]];
    table.forEach((sar, i) => assert.deepEqual(withVui((w) => w.u(1, 1).u(1, 1).u(8, i + 1).u(1, 0)), i === 0 ? undefined : sar, `idc ${i + 1}`));
    assert.deepEqual(withVui((w) => w.u(1, 1).u(1, 1).u(8, 255).u(16, 128).u(16, 90)), [64, 45], 'Extended_SAR 128:90 reduced');
    assert.equal(withVui((w) => w.u(1, 1).u(1, 1).u(8, 255).u(16, 0).u(16, 90)), undefined, 'a zero term is unspecified');
    assert.equal(withVui((w) => w.u(1, 1).u(1, 1).u(8, 0)), undefined, 'idc 0: unspecified');
    assert.equal(withVui((w) => w.u(1, 1).u(1, 1).u(8, 17)), undefined, 'idc 17: reserved');
    assert.equal(withVui((w) => w.u(1, 1).u(1, 0)), undefined, 'no aspect ratio info');
    assert.equal(withVui((w) => w.u(1, 0)), undefined, 'no VUI');
    assert.equal(withVui((w) => w.u(1, 1).u(1, 1).u(4, 15)), undefined, 'a VUI cut inside aspect_ratio_idc');
  });

  it('x264 SARs: 16:11 from the table, 64:45 as Extended_SAR (ffmpeg 5.1, -vf setsar)', () => {
    assert.deepEqual(parseAvcDecoderConfig(record('avc-sar-16x11-352x288.tag.bin')).sar, [16, 11]);
    const pal = parseAvcDecoderConfig(record('avc-sar-64x45-720x576.tag.bin'));
    assert.deepEqual([pal.width, pal.height, pal.sar], [720, 576, [64, 45]]);
  });

  it('removes emulation prevention bytes before parsing', () => {
    // profile 66, constraint 0, level 0: "42 00 00" then ue(0)=1 → 0x00 0x00 0x03 escape needed after two zero bytes.
    const raw = new BitWriter()
      .u(8, 0x67).u(8, 66).u(8, 0).u(8, 0).ue(0)
      .ue(0).ue(2).ue(1).u(1, 0).ue(0).ue(0).u(1, 1).u(1, 1).u(1, 0)
      .rbsp();
    assert.equal(raw.subarray(2, 4).toString('hex'), '0000');
    const escaped = Buffer.concat([raw.subarray(0, 4), Buffer.from([3]), raw.subarray(4)]);
    const parsed = parseAvcDecoderConfig(avcC(escaped, 66, 0));
    assert.deepEqual([parsed.width, parsed.height], [16, 16]);
  });

  it('rejects malformed records with typed errors', () => {
    const good = record('avc-high-320x240.tag.bin');
    const withByte = (i: number, v: number) => {
      const b = Buffer.from(good);
      b[i] = v;
      return b;
    };
    assert.throws(() => parseAvcDecoderConfig(withByte(0, 0)), isCode('ERR_MEDIA_UNSUPPORTED'));
    assert.throws(() => parseAvcDecoderConfig(withByte(5, 0xe0)), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseAvcDecoderConfig(withByte(8, 0x68)), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseAvcDecoderConfig(Buffer.alloc(0)), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseAvcDecoderConfig(avcC(Buffer.from('67', 'hex'))), isCode('ERR_MEDIA_TRUNCATED'));
  });
});
