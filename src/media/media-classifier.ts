import { MediaUnsupportedError, ResolutionLimitError } from '../errors.ts';
import { parseAudioSpecificConfig } from './aac.ts';
import { parseAv1CodecConfig } from './av1.ts';
import { parseAvcDecoderConfig } from './avc.ts';
import type { VideoConfig } from './codec-types.ts';
import { parseHevcDecoderConfig } from './hevc.ts';
import { parseLegacyAudioConfig } from './legacy-audio.ts';
import { parseOpusHead } from './opus.ts';
import { parseAudioTag, parseVideoTag, type AudioTag, type VideoTag } from './flv-tag.ts';
import type { MediaInfo, MediaMessage, StreamMetadata } from './media-message.ts';

/**
 * Classifies one publishing stream's audio, video and metadata messages, once,
 * for every consumer: keyframe, configuration, coded frame, the decoded
 * sequence headers and onMetaData. Accepts H.264, HEVC and AV1 video (the
 * last two over Enhanced RTMP; all transcoded to the H.264 ladder); AAC, MP3
 * and the other legacy FLV audio formats (PCM, Nellymoser, G.711, Speex: the
 * first frame of each carries its configuration) and AAC and Opus over
 * Enhanced RTMP v2, all encoded to AAC by the transcoder. Other codecs are
 * refused by name (ERR_MEDIA_UNSUPPORTED), and sources above `maxResolution`
 * (ERR_RESOLUTION_LIMIT). Pure: no socket, no clock.
 *
 * Hot path: once a stream is known as H.264/AAC, coded frames are recognised
 * from their first bytes without building a tag object.
 */
export class MediaClassifier {
  readonly #maxResolution: number;
  #videoCodec: string | undefined;
  #audioCodec: string | undefined;
  /** The SoundFormat of a configured legacy (non-AAC) audio stream; -1 for none. */
  #legacyFormat = -1;

  /** `maxResolution`: the largest source, as lines of the short side (1080 for "1080p"). */
  constructor(maxResolution: number) {
    this.#maxResolution = maxResolution;
  }

  /** A video message body (FLV spec E.4.3.1; Enhanced RTMP). */
  video(timestamp: number, payload: Buffer): MediaMessage {
    const first = payload[0]!;
    const frameType = first >> 4;
    // Fast path, no tag object: legacy AVC coded frames (FLV spec E.4.3.1: FrameType 1-3,
    // CodecID 7, AVCPacketType 1, SI24 composition time) once the stream is known as H.264.
    if ((first & 0x0f) === 7 && frameType >= 1 && frameType <= 3 && payload.length >= 5 && payload[1] === 1 && this.#videoCodec === 'h264') {
      return message(9, timestamp, payload, frameType === 1, false, true, undefined);
    }
    const tag = parseVideoTag(payload);
    this.#acceptVideoCodec(tag);
    this.#videoCodec = tag.codec;
    if (tag.packet === 'sequence-start') {
      const video = parseVideoConfig(tag.codec, tag.payload);
      this.checkResolution(video.width, video.height, 'sequence header');
      return message(9, timestamp, payload, false, true, false, { codec: tag.codec, video });
    }
    const coded = tag.packet === 'coded-frames';
    return message(9, timestamp, payload, coded && tag.frameType === 'key', false, coded, { codec: tag.codec });
  }

  /** An audio message body (FLV spec E.4.2.1; Enhanced RTMP v2). */
  audio(timestamp: number, payload: Buffer): MediaMessage {
    // Fast path: AAC raw frames (FLV spec E.4.2.1: SoundFormat 10, AACPacketType 1).
    if (payload[0]! >> 4 === 10 && payload.length >= 2 && payload[1] === 1 && this.#audioCodec === 'aac') {
      return message(8, timestamp, payload, false, false, true, undefined);
    }
    // Fast path: frames of the legacy format already configured (MP3 and the like carry no packet type).
    if (payload[0]! >> 4 === this.#legacyFormat) return message(8, timestamp, payload, false, false, true, undefined);
    const tag = parseAudioTag(payload);
    if (tag.enhanced) return this.#enhancedAudio(timestamp, payload, tag);
    const changed = this.#audioCodec !== tag.codec;
    this.#audioCodec = tag.codec;
    this.#legacyFormat = tag.codec === 'aac' ? -1 : payload[0]! >> 4;
    if (tag.codec === 'aac' && tag.packet === 'sequence-header') {
      return message(8, timestamp, payload, false, true, false, { codec: tag.codec, audio: parseAudioSpecificConfig(tag.payload) });
    }
    if (tag.codec !== 'aac' && changed && tag.packet === 'raw') {
      // Legacy formats (MP3, PCM, Nellymoser, G.711, Speex) have no sequence header: the first frame configures the stream.
      return message(8, timestamp, payload, false, false, true, { codec: tag.codec, audio: parseLegacyAudioConfig(tag.codec, payload) });
    }
    return message(8, timestamp, payload, false, false, tag.packet !== 'sequence-header', { codec: tag.codec });
  }

  /** Enhanced RTMP v2 audio: AAC ('mp4a') and Opus, whose SequenceStart carries the AudioSpecificConfig / OpusHead. */
  #enhancedAudio(timestamp: number, payload: Buffer, tag: AudioTag): MediaMessage {
    if (tag.codec !== 'aac' && tag.codec !== 'opus') {
      throw new MediaUnsupportedError(`audio codec ${tag.codec} (Enhanced RTMP FourCC '${tag.fourCc ?? '?'}') is not supported; publish AAC, MP3 or Opus`);
    }
    this.#audioCodec = tag.codec;
    this.#legacyFormat = -1;
    if (tag.packet === 'sequence-header') {
      const audio = tag.codec === 'aac' ? parseAudioSpecificConfig(tag.payload) : parseOpusHead(tag.payload);
      return message(8, timestamp, payload, false, true, false, { codec: tag.codec, audio });
    }
    return message(8, timestamp, payload, false, false, tag.packet === 'raw', { codec: tag.codec });
  }

  /** onMetaData (its first value, an object): numbers, strings and booleans are kept. */
  metadata(timestamp: number, payload: Buffer, values: Readonly<Record<string, unknown>>): MediaMessage {
    const meta: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(values)) {
      if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') meta[k] = v;
    }
    const frozen: StreamMetadata = Object.freeze(meta);
    const { width, height } = frozen;
    if (typeof width === 'number' && typeof height === 'number') this.checkResolution(width, height, 'metadata');
    return message(18, timestamp, payload, false, true, false, { codec: undefined, metadata: frozen });
  }

  /** H.264, and HEVC and AV1 (Enhanced RTMP, or HEVC's legacy CodecID 12); VP9 and the rest are refused by name. */
  #acceptVideoCodec(tag: VideoTag): void {
    if (tag.codec === 'h264' || tag.codec === 'hevc' || tag.codec === 'av1') return;
    const what = tag.enhanced ? `${tag.codec} (Enhanced RTMP FourCC '${tag.fourCc ?? '?'}')` : tag.codec;
    throw new MediaUnsupportedError(`video codec ${what} is not supported; publish H.264, HEVC or AV1`);
  }

  /** Throws ERR_RESOLUTION_LIMIT when the short side or (at 16:9) the long side is above the limit. */
  checkResolution(width: number, height: number, source: string): void {
    const max = this.#maxResolution;
    const short = Math.min(width, height);
    const long = Math.max(width, height);
    if (short > max || long > Math.round((max * 16) / 9)) {
      throw new ResolutionLimitError(
        `source ${width}x${height} (from the ${source}) exceeds the maximum resolution (RTMP_MAX_RESOLUTION=${max}p)`,
      );
    }
  }
}

/** The decoder configuration record of a sequence start: avcC, hvcC or av1C. */
function parseVideoConfig(codec: string, record: Buffer): VideoConfig {
  if (codec === 'hevc') return parseHevcDecoderConfig(record);
  if (codec === 'av1') return parseAv1CodecConfig(record);
  return parseAvcDecoderConfig(record);
}

/** Every field set, in one order: one object shape for every message. */
function message(
  typeId: 8 | 9 | 18,
  timestamp: number,
  payload: Buffer,
  keyframe: boolean,
  config: boolean,
  frame: boolean,
  info: MediaInfo | undefined,
): MediaMessage {
  return { type: 'media', typeId, timestamp, payload, keyframe, config, frame, info };
}
