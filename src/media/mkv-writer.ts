import { MediaInvalidError, MediaUnsupportedError } from '../errors.ts';
import type { AudioCodecName, VideoCodecName } from './codec-types.ts';

/**
 * A small live Matroska writer (RFC 9559; EBML RFC 8794): what ffmpeg reads
 * on stdin for sources FLV cannot carry to it (Enhanced RTMP HEVC and AV1:
 * neither ffmpeg 4.2 nor 5.1 reads Enhanced-RTMP FLV). Pure: builds Buffers.
 *
 * Layout: the EBML header, a Segment of unknown size (a live stream), Info
 * (TimestampScale 1 ms), Tracks, then one Cluster per frame, each of known
 * size: its Timestamp is the frame's decode time (so clusters only go
 * forward, over 64 bits: no wrap), and its one SimpleBlock's signed 16-bit
 * relative timestamp is the composition offset (so the block states the
 * presentation time, as Matroska wants). No Cues, no SeekHead: ffmpeg reads it
 * as a stream.
 */

/** Video track number; audio is 2. */
export const MKV_VIDEO_TRACK = 1;
export const MKV_AUDIO_TRACK = 2;

/** A Matroska video track: the codec and its configuration record (CodecPrivate). */
export interface MkvVideoTrack {
  codec: VideoCodecName;
  /** avcC / hvcC / av1C, as the Enhanced RTMP sequence start carries it. */
  record: Buffer;
  width: number;
  height: number;
}

/** A Matroska audio track: AAC with its AudioSpecificConfig, Opus with its OpusHead, or MP3 (no CodecPrivate). */
export interface MkvAudioTrack {
  codec: AudioCodecName;
  /** AudioSpecificConfig for AAC, the OpusHead for Opus. */
  config?: Buffer;
  sampleRate: number;
  channels: number;
}

const VIDEO_CODEC_IDS: Partial<Record<VideoCodecName, string>> = {
  h264: 'V_MPEG4/ISO/AVC',
  hevc: 'V_MPEGH/ISO/HEVC',
  av1: 'V_AV1',
};
const AUDIO_CODEC_IDS: Partial<Record<AudioCodecName, string>> = {
  aac: 'A_AAC',
  mp3: 'A_MPEG/L3',
  opus: 'A_OPUS',
};

/** True when the writer can carry this video codec. */
export function mkvCarriesVideo(codec: VideoCodecName): boolean {
  return VIDEO_CODEC_IDS[codec] !== undefined;
}

/** True when the writer can carry this audio codec. */
export function mkvCarriesAudio(codec: AudioCodecName): boolean {
  return AUDIO_CODEC_IDS[codec] !== undefined;
}

// Element IDs (RFC 8794 section 11.2; RFC 9559 section 5.1), with their marker bits.
const ID = {
  EBML: 0x1a45dfa3,
  EBMLVersion: 0x4286,
  EBMLReadVersion: 0x42f7,
  EBMLMaxIDLength: 0x42f2,
  EBMLMaxSizeLength: 0x42f3,
  DocType: 0x4282,
  DocTypeVersion: 0x4287,
  DocTypeReadVersion: 0x4285,
  Segment: 0x18538067,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  MuxingApp: 0x4d80,
  WritingApp: 0x5741,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackUID: 0x73c5,
  TrackType: 0x83,
  FlagLacing: 0x9c,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Audio: 0xe1,
  SamplingFrequency: 0xb5,
  Channels: 0x9f,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
} as const;

/** The 8-byte "unknown" size (all value bits 1): a Segment that is never closed. */
const UNKNOWN_SIZE = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const MAX_RELATIVE_MS = 32767;

function idBytes(id: number): Buffer {
  const len = id > 0xffffff ? 4 : id > 0xffff ? 3 : id > 0xff ? 2 : 1;
  const out = Buffer.alloc(len);
  out.writeUIntBE(id, 0, len);
  return out;
}

/** An EBML variable-size integer for a data size (RFC 8794 4.4), the shortest that holds it. */
export function ebmlSize(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new MediaInvalidError(`EBML size ${n} is not a non-negative integer`);
  for (let len = 1; len <= 8; len++) {
    // All value bits 1 is reserved for "unknown": the largest value of each length is one less.
    if (n < 2 ** (7 * len) - 1) {
      const out = Buffer.alloc(len);
      let v = n;
      for (let i = len - 1; i >= 0; i--) {
        out[i] = v % 256;
        v = Math.floor(v / 256);
      }
      out[0]! |= 0x80 >> (len - 1);
      return out;
    }
  }
  throw new MediaInvalidError(`EBML size ${n} does not fit 8 bytes`);
}

function element(id: number, ...children: Buffer[]): Buffer {
  const body = Buffer.concat(children);
  return Buffer.concat([idBytes(id), ebmlSize(body.length), body]);
}

function uint(id: number, value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new MediaInvalidError(`EBML unsigned integer ${value} is out of range`);
  let len = 1;
  while (len < 8 && value >= 2 ** (8 * len)) len++;
  const out = Buffer.alloc(len);
  let v = value;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return element(id, out);
}

function float(id: number, value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeDoubleBE(value);
  return element(id, out);
}

function str(id: number, value: string): Buffer {
  return element(id, Buffer.from(value, 'ascii'));
}

/**
 * The start of the stream: EBML header, the Segment's ID and unknown size,
 * Info and Tracks. At least one track; throws MediaUnsupportedError for a
 * codec the writer does not carry.
 */
export function mkvHeader(tracks: { video?: MkvVideoTrack; audio?: MkvAudioTrack }): Buffer {
  if (tracks.video === undefined && tracks.audio === undefined) throw new MediaInvalidError('a Matroska stream needs a track');
  const ebml = element(
    ID.EBML,
    uint(ID.EBMLVersion, 1),
    uint(ID.EBMLReadVersion, 1),
    uint(ID.EBMLMaxIDLength, 4),
    uint(ID.EBMLMaxSizeLength, 8),
    str(ID.DocType, 'matroska'),
    uint(ID.DocTypeVersion, 4),
    uint(ID.DocTypeReadVersion, 2),
  );
  const info = element(ID.Info, uint(ID.TimestampScale, 1_000_000), str(ID.MuxingApp, 'proxy-rtmp'), str(ID.WritingApp, 'proxy-rtmp'));
  const entries: Buffer[] = [];
  const { video, audio } = tracks;
  if (video !== undefined) {
    const settings = element(ID.Video, uint(ID.PixelWidth, video.width), uint(ID.PixelHeight, video.height));
    entries.push(trackEntry(MKV_VIDEO_TRACK, 1, VIDEO_CODEC_IDS[video.codec], `video codec ${video.codec}`, video.record, settings));
  }
  if (audio !== undefined) {
    const settings = element(ID.Audio, float(ID.SamplingFrequency, audio.sampleRate), uint(ID.Channels, audio.channels));
    entries.push(trackEntry(MKV_AUDIO_TRACK, 2, AUDIO_CODEC_IDS[audio.codec], `audio codec ${audio.codec}`, audio.config, settings));
  }
  return Buffer.concat([ebml, idBytes(ID.Segment), UNKNOWN_SIZE, info, element(ID.Tracks, ...entries)]);
}

/** A TrackEntry (RFC 9559 5.1.4.1): number and UID alike, no lacing, the codec, its CodecPrivate, the Video or Audio settings. */
function trackEntry(number: number, type: 1 | 2, codecId: string | undefined, what: string, codecPrivate: Buffer | undefined, settings: Buffer): Buffer {
  if (codecId === undefined) throw new MediaUnsupportedError(`${what} cannot be written to Matroska`);
  return element(
    ID.TrackEntry,
    uint(ID.TrackNumber, number),
    uint(ID.TrackUID, number),
    uint(ID.TrackType, type),
    uint(ID.FlagLacing, 0),
    str(ID.CodecID, codecId),
    ...(codecPrivate === undefined ? [] : [element(ID.CodecPrivate, codecPrivate)]),
    settings,
  );
}

/**
 * One frame as a Cluster holding one SimpleBlock (RFC 9559 10.2): the
 * cluster's Timestamp is `decodeMs` (any non-negative integer), the block's
 * relative timestamp `compositionMs` (clamped to ±32767), its flags the
 * keyframe bit (audio frames are all keyframes), no lacing.
 */
export function mkvFrame(track: number, decodeMs: number, compositionMs: number, keyframe: boolean, data: Buffer): Buffer {
  if (!Number.isSafeInteger(decodeMs) || decodeMs < 0) throw new MediaInvalidError(`Matroska timestamp ${decodeMs} is not a non-negative integer`);
  const head = Buffer.alloc(4);
  head[0] = 0x80 | track; // track number as a 1-byte EBML integer
  head.writeInt16BE(Math.max(-MAX_RELATIVE_MS, Math.min(MAX_RELATIVE_MS, Math.round(compositionMs))), 1);
  head[3] = keyframe ? 0x80 : 0;
  const block = Buffer.concat([idBytes(ID.SimpleBlock), ebmlSize(head.length + data.length), head, data]);
  return element(ID.Cluster, uint(ID.Timestamp, decodeMs), block);
}
