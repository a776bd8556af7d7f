import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAv1CodecConfig } from '../../src/media/av1.ts';
import { BitWriter } from '../support/bit-writer.ts';

/** Real 'av1C' boxes from ffmpeg 5.1 with libaom-av1 and libsvtav1 (`-f mp4`). */
function fixture(name: string): Buffer {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
}


/** av1C header bytes (AV1-ISOBMFF 2.3.3) followed by the given OBUs. */
function av1C(profile: number, level: number, tier: number, highBitdepth: number, obus: Buffer): Buffer {
  const head = new BitWriter().u(1, 1).u(7, 1).u(3, profile).u(5, level).u(1, tier).u(1, highBitdepth).u(6, 0b000110).u(8, 0).bytes();
  return Buffer.concat([head, obus]);
}

/** A sequence header OBU with obu_has_size_field set. */
function sequenceHeaderObu(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x0a, payload.length]), payload]);
}

const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

describe('parseAv1CodecConfig on encoder records', () => {
  const cases = [
    { file: 'av1-main-320x240.av1C.bin', codecString: 'av01.0.00M.08', width: 320, height: 240, profile: 0, level: 0 },
    { file: 'av1-main-1280x720.av1C.bin', codecString: 'av01.0.05M.08', width: 1280, height: 720, profile: 0, level: 5 },
    { file: 'av1-high444-320x240.av1C.bin', codecString: 'av01.1.00M.08', width: 320, height: 240, profile: 1, level: 0 },
  ];
  for (const { file, ...expected } of cases) {
    it(`${file} → ${expected.codecString} ${expected.width}x${expected.height}`, () => {
      assert.deepEqual(parseAv1CodecConfig(fixture(file)), { codec: 'av1', ...expected });
    });
  }
});

describe('parseAv1CodecConfig on hand-built sequence headers (AV1 5.5.1)', () => {
  it('walks timing_info, decoder_model_info and two operating points', () => {
    const seq = new BitWriter()
      .u(3, 0).u(1, 0).u(1, 0) // seq_profile, still_picture, reduced_still_picture_header
      .u(1, 1).u(32, 1001).u(32, 60000).u(1, 1).u(3, 0b001).u(2, 0b10) // timing_info, equal_picture_interval, uvlc() '001' '10' = 5
      .u(1, 1).u(5, 9).u(32, 1001).u(5, 31).u(5, 31) // decoder_model_info: buffer_delay_length 10
      .u(1, 1).u(5, 1) // initial_display_delay_present, two operating points
      .u(12, 0x103).u(5, 12).u(1, 1).u(1, 1).u(10, 5).u(10, 6).u(1, 0).u(1, 1).u(4, 3) // op 0: level 12, tier, model, delay
      .u(12, 0x101).u(5, 8).u(1, 0).u(1, 0).u(1, 0) // op 1
      .u(4, 10).u(4, 10).u(11, 1919).u(11, 1079) // frame size bits, max_frame_*_minus_1
      .u(8, 0)
      .bytes();
    const parsed = parseAv1CodecConfig(av1C(0, 12, 1, 1, sequenceHeaderObu(seq)));
    assert.deepEqual(parsed, { codec: 'av1', codecString: 'av01.0.12H.10', width: 1920, height: 1080, profile: 0, level: 12 });
  });

  it('reads a reduced still picture header after a temporal delimiter OBU', () => {
    const seq = new BitWriter().u(3, 0).u(1, 1).u(1, 1).u(5, 4).u(4, 15).u(4, 15).u(16, 65535).u(16, 1).u(4, 0).bytes();
    const td = Buffer.from([0x12, 0x00]);
    const parsed = parseAv1CodecConfig(av1C(0, 4, 0, 0, Buffer.concat([td, sequenceHeaderObu(seq)])));
    assert.deepEqual([parsed.width, parsed.height, parsed.codecString], [65536, 2, 'av01.0.04M.08']);
  });

  it('accepts a last OBU without a size field and with an extension header', () => {
    const seq = new BitWriter().u(3, 0).u(1, 1).u(1, 1).u(5, 4).u(4, 7).u(4, 7).u(8, 99).u(8, 49).bytes();
    const obu = Buffer.concat([Buffer.from([0x0c, 0x00]), seq]); // type 1, extension flag, no size field
    const parsed = parseAv1CodecConfig(av1C(0, 4, 0, 0, obu));
    assert.deepEqual([parsed.width, parsed.height], [100, 50]);
  });
});

describe('parseAv1CodecConfig errors', () => {
  it('rejects a record without configOBUs as MediaInvalidError', () => {
    assert.throws(() => parseAv1CodecConfig(fixture('av1-main-320x240.av1C.bin').subarray(0, 4)), isCode('ERR_MEDIA_INVALID'));
  });

  it('rejects configOBUs without a sequence header', () => {
    assert.throws(() => parseAv1CodecConfig(av1C(0, 0, 0, 0, Buffer.from([0x12, 0x00]))), isCode('ERR_MEDIA_INVALID'));
  });

  it('rejects a bad marker, an unknown version, the forbidden bit and an overlong leb128', () => {
    const good = fixture('av1-main-320x240.av1C.bin');
    const patched = (i: number, v: number) => {
      const b = Buffer.from(good);
      b[i] = v;
      return b;
    };
    assert.throws(() => parseAv1CodecConfig(patched(0, 0x01)), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseAv1CodecConfig(patched(0, 0x82)), isCode('ERR_MEDIA_UNSUPPORTED'));
    assert.throws(() => parseAv1CodecConfig(patched(4, 0x8a)), isCode('ERR_MEDIA_INVALID'));
    const leb = av1C(0, 0, 0, 0, Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]));
    assert.throws(() => parseAv1CodecConfig(leb), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseAv1CodecConfig(Buffer.from([0x81, 0x00])), isCode('ERR_MEDIA_TRUNCATED'));
  });
});
