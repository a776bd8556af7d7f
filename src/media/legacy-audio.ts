import { MediaInvalidError, MediaTruncatedError } from '../errors.ts';
import type { AudioCodecName, AudioConfig } from './codec-types.ts';

/** FLV SoundRate (FLV spec v10.1 E.4.2.1): 0 5.5 kHz, 1 11 kHz, 2 22 kHz, 3 44 kHz. */
const FLV_SOUND_RATES = [5512, 11025, 22050, 44100];
/** SoundFormat values whose rate is fixed whatever SoundRate says (E.4.2.1): 5 Nellymoser 8 kHz, 7/8 G.711, 11 Speex are 8 or 16 kHz. */
const FIXED_RATES: Readonly<Record<number, number>> = { 5: 8000, 7: 8000, 8: 8000, 11: 16000 };
/** MPEG audio sampling_frequency index → Hz for MPEG-1 (ISO 11172-3 2.4.2.3); MPEG-2 halves, MPEG-2.5 quarters it. */
const MPEG1_RATES = [44100, 48000, 32000];
/** MPEG-4 Audio Object Type 34: MPEG-1/2 Layer 3 (ISO 14496-3 1.5.1.1), as RFC 6381 names MP3. */
const AOT_MP3 = 34;

/**
 * What a legacy (non-AAC) FLV audio tag says about its stream, from its first
 * byte and, for MP3, the MPEG audio frame header that begins its body
 * (ISO 11172-3 2.4.1.3: syncword, version, layer, sampling frequency, mode).
 * Legacy formats have no sequence header, so the first coded frame is what
 * configures the stream. `body` is the whole tag body, SoundFormat byte first.
 * An MP3 body that does not begin with a valid frame header is described by
 * the tag's SoundRate/SoundType bits instead: a publisher is not refused for it
 * (the decoder resynchronises). Throws MediaTruncatedError on an empty body only.
 */
export function parseLegacyAudioConfig(codec: AudioCodecName, body: Buffer): AudioConfig {
  if (body.length < 1) throw new MediaTruncatedError('audio message is empty');
  const first = body[0]!;
  if (codec === 'mp3') {
    try {
      return parseMpegAudioHeader(body.subarray(1));
    } catch {
      // described by the FLV bits below
    }
  }
  const format = first >> 4;
  const stereo = (first & 0x01) === 1;
  return {
    codec,
    codecString: codec === 'mp3' ? `mp4a.40.${AOT_MP3}` : codec,
    objectType: codec === 'mp3' ? AOT_MP3 : 0,
    sampleRate: FIXED_RATES[format] ?? FLV_SOUND_RATES[(first >> 2) & 0x03]!,
    channels: stereo ? 2 : 1,
  };
}

/** The four-byte MPEG audio frame header (ISO 11172-3 2.4.1.3, ISO 13818-3 for MPEG-2 and the MPEG-2.5 extension). */
export function parseMpegAudioHeader(frame: Buffer): AudioConfig {
  if (frame.length < 4) throw new MediaTruncatedError(`MP3 frame of ${frame.length} bytes, its header needs 4`);
  const header = frame.readUInt32BE(0);
  if (header >>> 21 !== 0x7ff) throw new MediaInvalidError(`MP3 frame does not start with a syncword (${frame.subarray(0, 4).toString('hex')})`);
  const version = (header >>> 19) & 0x03; // 0 MPEG-2.5, 1 reserved, 2 MPEG-2, 3 MPEG-1
  const layer = (header >>> 17) & 0x03; // 1 Layer III, 2 Layer II, 3 Layer I, 0 reserved
  const rateIndex = (header >>> 10) & 0x03;
  const mode = (header >>> 6) & 0x03; // 3 = single channel
  if (version === 1) throw new MediaInvalidError('MP3 frame header has the reserved MPEG version');
  if (layer === 0) throw new MediaInvalidError('MP3 frame header has the reserved layer');
  if (rateIndex === 3) throw new MediaInvalidError('MP3 frame header has the reserved sampling frequency');
  const divisor = version === 3 ? 1 : version === 2 ? 2 : 4;
  return {
    codec: 'mp3',
    codecString: `mp4a.40.${AOT_MP3}`,
    objectType: AOT_MP3,
    sampleRate: MPEG1_RATES[rateIndex]! / divisor,
    channels: mode === 3 ? 1 : 2,
  };
}
