import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseOpusHead } from '../../src/media/opus.ts';

/** An OpusHead (RFC 7845 5.1) as libopus writes it: stereo, pre-skip 312, 48 kHz input, family 0. */
const head = Buffer.from('4f707573486561640102380180bb00000000' + '00', 'hex');

describe('parseOpusHead', () => {
  it('stereo, decoded at 48 kHz whatever the input rate', () => {
    assert.deepEqual(parseOpusHead(head), { codec: 'opus', codecString: 'opus', objectType: 0, sampleRate: 48000, channels: 2 });
    const at16k = Buffer.from(head);
    at16k.writeUInt32LE(16000, 12);
    assert.equal(parseOpusHead(at16k).sampleRate, 48000);
  });

  it('refuses bad magic, a later major version, 0 channels, more than 2 channels in family 0, a cut mapping table', () => {
    const bad = (f: (b: Buffer) => void) => {
      const b = Buffer.from(head);
      f(b);
      return b;
    };
    assert.throws(() => parseOpusHead(bad((b) => b.write('OpusTags', 0, 'latin1'))), { code: 'ERR_MEDIA_INVALID' });
    assert.throws(() => parseOpusHead(bad((b) => (b[8] = 0x10))), { code: 'ERR_MEDIA_UNSUPPORTED' });
    assert.throws(() => parseOpusHead(bad((b) => (b[9] = 0))), { code: 'ERR_MEDIA_INVALID' });
    assert.throws(() => parseOpusHead(bad((b) => (b[9] = 6))), { code: 'ERR_MEDIA_INVALID' });
    assert.throws(() => parseOpusHead(bad((b) => ((b[9] = 6), (b[18] = 1)))), { code: 'ERR_MEDIA_TRUNCATED' });
    for (let cut = 0; cut < head.length; cut++) assert.throws(() => parseOpusHead(head.subarray(0, cut)), { code: 'ERR_MEDIA_TRUNCATED' });
  });

  it('fuzz: any bytes after the magic give a sane configuration or an ERR_MEDIA_* error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (a) => {
        try {
          const c = parseOpusHead(Buffer.concat([Buffer.from('OpusHead'), Buffer.from(a)]));
          assert.ok(c.channels >= 1 && c.channels <= 255 && c.sampleRate === 48000);
        } catch (err) {
          assert.match((err as { code?: string }).code ?? '', /^ERR_MEDIA_/);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
