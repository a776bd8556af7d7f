import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MediaClassifier } from '../../src/media/media-classifier.ts';
import { parseLegacyAudioConfig, parseMpegAudioHeader } from '../../src/media/legacy-audio.ts';

/** The first 64 bytes of an MP3 audio tag from ffmpeg 5.1 (`-c:a libmp3lame -ar 48000 -ac 2 -f flv`). */
const mp3Tag = readFileSync(new URL('./fixtures/mp3-48000-stereo.tag.bin', import.meta.url));

/** An MPEG audio frame header: version (0 2.5, 2 MPEG-2, 3 MPEG-1), layer (1 = III), rate index, mode (3 = mono). */
function header(version: number, layer: number, rate: number, mode: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(((0x7ff << 21) | (version << 19) | (layer << 17) | (1 << 16) | (9 << 12) | (rate << 10) | (mode << 6)) >>> 0);
  return b;
}

describe('legacy FLV audio configuration (no sequence header: the first frame says it)', () => {
  it('an ffmpeg MP3 tag: 48 kHz stereo from the frame header, though the FLV bits say 44 kHz', () => {
    assert.equal(mp3Tag[0]! >> 4, 2, 'SoundFormat 2');
    assert.deepEqual(parseLegacyAudioConfig('mp3', mp3Tag), { codec: 'mp3', codecString: 'mp4a.40.34', objectType: 34, sampleRate: 48000, channels: 2 });
  });

  it('MPEG-1, MPEG-2 and MPEG-2.5 rates; mono', () => {
    assert.equal(parseMpegAudioHeader(header(3, 1, 0, 0)).sampleRate, 44100);
    assert.equal(parseMpegAudioHeader(header(3, 1, 2, 0)).sampleRate, 32000);
    assert.equal(parseMpegAudioHeader(header(2, 1, 1, 0)).sampleRate, 24000);
    assert.equal(parseMpegAudioHeader(header(0, 1, 0, 0)).sampleRate, 11025);
    assert.equal(parseMpegAudioHeader(header(3, 1, 0, 3)).channels, 1);
  });

  it('reserved fields and a missing syncword are ERR_MEDIA_INVALID; a short header ERR_MEDIA_TRUNCATED', () => {
    const invalid = { code: 'ERR_MEDIA_INVALID' };
    assert.throws(() => parseMpegAudioHeader(header(1, 1, 0, 0)), invalid);
    assert.throws(() => parseMpegAudioHeader(header(3, 0, 0, 0)), invalid);
    assert.throws(() => parseMpegAudioHeader(header(3, 1, 3, 0)), invalid);
    assert.throws(() => parseMpegAudioHeader(Buffer.from('00000000', 'hex')), invalid);
    assert.throws(() => parseMpegAudioHeader(Buffer.from('fffb', 'hex')), { code: 'ERR_MEDIA_TRUNCATED' });
  });

  it('an MP3 tag whose body is no frame header falls back to the FLV bits; other formats use them (G.711 is 8 kHz whatever they say)', () => {
    assert.deepEqual(parseLegacyAudioConfig('mp3', Buffer.from('2e0102', 'hex')), { codec: 'mp3', codecString: 'mp4a.40.34', objectType: 34, sampleRate: 44100, channels: 1 });
    assert.deepEqual(parseLegacyAudioConfig('pcm', Buffer.from('3b00', 'hex')), { codec: 'pcm', codecString: 'pcm', objectType: 0, sampleRate: 22050, channels: 2 });
    assert.equal(parseLegacyAudioConfig('g711u', Buffer.from('8f00', 'hex')).sampleRate, 8000);
    assert.throws(() => parseLegacyAudioConfig('pcm', Buffer.alloc(0)), { code: 'ERR_MEDIA_TRUNCATED' });
  });

  it('fuzz: any bytes, and the fixture cut at every offset, give a sane configuration or an ERR_MEDIA_* error', () => {
    const check = (b: Buffer) => {
      try {
        const c = parseLegacyAudioConfig('mp3', b);
        assert.ok(Number.isInteger(c.sampleRate) && c.sampleRate > 0 && (c.channels === 1 || c.channels === 2));
      } catch (err) {
        assert.match((err as { code?: string }).code ?? '', /^ERR_MEDIA_/);
      }
    };
    for (let i = 0; i <= mp3Tag.length; i++) check(mp3Tag.subarray(0, i));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 16 }), (a) => check(Buffer.from(a))), { numRuns: 5000 });
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (a) => {
        try {
          const c = parseMpegAudioHeader(Buffer.from(a));
          assert.ok([8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000].includes(c.sampleRate));
        } catch (err) {
          assert.match((err as { code?: string }).code ?? '', /^ERR_MEDIA_/);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('the classifier configures the audio from the first MP3 frame, once, and again when the codec changes', () => {
    const c = new MediaClassifier(1080);
    const first = c.audio(0, mp3Tag);
    assert.equal(first.frame, true);
    assert.equal(first.info?.audio?.codec, 'mp3');
    assert.equal(c.audio(26, mp3Tag).info?.audio, undefined, 'later frames carry no configuration');
    assert.equal(c.audio(52, Buffer.from('af001210', 'hex')).info?.audio?.codec, 'aac');
    assert.equal(c.audio(78, mp3Tag).info?.audio?.codec, 'mp3');
  });
});
