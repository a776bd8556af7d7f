import { MediaInvalidError, MediaTruncatedError, MediaUnsupportedError } from '../errors.ts';
import { BitReader } from './bit-reader.ts';
import type { VideoConfig } from './codec-types.ts';

/** The fields of an AV1 sequence header OBU that describe the picture (AV1 5.5.1). */
export interface Av1SequenceHeader {
  seqProfile: number;
  seqLevelIdx0: number;
  width: number;
  height: number;
}

const AV1C_HEADER_BYTES = 4;
const OBU_SEQUENCE_HEADER = 1;
const MAX_LEB128_BYTES = 8;

/**
 * Parses an AV1CodecConfigurationRecord (AV1-ISOBMFF 2.3.3, 'av1C', the body
 * of an Enhanced RTMP 'av01' sequence start) and the sequence_header_obu among
 * its configOBUs (AV1 5.5.1) for max_frame_width/height. A record without
 * configOBUs, or without a sequence header in them, throws MediaInvalidError.
 * The codec string is the short form of AV1-ISOBMFF Annex A:
 * `av01.<seq_profile>.<seq_level_idx_0 as 2 digits><M|H>.<bit depth as 2 digits>`.
 */
export function parseAv1CodecConfig(record: Buffer): VideoConfig {
  if (record.length < AV1C_HEADER_BYTES) throw new MediaTruncatedError(`av1C of ${record.length} bytes, needs at least ${AV1C_HEADER_BYTES}`);
  const marker = record[0]! >> 7;
  const version = record[0]! & 0x7f;
  if (marker !== 1) throw new MediaInvalidError('av1C marker bit is 0');
  if (version !== 1) throw new MediaUnsupportedError(`av1C version ${version}, expected 1`);
  const seqProfile = record[1]! >> 5;
  const seqLevelIdx0 = record[1]! & 0x1f;
  const seqTier0 = record[2]! >> 7;
  const highBitdepth = (record[2]! >> 6) & 1;
  const twelveBit = (record[2]! >> 5) & 1;
  const bitDepth = highBitdepth ? (twelveBit ? 12 : 10) : 8;

  const configObus = record.subarray(AV1C_HEADER_BYTES);
  if (configObus.length === 0) throw new MediaInvalidError('av1C carries no configOBUs, so no sequence header');
  const payload = findSequenceHeader(configObus);
  const seq = parseAv1SequenceHeader(payload);
  return {
    codec: 'av1',
    codecString: `av01.${seqProfile}.${String(seqLevelIdx0).padStart(2, '0')}${seqTier0 ? 'H' : 'M'}.${String(bitDepth).padStart(2, '0')}`,
    width: seq.width,
    height: seq.height,
    profile: seqProfile,
    level: seqLevelIdx0,
  };
}

/**
 * Parses a sequence_header_obu payload (AV1 5.5.1) up to max_frame_height_minus_1,
 * walking timing_info (5.5.3), decoder_model_info (5.5.4) and every operating point.
 */
export function parseAv1SequenceHeader(payload: Buffer): Av1SequenceHeader {
  const r = new BitReader(payload);
  const seqProfile = r.readBits(3);
  if (seqProfile > 2) throw new MediaInvalidError(`seq_profile ${seqProfile} > 2`);
  r.skipBits(1); // still_picture
  const reducedStillPictureHeader = r.readFlag();
  let seqLevelIdx0: number;
  if (reducedStillPictureHeader) {
    seqLevelIdx0 = r.readBits(5);
  } else {
    let bufferDelayLength = 0;
    let decoderModelInfoPresent = false;
    if (r.readFlag()) {
      // timing_info()
      r.skipBits(64); // num_units_in_display_tick, time_scale
      if (r.readFlag()) readUvlc(r); // equal_picture_interval → num_ticks_per_picture_minus_1
      decoderModelInfoPresent = r.readFlag();
      if (decoderModelInfoPresent) {
        bufferDelayLength = r.readBits(5) + 1;
        r.skipBits(32 + 5 + 5); // num_units_in_decoding_tick, buffer_removal_time_length_minus_1, frame_presentation_time_length_minus_1
      }
    }
    const initialDisplayDelayPresent = r.readFlag();
    const operatingPoints = r.readBits(5) + 1;
    seqLevelIdx0 = 0;
    for (let i = 0; i < operatingPoints; i++) {
      r.skipBits(12); // operating_point_idc
      const seqLevelIdx = r.readBits(5);
      if (i === 0) seqLevelIdx0 = seqLevelIdx;
      if (seqLevelIdx > 7) r.skipBits(1); // seq_tier
      if (decoderModelInfoPresent && r.readFlag()) r.skipBits(2 * bufferDelayLength + 1); // operating_parameters_info
      if (initialDisplayDelayPresent && r.readFlag()) r.skipBits(4); // initial_display_delay_minus_1
    }
  }
  const widthBits = r.readBits(4) + 1;
  const heightBits = r.readBits(4) + 1;
  const width = r.readBits(widthBits) + 1;
  const height = r.readBits(heightBits) + 1;
  return { seqProfile, seqLevelIdx0, width, height };
}

/** Walks the OBUs (AV1 5.3.1 obu_header, 4.10.5 leb128) and returns the first sequence header's payload. */
function findSequenceHeader(obus: Buffer): Buffer {
  let off = 0;
  while (off < obus.length) {
    const header = obus[off]!;
    if (header & 0x80) throw new MediaInvalidError('OBU forbidden bit is set');
    const type = (header >> 3) & 0x0f;
    const hasExtension = (header & 0x04) !== 0;
    const hasSize = (header & 0x02) !== 0;
    off += hasExtension ? 2 : 1;
    if (off > obus.length) throw new MediaTruncatedError('configOBUs ended inside an OBU header');
    let size = obus.length - off;
    if (hasSize) {
      const leb = readLeb128(obus, off);
      off += leb.bytes;
      size = leb.value;
      if (off + size > obus.length) throw new MediaTruncatedError(`OBU of ${size} bytes runs past the end of configOBUs`);
    }
    if (type === OBU_SEQUENCE_HEADER) return obus.subarray(off, off + size);
    off += size;
  }
  throw new MediaInvalidError('configOBUs hold no sequence header OBU');
}

/** leb128() (AV1 4.10.5): at most 8 bytes, value below 2^32. */
function readLeb128(buf: Buffer, start: number): { value: number; bytes: number } {
  let value = 0;
  for (let i = 0; i < MAX_LEB128_BYTES; i++) {
    const byte = buf[start + i];
    if (byte === undefined) throw new MediaTruncatedError('configOBUs ended inside a leb128 size');
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) {
      if (value > 0xffffffff) throw new MediaInvalidError(`leb128 value ${value} >= 2^32`);
      return { value, bytes: i + 1 };
    }
  }
  throw new MediaInvalidError(`leb128 longer than ${MAX_LEB128_BYTES} bytes`);
}

/** uvlc() (AV1 4.10.3): 32 or more leading zeros saturate to 2^32-1; the loop is bounded by the input. */
function readUvlc(r: BitReader): number {
  let zeros = 0;
  while (!r.readFlag()) zeros++;
  if (zeros >= 32) return 0xffffffff;
  return 2 ** zeros - 1 + r.readBits(zeros);
}
