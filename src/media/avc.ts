import { MediaInvalidError, MediaTruncatedError, MediaUnsupportedError } from '../errors.ts';
import { BitReader, nalToRbsp } from './bit-reader.ts';
import type { VideoConfig } from './codec-types.ts';
import { readVuiSar } from './vui.ts';

/** The fields of an H.264 sequence parameter set that describe the picture (H.264 7.3.2.1.1). */
export interface AvcSps {
  profileIdc: number;
  constraintFlags: number;
  levelIdc: number;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  frameMbsOnly: boolean;
  width: number;
  height: number;
  /** Sample aspect ratio from the VUI, when known and not 1:1. */
  sar?: readonly [number, number];
}

/** Profiles whose SPS carries chroma_format_idc, bit depths and scaling lists (H.264 7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);
/** Profiles whose AVCDecoderConfigurationRecord has no chroma/bit-depth extension (ISO 14496-15 5.3.3.1.2). */
const NO_RECORD_EXT_PROFILES = new Set([66, 77, 88]);
const NAL_TYPE_SPS = 7;
const NAL_TYPE_PPS = 8;
const MAX_DIMENSION = 65536;
const MAX_POC_CYCLE = 255;

/**
 * Parses an AVCDecoderConfigurationRecord (ISO 14496-15 5.3.3.1, the body of
 * an AVC sequence header tag) and the first SPS in it (H.264 7.3.2.1.1). The
 * whole record is walked, so a record cut anywhere inside its parameter sets
 * throws MediaTruncatedError. The codec string uses the record's profile,
 * compatibility and level bytes (RFC 6381 3.3).
 */
export function parseAvcDecoderConfig(record: Buffer): VideoConfig {
  if (record.length < 7) throw new MediaTruncatedError(`AVCDecoderConfigurationRecord of ${record.length} bytes, needs at least 7`);
  const version = record[0]!;
  if (version !== 1) throw new MediaUnsupportedError(`AVCDecoderConfigurationRecord version ${version}, expected 1`);
  const profileIndication = record[1]!;
  const compatibility = record[2]!;
  const levelIndication = record[3]!;
  const spsCount = record[5]! & 0x1f;
  if (spsCount === 0) throw new MediaInvalidError('AVCDecoderConfigurationRecord carries no SPS');

  let off = 6;
  let firstSps: Buffer | undefined;
  for (let i = 0; i < spsCount; i++) {
    const nal = readNal(record, off, 'SPS');
    off += 2 + nal.length;
    firstSps ??= nal;
  }
  if (off + 1 > record.length) throw new MediaTruncatedError('AVCDecoderConfigurationRecord ended before numOfPictureParameterSets');
  const ppsCount = record[off]!;
  off += 1;
  for (let i = 0; i < ppsCount; i++) {
    const nal = readNal(record, off, 'PPS');
    if (nal.length > 0 && (nal[0]! & 0x1f) !== NAL_TYPE_PPS) throw new MediaInvalidError(`PPS entry holds NAL unit type ${nal[0]! & 0x1f}`);
    off += 2 + nal.length;
  }
  // Many encoders omit the High-profile extension even when the record's profile calls for it;
  // an absent extension is accepted, a partial one is not.
  if (off < record.length && !NO_RECORD_EXT_PROFILES.has(profileIndication)) {
    if (off + 4 > record.length) throw new MediaTruncatedError('AVCDecoderConfigurationRecord High-profile extension is cut short');
    const extCount = record[off + 3]!;
    off += 4;
    for (let i = 0; i < extCount; i++) off += 2 + readNal(record, off, 'SPS extension').length;
  }

  const sps = parseAvcSps(firstSps!);
  return {
    codec: 'h264',
    codecString: `avc1.${hex2(profileIndication)}${hex2(compatibility)}${hex2(levelIndication)}`,
    width: sps.width,
    height: sps.height,
    profile: sps.profileIdc,
    level: sps.levelIdc,
    ...(sps.sar === undefined ? {} : { sar: sps.sar }),
  };
}

/**
 * Parses an H.264 sequence parameter set NAL unit, header byte included
 * (H.264 7.3.2.1.1), removing emulation prevention bytes first. Width and
 * height apply frame_mbs_only_flag and the frame cropping rectangle (7.4.2.1.1,
 * CropUnitX / CropUnitY).
 */
export function parseAvcSps(nal: Buffer): AvcSps {
  if (nal.length < 1) throw new MediaTruncatedError('empty SPS NAL unit');
  const nalType = nal[0]! & 0x1f;
  if (nalType !== NAL_TYPE_SPS) throw new MediaInvalidError(`expected SPS NAL unit (type 7), got type ${nalType}`);
  const r = new BitReader(nalToRbsp(nal.subarray(1)));

  const profileIdc = r.readBits(8);
  const constraintFlags = r.readBits(8);
  const levelIdc = r.readBits(8);
  const spsId = r.readUe();
  if (spsId > 31) throw new MediaInvalidError(`seq_parameter_set_id ${spsId} > 31`);

  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  let bitDepthLuma = 8;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.readUe();
    if (chromaFormatIdc > 3) throw new MediaInvalidError(`chroma_format_idc ${chromaFormatIdc} > 3`);
    if (chromaFormatIdc === 3) separateColourPlane = r.readFlag();
    const lumaMinus8 = r.readUe();
    const chromaMinus8 = r.readUe();
    if (lumaMinus8 > 6 || chromaMinus8 > 6) throw new MediaInvalidError(`bit depth minus 8 (${lumaMinus8}, ${chromaMinus8}) > 6`);
    bitDepthLuma = lumaMinus8 + 8;
    r.skipBits(1); // qpprime_y_zero_transform_bypass_flag
    if (r.readFlag()) {
      const lists = chromaFormatIdc === 3 ? 12 : 8;
      for (let i = 0; i < lists; i++) {
        if (r.readFlag()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
  }

  const log2MaxFrameNumMinus4 = r.readUe();
  if (log2MaxFrameNumMinus4 > 12) throw new MediaInvalidError(`log2_max_frame_num_minus4 ${log2MaxFrameNumMinus4} > 12`);
  const pocType = r.readUe();
  if (pocType === 0) {
    const log2MaxPocLsbMinus4 = r.readUe();
    if (log2MaxPocLsbMinus4 > 12) throw new MediaInvalidError(`log2_max_pic_order_cnt_lsb_minus4 ${log2MaxPocLsbMinus4} > 12`);
  } else if (pocType === 1) {
    r.skipBits(1); // delta_pic_order_always_zero_flag
    r.readSe(); // offset_for_non_ref_pic
    r.readSe(); // offset_for_top_to_bottom_field
    const cycle = r.readUe();
    if (cycle > MAX_POC_CYCLE) throw new MediaInvalidError(`num_ref_frames_in_pic_order_cnt_cycle ${cycle} > ${MAX_POC_CYCLE}`);
    for (let i = 0; i < cycle; i++) r.readSe(); // offset_for_ref_frame[i]
  } else if (pocType !== 2) {
    throw new MediaInvalidError(`pic_order_cnt_type ${pocType} > 2`);
  }
  r.readUe(); // max_num_ref_frames
  r.skipBits(1); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = r.readUe() + 1;
  const heightInMapUnits = r.readUe() + 1;
  const frameMbsOnly = r.readFlag();
  if (!frameMbsOnly) r.skipBits(1); // mb_adaptive_frame_field_flag
  r.skipBits(1); // direct_8x8_inference_flag

  let cropLeft = 0;
  let cropRight = 0;
  let cropTop = 0;
  let cropBottom = 0;
  if (r.readFlag()) {
    cropLeft = r.readUe();
    cropRight = r.readUe();
    cropTop = r.readUe();
    cropBottom = r.readUe();
  }

  // 7.4.2.1.1: ChromaArrayType 0 (monochrome or separate planes) crops in luma samples.
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const fieldFactor = frameMbsOnly ? 1 : 2;
  const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
  const cropUnitY = chromaArrayType === 0 ? fieldFactor : subHeightC * fieldFactor;
  const width = widthInMbs * 16 - cropUnitX * (cropLeft + cropRight);
  const height = heightInMapUnits * 16 * fieldFactor - cropUnitY * (cropTop + cropBottom);
  if (width < 1 || height < 1 || width > MAX_DIMENSION || height > MAX_DIMENSION) {
    throw new MediaInvalidError(`SPS describes a ${width}x${height} picture`);
  }
  const sar = readSar(r);
  return { profileIdc, constraintFlags, levelIdc, chromaFormatIdc, bitDepthLuma, frameMbsOnly, width, height, ...(sar === undefined ? {} : { sar }) };
}

/**
 * The sample aspect ratio at the start of the VUI (vui_parameters_present_flag,
 * then E.1.1). An SPS that ends before it is taken as having square pixels:
 * everything the picture size needs was read, and encoders that cut the VUI
 * short must not be refused for it.
 */
function readSar(r: BitReader): readonly [number, number] | undefined {
  try {
    return r.readFlag() ? readVuiSar(r) : undefined;
  } catch {
    return undefined;
  }
}

/** scaling_list() (H.264 7.3.2.1.1.1): only the delta_scale codes are consumed. */
function skipScalingList(r: BitReader, size: number): void {
  let lastScale = 8;
  let nextScale = 8;
  for (let j = 0; j < size; j++) {
    if (nextScale !== 0) {
      const delta = r.readSe();
      if (delta < -128 || delta > 127) throw new MediaInvalidError(`delta_scale ${delta} outside -128..127`);
      nextScale = (lastScale + delta + 256) % 256;
    }
    lastScale = nextScale === 0 ? lastScale : nextScale;
  }
}

/** One length-prefixed (UI16) parameter set of the record, bounds-checked. */
function readNal(record: Buffer, off: number, what: string): Buffer {
  if (off + 2 > record.length) throw new MediaTruncatedError(`AVCDecoderConfigurationRecord ended before a ${what} length`);
  const len = record.readUInt16BE(off);
  if (off + 2 + len > record.length) throw new MediaTruncatedError(`${what} of ${len} bytes runs past the end of the record`);
  return record.subarray(off + 2, off + 2 + len);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
