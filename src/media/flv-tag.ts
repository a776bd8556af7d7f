import { MediaInvalidError, MediaTruncatedError } from '../errors.ts';
import type { AudioCodecName, VideoCodecName } from './codec-types.ts';

export type { AudioCodecName, VideoCodecName } from './codec-types.ts';

/**
 * Video frame types (FLV spec v10.1 E.4.3.1 FrameType; Enhanced RTMP
 * VideoFrameType): 1 key, 2 inter, 3 disposable inter, 4 generated key,
 * 5 video info / command frame.
 */
export type VideoFrameType = 'key' | 'inter' | 'disposable' | 'generated-key' | 'command';

/**
 * What a video message carries (Enhanced RTMP VideoPacketType; the legacy
 * AVCPacketType 0/1/2 maps to sequence-start / coded-frames / sequence-end).
 * `other` is a command frame, an unknown legacy codec or a reserved packet type.
 */
export type VideoPacketKind =
  | 'sequence-start'
  | 'coded-frames'
  | 'sequence-end'
  | 'metadata'
  | 'multitrack'
  | 'mpeg2ts-sequence-start'
  | 'other';

/** A parsed video message body (FLV spec v10.1 E.4.3.1 VIDEODATA; Enhanced RTMP ExVideoTagHeader). */
export interface VideoTag {
  codec: VideoCodecName;
  /** True when the IsExHeader bit (0x80 of the first byte) selects Enhanced RTMP. */
  enhanced: boolean;
  /** The Enhanced RTMP FourCC as sent, e.g. 'hvc1'; absent for legacy tags and command frames. */
  fourCc?: string;
  frameType: VideoFrameType;
  packet: VideoPacketKind;
  /** Composition time offset (SI24, may be negative); 0 where the packet carries none. */
  compositionTimeMs: number;
  /**
   * A view into `body`, no copy: the decoder configuration record for
   * sequence-start, length-prefixed NAL units / OBUs / frames for
   * coded-frames, AMF for metadata, the track entries for multitrack.
   */
  payload: Buffer;
}

/** A parsed audio message body (FLV spec v10.1 E.4.2.1 AUDIODATA; Enhanced RTMP v2 ExAudioTagHeader). */
export interface AudioTag {
  codec: AudioCodecName;
  /** True when SoundFormat 9 (ExHeader) selects Enhanced RTMP. */
  enhanced: boolean;
  /** The Enhanced RTMP FourCC as sent, e.g. 'Opus'; absent for legacy tags. */
  fourCc?: string;
  /**
   * `sequence-header`: AAC AACPacketType 0 or Enhanced SequenceStart (the
   * codec configuration); `raw`: coded frames (every legacy non-AAC format
   * is `raw`); `other`: SequenceEnd, MultichannelConfig, multitrack, reserved.
   */
  packet: 'sequence-header' | 'raw' | 'other';
  /** A view into `body`, no copy. */
  payload: Buffer;
}

const FRAME_TYPES: readonly (VideoFrameType | undefined)[] = [undefined, 'key', 'inter', 'disposable', 'generated-key', 'command'];

/** Legacy CodecID → name (FLV spec v10.1 E.4.3.1). */
const LEGACY_VIDEO_CODECS: Readonly<Record<number, VideoCodecName>> = {
  2: 'sorenson',
  3: 'screen',
  4: 'vp6',
  5: 'vp6',
  6: 'screen',
  7: 'h264',
  // CodecID 12 is the pre-Enhanced-RTMP HEVC extension used by several CDNs and ffmpeg forks;
  // its body has the AVC layout (packet type, SI24 composition time, data).
  12: 'hevc',
};
const LEGACY_CODEC_AVC = 7;
const LEGACY_CODEC_HEVC = 12;

/** Enhanced RTMP VideoFourCc values we name. */
const VIDEO_FOURCCS: Readonly<Record<string, VideoCodecName>> = {
  avc1: 'h264',
  hvc1: 'hevc',
  av01: 'av1',
  vp09: 'vp9',
};

/** Legacy SoundFormat → name (FLV spec v10.1 E.4.2.1); 1 (ADPCM), 12, 13 and 15 are `unknown`. */
const LEGACY_AUDIO_CODECS: Readonly<Record<number, AudioCodecName>> = {
  0: 'pcm',
  2: 'mp3',
  3: 'pcm',
  4: 'nellymoser',
  5: 'nellymoser',
  6: 'nellymoser',
  7: 'g711a',
  8: 'g711u',
  10: 'aac',
  11: 'speex',
  14: 'mp3',
};
const SOUND_FORMAT_EX_HEADER = 9;
const SOUND_FORMAT_AAC = 10;

/** Enhanced RTMP v2 AudioFourCc values. */
const AUDIO_FOURCCS: Readonly<Record<string, AudioCodecName>> = {
  mp4a: 'aac',
  Opus: 'opus',
  'ac-3': 'ac3',
  'ec-3': 'eac3',
  fLaC: 'flac',
  '.mp3': 'mp3',
};

/** Enhanced RTMP VideoPacketType. */
const enum VideoPacketType {
  SequenceStart = 0,
  CodedFrames = 1,
  SequenceEnd = 2,
  CodedFramesX = 3,
  Metadata = 4,
  Mpeg2TsSequenceStart = 5,
  Multitrack = 6,
  ModEx = 7,
}

/** Enhanced RTMP v2 AudioPacketType. */
const enum AudioPacketType {
  SequenceStart = 0,
  CodedFrames = 1,
  Multitrack = 5,
  ModEx = 7,
}

/** AvMultitrackType (Enhanced RTMP v2): 0 OneTrack, 1 ManyTracks, 2 ManyTracksManyCodecs. */
const MULTITRACK_MANY_CODECS = 2;

/**
 * Parses the body of an RTMP video message (type 9), which is an FLV VIDEODATA
 * tag body: the legacy FrameType/CodecID byte with the AVC header of FLV spec
 * v10.1 E.4.3.1 (AVCPacketType, SI24 CompositionTime), or, when the IsExHeader
 * bit is set, the Enhanced RTMP ExVideoTagHeader (3-bit frame type, 4-bit
 * VideoPacketType, ModEx extensions, multitrack header, FourCC). Coded frames
 * carry a composition time only for 'avc1' and 'hvc1'; CodedFramesX never does.
 * An unknown CodecID or FourCC yields codec `unknown`, not an error. Throws
 * MediaTruncatedError / MediaInvalidError only.
 */
export function parseVideoTag(body: Buffer): VideoTag {
  if (body.length < 1) throw new MediaTruncatedError('video message is empty');
  const first = body[0]!;
  if (first & 0x80) return parseExVideoTag(body);

  const frameType = videoFrameType(first >> 4);
  const codecId = first & 0x0f;
  const codec = LEGACY_VIDEO_CODECS[codecId] ?? 'unknown';
  if (frameType === 'command') {
    return { codec, enhanced: false, frameType, packet: 'other', compositionTimeMs: 0, payload: body.subarray(1) };
  }
  if (codecId === LEGACY_CODEC_AVC || codecId === LEGACY_CODEC_HEVC) {
    if (body.length < 5) throw new MediaTruncatedError(`${codec} video tag of ${body.length} bytes, header needs 5`);
    const packetType = body[1]!;
    const packet = (['sequence-start', 'coded-frames', 'sequence-end'] as const)[packetType];
    if (packet === undefined) throw new MediaInvalidError(`reserved AVCPacketType ${packetType}`);
    return { codec, enhanced: false, frameType, packet, compositionTimeMs: body.readIntBE(2, 3), payload: body.subarray(5) };
  }
  return {
    codec,
    enhanced: false,
    frameType,
    packet: codec === 'unknown' ? 'other' : 'coded-frames',
    compositionTimeMs: 0,
    payload: body.subarray(1),
  };
}

function parseExVideoTag(body: Buffer): VideoTag {
  const frameTypeBits = (body[0]! >> 4) & 0x07;
  const header = skipModEx(body, VideoPacketType.ModEx);
  const packetType = header.packetType;
  let off = header.off;
  // The frame type is to be ignored on Metadata packets, so a reserved value there is no error.
  const frameType = packetType === VideoPacketType.Metadata ? (FRAME_TYPES[frameTypeBits] ?? 'command') : videoFrameType(frameTypeBits);

  if (frameType === 'command' && packetType !== VideoPacketType.Metadata) {
    return { codec: 'unknown', enhanced: true, frameType, packet: 'other', compositionTimeMs: 0, payload: body.subarray(off) };
  }
  if (packetType === VideoPacketType.Multitrack) {
    const multitrack = readMultitrackHeader(body, off, VideoPacketType.Multitrack, 'video');
    const codec = multitrack.fourCc === undefined ? 'unknown' : (VIDEO_FOURCCS[multitrack.fourCc] ?? 'unknown');
    return {
      codec,
      enhanced: true,
      ...(multitrack.fourCc === undefined ? {} : { fourCc: multitrack.fourCc }),
      frameType,
      packet: 'multitrack',
      compositionTimeMs: 0,
      payload: body.subarray(multitrack.end),
    };
  }

  const fourCc = readFourCc(body, off, 'video');
  off += 4;
  const codec = VIDEO_FOURCCS[fourCc] ?? 'unknown';
  let packet: VideoPacketKind;
  let compositionTimeMs = 0;
  switch (packetType) {
    case VideoPacketType.SequenceStart:
      packet = 'sequence-start';
      break;
    case VideoPacketType.CodedFrames:
      packet = 'coded-frames';
      if (codec === 'h264' || codec === 'hevc') {
        if (off + 3 > body.length) throw new MediaTruncatedError(`${fourCc} coded frames end before the composition time`);
        compositionTimeMs = body.readIntBE(off, 3);
        off += 3;
      }
      break;
    case VideoPacketType.SequenceEnd:
      packet = 'sequence-end';
      break;
    case VideoPacketType.CodedFramesX:
      packet = 'coded-frames';
      break;
    case VideoPacketType.Metadata:
      packet = 'metadata';
      break;
    case VideoPacketType.Mpeg2TsSequenceStart:
      packet = 'mpeg2ts-sequence-start';
      break;
    default:
      packet = 'other';
  }
  return { codec, enhanced: true, fourCc, frameType, packet, compositionTimeMs, payload: body.subarray(off) };
}

/**
 * Parses the body of an RTMP audio message (type 8), which is an FLV AUDIODATA
 * tag body: the legacy SoundFormat byte plus AACPacketType for AAC (FLV spec
 * v10.1 E.4.2.1), or, for SoundFormat 9, the Enhanced RTMP v2 ExAudioTagHeader
 * (AudioPacketType, ModEx extensions, multitrack header, FourCC 'mp4a', 'Opus',
 * 'ac-3', 'ec-3', 'fLaC', '.mp3'). An unknown FourCC yields codec `unknown`.
 * A zero-length audio message is RTMP's "silence" message: callers handle it
 * before parsing, since here it throws MediaTruncatedError like any short input.
 */
export function parseAudioTag(body: Buffer): AudioTag {
  if (body.length < 1) throw new MediaTruncatedError('audio message is empty');
  const soundFormat = body[0]! >> 4;
  if (soundFormat === SOUND_FORMAT_EX_HEADER) return parseExAudioTag(body);

  const codec = LEGACY_AUDIO_CODECS[soundFormat] ?? 'unknown';
  if (soundFormat === SOUND_FORMAT_AAC) {
    if (body.length < 2) throw new MediaTruncatedError('AAC audio tag ends before AACPacketType');
    const aacPacketType = body[1]!;
    if (aacPacketType > 1) throw new MediaInvalidError(`reserved AACPacketType ${aacPacketType}`);
    return { codec, enhanced: false, packet: aacPacketType === 0 ? 'sequence-header' : 'raw', payload: body.subarray(2) };
  }
  return { codec, enhanced: false, packet: 'raw', payload: body.subarray(1) };
}

function parseExAudioTag(body: Buffer): AudioTag {
  const header = skipModEx(body, AudioPacketType.ModEx);
  const packetType = header.packetType;
  let off = header.off;

  if (packetType === AudioPacketType.Multitrack) {
    const multitrack = readMultitrackHeader(body, off, AudioPacketType.Multitrack, 'audio');
    const codec = multitrack.fourCc === undefined ? 'unknown' : (AUDIO_FOURCCS[multitrack.fourCc] ?? 'unknown');
    return {
      codec,
      enhanced: true,
      ...(multitrack.fourCc === undefined ? {} : { fourCc: multitrack.fourCc }),
      packet: 'other',
      payload: body.subarray(multitrack.end),
    };
  }
  const fourCc = readFourCc(body, off, 'audio');
  off += 4;
  const packet =
    packetType === AudioPacketType.SequenceStart ? 'sequence-header' : packetType === AudioPacketType.CodedFrames ? 'raw' : 'other';
  return { codec: AUDIO_FOURCCS[fourCc] ?? 'unknown', enhanced: true, fourCc, packet, payload: body.subarray(off) };
}

function videoFrameType(bits: number): VideoFrameType {
  const frameType = FRAME_TYPES[bits];
  if (frameType === undefined) throw new MediaInvalidError(`reserved video frame type ${bits}`);
  return frameType;
}

/**
 * Reads the packet type nibble of the first byte and skips any ModEx blocks
 * (Enhanced RTMP v2 "ModEx"): UI8 size-1 (UI16 size-1 when the UI8 is 255),
 * the data, then a byte whose low nibble is the next packet type. Returns the
 * final packet type and the offset after it. Each block consumes at least
 * three bytes, so the loop is bounded by the body length.
 */
function skipModEx(body: Buffer, modEx: number): { off: number; packetType: number } {
  let off = 1;
  let packetType = body[0]! & 0x0f;
  while (packetType === modEx) {
    if (off + 1 > body.length) throw new MediaTruncatedError('ModEx block ends before its size');
    let size = body[off]! + 1;
    off += 1;
    if (size === 256) {
      if (off + 2 > body.length) throw new MediaTruncatedError('ModEx block ends before its 16-bit size');
      size = body.readUInt16BE(off) + 1;
      off += 2;
    }
    if (off + size + 1 > body.length) throw new MediaTruncatedError(`ModEx data of ${size} bytes runs past the end of the message`);
    off += size;
    packetType = body[off]! & 0x0f;
    off += 1;
  }
  return { off, packetType };
}

/** The multitrack header (Enhanced RTMP v2): AvMultitrackType / inner packet type nibbles, then a FourCC unless ManyTracksManyCodecs. */
function readMultitrackHeader(
  body: Buffer,
  off: number,
  multitrackPacketType: number,
  what: string,
): { fourCc: string | undefined; end: number } {
  if (off + 1 > body.length) throw new MediaTruncatedError(`${what} multitrack header is missing`);
  const multitrackType = body[off]! >> 4;
  const inner = body[off]! & 0x0f;
  if (multitrackType > MULTITRACK_MANY_CODECS) throw new MediaInvalidError(`reserved AvMultitrackType ${multitrackType}`);
  if (inner === multitrackPacketType) throw new MediaInvalidError(`${what} multitrack packet nests another multitrack packet`);
  if (multitrackType === MULTITRACK_MANY_CODECS) return { fourCc: undefined, end: off + 1 };
  return { fourCc: readFourCc(body, off + 1, what), end: off + 5 };
}

function readFourCc(body: Buffer, off: number, what: string): string {
  if (off + 4 > body.length) throw new MediaTruncatedError(`${what} message ends before its FourCC`);
  return body.toString('latin1', off, off + 4);
}
