import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { installedFfmpegStatic } from '../../src/ffmpeg/locate.ts';
import { parseAudioSpecificConfig } from '../../src/media/aac.ts';
import { parseAv1CodecConfig } from '../../src/media/av1.ts';
import { parseAvcDecoderConfig } from '../../src/media/avc.ts';
import { parseAudioTag, parseVideoTag } from '../../src/media/flv-tag.ts';
import { parseOpusHead } from '../../src/media/opus.ts';
import { parseHevcDecoderConfig } from '../../src/media/hevc.ts';
import { ebmlSize, mkvFrame, mkvHeader, MKV_AUDIO_TRACK, MKV_VIDEO_TRACK } from '../../src/media/mkv-writer.ts';
import { closedWithin } from '../support/process.ts';
import { ENCODER_FFMPEG, enhancedRtmpSource } from '../support/enhanced-source.ts';

describe('the Matroska writer', () => {
  it('EBML sizes: the shortest length, never the all-ones "unknown" value', () => {
    assert.equal(ebmlSize(0).toString('hex'), '80');
    assert.equal(ebmlSize(126).toString('hex'), 'fe');
    assert.equal(ebmlSize(127).toString('hex'), '407f', '0xff would read as unknown');
    assert.equal(ebmlSize(16382).toString('hex'), '7ffe');
    assert.equal(ebmlSize(16383).toString('hex'), '203fff');
    assert.equal(ebmlSize(2 ** 40).length, 6);
    assert.throws(() => ebmlSize(-1), { code: 'ERR_MEDIA_INVALID' });
  });

  it('a frame is a Cluster (Timestamp = decode time, 64-bit) holding one SimpleBlock (relative timestamp = composition offset)', () => {
    const frame = mkvFrame(MKV_VIDEO_TRACK, 2 ** 33, -40, true, Buffer.from('abc'));
    assert.equal(frame.subarray(0, 4).toString('hex'), '1f43b675');
    // Cluster size, then Timestamp (0xE7) of 5 bytes: 2^33.
    assert.equal(frame.subarray(5, 12).toString('hex'), 'e7850200000000');
    // SimpleBlock (0xA3), size 7: track 1, -40 ms, keyframe, the data.
    assert.equal(frame.subarray(12).toString('hex'), 'a38781ffd880616263');
    assert.equal(mkvFrame(MKV_AUDIO_TRACK, 0, 99_999, false, Buffer.alloc(0)).subarray(-3).toString('hex'), '7fff00', 'clamped to +32767, not a keyframe');
    assert.throws(() => mkvFrame(1, -1, 0, true, Buffer.alloc(1)), { code: 'ERR_MEDIA_INVALID' });
  });

  it('refuses what it cannot carry', () => {
    assert.throws(() => mkvHeader({}), { code: 'ERR_MEDIA_INVALID' });
    assert.throws(() => mkvHeader({ video: { codec: 'vp6', record: Buffer.alloc(1), width: 2, height: 2 } }), { code: 'ERR_MEDIA_UNSUPPORTED' });
    assert.throws(() => mkvHeader({ audio: { codec: 'flac', sampleRate: 48000, channels: 2 } }), { code: 'ERR_MEDIA_UNSUPPORTED' });
  });

  /** Decodes Matroska on stdin with `ffmpeg`; returns [video frames, audio frames] it decoded. */
  async function decodeFrames(ffmpeg: string, mkv: Buffer): Promise<[number, number]> {
    const child = spawn(ffmpeg, ['-v', 'error', '-f', 'matroska', '-i', 'pipe:0', '-map', '0', '-f', 'framemd5', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.on('error', () => {});
    child.stdin.end(mkv);
    const [code] = await closedWithin(child, 30_000, ffmpeg, () => err);
    assert.equal(code, 0, err);
    const lines = out.split('\n').map((l) => l.trim());
    return [lines.filter((l) => l.startsWith('0,')).length, lines.filter((l) => l.startsWith('1,')).length];
  }

  const cases = [['hevc', 'aac'], ['av1', 'opus'], ['h264', 'aac']] as const;
  for (const [codec, audioCodec] of cases) {
    it(`${codec} + ${audioCodec} from an Enhanced RTMP source: ffmpeg-static 4.2.1 and Debian's 5.1 both decode every frame on stdin`, async () => {
      const tags = await enhancedRtmpSource(codec, { seconds: 1, audio: audioCodec });
      const sequence = parseVideoTag(tags[1]!.body);
      const video = { hevc: parseHevcDecoderConfig, av1: parseAv1CodecConfig, h264: parseAvcDecoderConfig }[codec](sequence.payload);
      const audioConfig = parseAudioTag(tags[2]!.body).payload;
      const audio = audioCodec === 'aac' ? parseAudioSpecificConfig(audioConfig) : parseOpusHead(audioConfig);
      const parts = [
        mkvHeader({
          video: { codec, record: sequence.payload, width: video.width, height: video.height },
          audio: { codec: audioCodec, config: audioConfig, sampleRate: audio.sampleRate, channels: audio.channels },
        }),
      ];
      let videoFrames = 0;
      let audioFrames = 0;
      for (const tag of tags.slice(3)) {
        if (tag.type === 9) {
          const t = parseVideoTag(tag.body);
          parts.push(mkvFrame(MKV_VIDEO_TRACK, tag.time, t.compositionTimeMs, t.frameType === 'key', t.payload));
          videoFrames++;
        } else {
          parts.push(mkvFrame(MKV_AUDIO_TRACK, tag.time, 0, true, parseAudioTag(tag.body).payload));
          audioFrames++;
        }
      }
      const mkv = Buffer.concat(parts);
      for (const ffmpeg of [installedFfmpegStatic()!, ENCODER_FFMPEG]) {
        assert.deepEqual(await decodeFrames(ffmpeg, mkv), [videoFrames, audioFrames], ffmpeg);
      }
    });
  }
});
