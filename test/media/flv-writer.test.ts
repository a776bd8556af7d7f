import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { encodeFlvTag, flvFileHeader } from '../../src/media/flv-writer.ts';

function fixture(name: string): Buffer {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
}

const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

describe('flvFileHeader (FLV spec E.2, E.3)', () => {
  it('writes the 9-byte header and PreviousTagSize0', () => {
    assert.equal(flvFileHeader({ audio: true, video: true }).toString('hex'), '464c5601050000000900000000');
    assert.equal(flvFileHeader({ audio: true, video: false }).toString('hex'), '464c5601040000000900000000');
    assert.equal(flvFileHeader({ audio: false, video: true }).toString('hex'), '464c5601010000000900000000');
  });
});

describe('encodeFlvTag (FLV spec E.4.1)', () => {
  it('writes type, size, 24-bit timestamp + extended byte, stream id 0, body, PreviousTagSize', () => {
    const tag = encodeFlvTag(9, 0x12345678, Buffer.from('abc'));
    assert.equal(tag.toString('hex'), '09' + '000003' + '345678' + '12' + '000000' + '616263' + '0000000e');
  });

  it('wraps timestamps modulo 2^32 and rejects negative or fractional ones', () => {
    assert.equal(encodeFlvTag(8, 2 ** 32 + 5, Buffer.alloc(0)).subarray(4, 8).toString('hex'), '00000500');
    assert.throws(() => encodeFlvTag(8, -1, Buffer.alloc(0)), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => encodeFlvTag(8, 1.5, Buffer.alloc(0)), isCode('ERR_MEDIA_INVALID'));
  });

  it('rejects a body above 2^24-1 bytes', () => {
    assert.throws(() => encodeFlvTag(18, 0, Buffer.alloc(0x1000000)), isCode('ERR_MEDIA_INVALID'));
  });
});

// ffprobe is a test requirement (.ci/run installs ffmpeg), so this never skips.
describe('flv-writer output read back by ffprobe', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flv-writer-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('ffprobe sees H.264 High 320x240 and AAC LC 44.1 kHz stereo', () => {
    const file = join(dir, 'out.flv');
    writeFileSync(
      file,
      Buffer.concat([
        flvFileHeader({ audio: true, video: true }),
        encodeFlvTag(9, 0, fixture('avc-high-320x240.tag.bin')),
        encodeFlvTag(8, 0, fixture('aac-lc-44100-stereo.tag.bin')),
        encodeFlvTag(9, 0, fixture('avc-high-320x240-key.tag.bin')),
        encodeFlvTag(8, 0, fixture('aac-lc-44100-stereo-raw.tag.bin')),
      ]),
    );
    const out = execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', file], { encoding: 'utf8' });
    const streams = (JSON.parse(out) as { streams: Record<string, unknown>[] }).streams;
    const video = streams.find((s) => s.codec_type === 'video');
    const audio = streams.find((s) => s.codec_type === 'audio');
    assert.deepEqual(
      { codec: video?.codec_name, profile: video?.profile, width: video?.width, height: video?.height },
      { codec: 'h264', profile: 'High', width: 320, height: 240 },
    );
    assert.deepEqual(
      { codec: audio?.codec_name, profile: audio?.profile, rate: audio?.sample_rate, channels: audio?.channels },
      { codec: 'aac', profile: 'LC', rate: '44100', channels: 2 },
    );
  });
});
