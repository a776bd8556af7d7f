import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BitReader, nalToRbsp } from '../../src/media/bit-reader.ts';

/** Packs a string of '0'/'1' (spaces ignored) MSB-first, zero-padded to a byte. */
function bits(s: string): Buffer {
  const clean = s.replace(/\s+/g, '');
  const out = Buffer.alloc(Math.ceil(clean.length / 8));
  for (let i = 0; i < clean.length; i++) if (clean[i] === '1') out[i >> 3]! |= 0x80 >> (i & 7);
  return out;
}

function mediaCode(code: string) {
  return (err: unknown) => (err as { code?: string }).code === code;
}

describe('BitReader', () => {
  it('reads fixed-width fields MSB first across byte boundaries', () => {
    const r = new BitReader(Buffer.from([0b1010_1100, 0b0101_1111, 0xff, 0x00, 0x12]));
    assert.equal(r.readBits(3), 0b101);
    assert.equal(r.readBits(7), 0b0110001);
    assert.equal(r.readFlag(), false);
    assert.equal(r.bitPosition, 11);
    assert.equal(r.bitsLeft, 29);
    r.byteAlign();
    assert.equal(r.bitPosition, 16);
    assert.equal(r.readBits(24), 0xff0012);
    assert.equal(r.bitsLeft, 0);
  });

  it('reads 32 bits as an unsigned number', () => {
    assert.equal(new BitReader(Buffer.from([0xff, 0xff, 0xff, 0xfe])).readBits(32), 0xfffffffe);
  });

  it('decodes ue(v) and se(v) (H.264 Table 9-2, 9-3)', () => {
    const cases: [string, number, number][] = [
      ['1', 0, 0],
      ['010', 1, 1],
      ['011', 2, -1],
      ['00100', 3, 2],
      ['00101', 4, -2],
      ['0001000', 7, 4],
      ['000010001', 16, -8],
    ];
    for (const [code, ue, se] of cases) {
      assert.equal(new BitReader(bits(code)).readUe(), ue, `ue ${code}`);
      assert.equal(new BitReader(bits(code)).readSe(), se, `se ${code}`);
    }
  });

  it('accepts 31 leading zeros (2^32-2) and rejects 32 as MediaInvalidError', () => {
    const max = bits('0'.repeat(31) + '1' + '1'.repeat(31));
    assert.equal(new BitReader(max).readUe(), 2 ** 32 - 2);
    assert.throws(() => new BitReader(Buffer.alloc(8)).readUe(), mediaCode('ERR_MEDIA_INVALID'));
  });

  it('throws MediaTruncatedError when bits run out', () => {
    const r = new BitReader(Buffer.from([0xab]));
    assert.throws(() => r.readBits(9), mediaCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => r.skipBits(9), mediaCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => new BitReader(Buffer.from([0x00])).readUe(), mediaCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => new BitReader(Buffer.from([0x01])).readUe(), mediaCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => new BitReader(Buffer.alloc(0)).readFlag(), mediaCode('ERR_MEDIA_TRUNCATED'));
  });
});

describe('nalToRbsp', () => {
  it('drops emulation prevention bytes (H.264 7.4.1)', () => {
    assert.deepEqual(nalToRbsp(Buffer.from('0000030100000300000302', 'hex')), Buffer.from('0000010000000002', 'hex'));
    assert.deepEqual(nalToRbsp(Buffer.from('67000003', 'hex')), Buffer.from('670000', 'hex'));
    assert.deepEqual(nalToRbsp(Buffer.from('00030000', 'hex')), Buffer.from('00030000', 'hex'));
  });
});
