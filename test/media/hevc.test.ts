import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseHevcDecoderConfig } from '../../src/media/hevc.ts';

/** Real 'hvcC' boxes from ffmpeg 5.1 + libx265 3.5 (`-tag:v hvc1 -f mp4`). */
function fixture(name: string): Buffer {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
}

/** Offset of the first SPS NAL unit's first payload byte after its 2-byte header. */
function spsPayloadOffset(record: Buffer): number {
  let off = 23;
  for (let a = 0; a < record[22]!; a++) {
    const type = record[off]! & 0x3f;
    const count = record.readUInt16BE(off + 1);
    off += 3;
    for (let n = 0; n < count; n++) {
      if (type === 33) return off + 2 + 2;
      off += 2 + record.readUInt16BE(off);
    }
  }
  throw new Error('no SPS');
}

const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

describe('the HEVC VUI sample aspect ratio (through the whole SPS up to the VUI)', () => {
  it('libx265 with -vf setsar: 64:45 as Extended_SAR, 16:11 from the table (with scaling lists on); square sources have none', () => {
    assert.deepEqual(parseHevcDecoderConfig(fixture('hevc-sar-64x45-352x288.hvcC.bin')).sar, [64, 45]);
    assert.deepEqual(parseHevcDecoderConfig(fixture('hevc-sar-16x11-scaling-352x288.hvcC.bin')).sar, [16, 11]);
    for (const f of ['hevc-main-854x480.hvcC.bin', 'hevc-main10-1920x1080.hvcC.bin', 'hevc-rext444-854x480.hvcC.bin', 'hevc-main-sublayers-640x360.hvcC.bin']) {
      assert.equal(parseHevcDecoderConfig(fixture(f)).sar, undefined, f);
    }
  });

  it('an SPS whose tail is zeroed from any offset parses (a sane SAR or none) or throws ERR_MEDIA_*', () => {
    const record = fixture('hevc-sar-64x45-352x288.hvcC.bin');
    const off = spsPayloadOffset(record);
    const spsLength = record.readUInt16BE(off - 4);
    let cutsThatParse = 0;
    for (let cut = 1; cut < spsLength - 2; cut++) {
      const copy = Buffer.from(record);
      copy.fill(0, off + cut, off - 2 + spsLength); // zero the SPS tail: its exp-Golomb codes run out
      try {
        const parsed = parseHevcDecoderConfig(copy);
        cutsThatParse++;
        assert.ok(parsed.width > 0 && parsed.height > 0);
        if (parsed.sar !== undefined) assert.ok(parsed.sar.every((n) => Number.isInteger(n) && n > 0), `cut ${cut}: ${parsed.sar}`);
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        assert.match((err as { code?: string }).code ?? '', /^ERR_MEDIA_/);
      }
    }
    assert.ok(cutsThatParse > 0);
  });
});

describe('parseHevcDecoderConfig on libx265 records', () => {
  const cases = [
    // 854 is not a multiple of the 8-sample min CB: conf_win_right_offset 1 (× SubWidthC 2).
    { file: 'hevc-main-854x480.hvcC.bin', codecString: 'hvc1.1.6.L90.90', width: 854, height: 480, profile: 1, level: 90 },
    { file: 'hevc-main10-1920x1080.hvcC.bin', codecString: 'hvc1.2.4.L120.90', width: 1920, height: 1080, profile: 2, level: 120 },
    // RExt 4:4:4: compatibility flag 4 → reversed 0x10, two constraint bytes; crop unit 1.
    { file: 'hevc-rext444-854x480.hvcC.bin', codecString: 'hvc1.4.10.L90.9E.08', width: 854, height: 480, profile: 4, level: 90 },
    // temporal-layers=1: sps_max_sub_layers_minus1 = 1, so profile_tier_level has sub-layer flags.
    { file: 'hevc-main-sublayers-640x360.hvcC.bin', codecString: 'hvc1.1.6.L63.90', width: 640, height: 360, profile: 1, level: 63 },
  ];
  for (const { file, ...expected } of cases) {
    it(`${file} → ${expected.codecString} ${expected.width}x${expected.height}`, () => {
      assert.deepEqual(parseHevcDecoderConfig(fixture(file)), { codec: 'hevc', ...expected });
    });
  }

  it('writes profile space, high tier and all-zero constraint bytes per ISO 14496-15 E.3', () => {
    const b = Buffer.from(fixture('hevc-main-854x480.hvcC.bin'));
    b[1] = (2 << 6) | (1 << 5) | 1; // profile space 2 (B), high tier, profile 1
    b.fill(0, 6, 12);
    b[12] = 153;
    assert.equal(parseHevcDecoderConfig(b).codecString, 'hvc1.B1.6.H153');
  });
});

describe('parseHevcDecoderConfig errors', () => {
  it('rejects eight sub-layers (sps_max_sub_layers_minus1 = 7)', () => {
    const b = Buffer.from(fixture('hevc-main-854x480.hvcC.bin'));
    const at = spsPayloadOffset(b);
    b[at] = (b[at]! & 0xf1) | (7 << 1);
    assert.throws(() => parseHevcDecoderConfig(b), isCode('ERR_MEDIA_INVALID'));
  });

  it('rejects a record without an SPS, a wrong version, and a short header', () => {
    const b = fixture('hevc-main-854x480.hvcC.bin');
    const noArrays = Buffer.from(b.subarray(0, 23));
    noArrays[22] = 0;
    assert.throws(() => parseHevcDecoderConfig(noArrays), isCode('ERR_MEDIA_INVALID'));
    const v0 = Buffer.from(b);
    v0[0] = 0;
    assert.throws(() => parseHevcDecoderConfig(v0), isCode('ERR_MEDIA_UNSUPPORTED'));
    assert.throws(() => parseHevcDecoderConfig(b.subarray(0, 22)), isCode('ERR_MEDIA_TRUNCATED'));
  });

  it('rejects an SPS array entry that holds another NAL type', () => {
    const b = Buffer.from(fixture('hevc-main-854x480.hvcC.bin'));
    const at = spsPayloadOffset(b);
    b[at - 2] = 34 << 1; // PPS header inside the SPS array
    assert.throws(() => parseHevcDecoderConfig(b), isCode('ERR_MEDIA_INVALID'));
  });
});
