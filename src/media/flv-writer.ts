import { MediaInvalidError } from '../errors.ts';

const FLV_HEADER_SIZE = 9;
const TAG_HEADER_SIZE = 11;
const MAX_TAG_DATA_SIZE = 0xffffff;
const TIMESTAMP_MODULUS = 2 ** 32;

/**
 * The FLV file header (FLV spec v10.1 E.2: 'FLV', version 1, TypeFlagsAudio
 * 0x04 / TypeFlagsVideo 0x01, DataOffset 9) followed by PreviousTagSize0 = 0
 * (E.3), 13 bytes in all: what ffmpeg expects first on stdin for `-f flv`.
 */
export function flvFileHeader(opts: { audio: boolean; video: boolean }): Buffer {
  const out = Buffer.alloc(FLV_HEADER_SIZE + 4);
  out.write('FLV', 0, 'latin1');
  out[3] = 1;
  out[4] = (opts.audio ? 0x04 : 0) | (opts.video ? 0x01 : 0);
  out.writeUInt32BE(FLV_HEADER_SIZE, 5);
  return out;
}

/**
 * One FLV tag (FLV spec v10.1 E.4.1 FLVTAG) and its trailing PreviousTagSize
 * (E.3): TagType, DataSize UI24, Timestamp UI24 + TimestampExtended UI8 (the
 * upper 8 bits), StreamID 0, the body, then 11 + body length as UI32.
 * `timestampMs` must be a non-negative integer; it wraps modulo 2^32 like the
 * RTMP timestamp it comes from. A body above 2^24-1 bytes throws MediaInvalidError.
 */
export function encodeFlvTag(type: 8 | 9 | 18, timestampMs: number, body: Buffer): Buffer {
  if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) {
    throw new MediaInvalidError(`FLV tag timestamp ${timestampMs} is not a non-negative integer`);
  }
  if (body.length > MAX_TAG_DATA_SIZE) throw new MediaInvalidError(`FLV tag body of ${body.length} bytes exceeds ${MAX_TAG_DATA_SIZE}`);
  const ts = timestampMs % TIMESTAMP_MODULUS;
  const out = Buffer.allocUnsafe(TAG_HEADER_SIZE + body.length + 4);
  out[0] = type;
  out.writeUIntBE(body.length, 1, 3);
  out.writeUIntBE(ts % 0x1000000, 4, 3);
  out[7] = Math.floor(ts / 0x1000000);
  out.writeUIntBE(0, 8, 3);
  body.copy(out, TAG_HEADER_SIZE);
  out.writeUInt32BE(TAG_HEADER_SIZE + body.length, TAG_HEADER_SIZE + body.length);
  return out;
}
