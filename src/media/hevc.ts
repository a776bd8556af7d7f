import { MediaInvalidError, MediaTruncatedError, MediaUnsupportedError } from '../errors.ts';
import { BitReader, nalToRbsp } from './bit-reader.ts';
import type { VideoConfig } from './codec-types.ts';
import { readVuiSar } from './vui.ts';

/** The fields of an H.265 sequence parameter set that describe the picture (H.265 7.3.2.2). */
export interface HevcSps {
  maxSubLayers: number;
  generalProfileIdc: number;
  generalLevelIdc: number;
  chromaFormatIdc: number;
  width: number;
  height: number;
  /** Sample aspect ratio from the VUI, when known and not 1:1. */
  sar?: readonly [number, number];
}

const RECORD_HEADER_BYTES = 23;
const NAL_TYPE_SPS = 33;
const MAX_SUB_LAYERS = 7;
const MAX_DIMENSION = 65536;
/** num_short_term_ref_pic_sets is 0..64 (H.265 7.4.3.2.1); num_negative/positive_pics at most sps_max_dec_pic_buffering (≤ 16). */
const MAX_ST_RPS = 64;
const MAX_DELTA_POCS = 32;

/**
 * Parses an HEVCDecoderConfigurationRecord (ISO 14496-15 8.3.3.1, the body
 * of an HEVC sequence start) and the first SPS in its arrays (H.265 7.3.2.2).
 * Every array and NAL unit is bounds-checked, so a record cut anywhere throws
 * MediaTruncatedError. The codec string follows ISO 14496-15 Annex E.3:
 * `hvc1.[A-C]<profile_idc>.<reversed compatibility flags>.<L|H><level_idc>[.<constraint bytes>]`.
 */
export function parseHevcDecoderConfig(record: Buffer): VideoConfig {
  if (record.length < RECORD_HEADER_BYTES) {
    throw new MediaTruncatedError(`HEVCDecoderConfigurationRecord of ${record.length} bytes, needs at least ${RECORD_HEADER_BYTES}`);
  }
  const version = record[0]!;
  if (version !== 1) throw new MediaUnsupportedError(`HEVCDecoderConfigurationRecord version ${version}, expected 1`);
  const profileSpace = record[1]! >> 6;
  const tierFlag = (record[1]! >> 5) & 1;
  const profileIdc = record[1]! & 0x1f;
  const compatibilityFlags = record.readUInt32BE(2);
  const constraintBytes = record.subarray(6, 12);
  const levelIdc = record[12]!;
  const numArrays = record[22]!;

  let off = RECORD_HEADER_BYTES;
  let sps: Buffer | undefined;
  for (let a = 0; a < numArrays; a++) {
    if (off + 3 > record.length) throw new MediaTruncatedError('HEVCDecoderConfigurationRecord ended inside an array header');
    const nalType = record[off]! & 0x3f;
    const numNalus = record.readUInt16BE(off + 1);
    off += 3;
    for (let n = 0; n < numNalus; n++) {
      if (off + 2 > record.length) throw new MediaTruncatedError('HEVCDecoderConfigurationRecord ended before a NAL unit length');
      const len = record.readUInt16BE(off);
      if (off + 2 + len > record.length) throw new MediaTruncatedError(`NAL unit of ${len} bytes runs past the end of the record`);
      if (nalType === NAL_TYPE_SPS && sps === undefined) sps = record.subarray(off + 2, off + 2 + len);
      off += 2 + len;
    }
  }
  if (sps === undefined) throw new MediaInvalidError('HEVCDecoderConfigurationRecord carries no SPS');

  const parsed = parseHevcSps(sps);
  return {
    codec: 'hevc',
    codecString: hevcCodecString(profileSpace, tierFlag, profileIdc, compatibilityFlags, levelIdc, constraintBytes),
    width: parsed.width,
    height: parsed.height,
    profile: profileIdc,
    level: levelIdc,
    ...(parsed.sar === undefined ? {} : { sar: parsed.sar }),
  };
}

/**
 * Parses an H.265 SPS NAL unit, 2-byte header included (H.265 7.3.1.2,
 * 7.3.2.2), through the conformance window: profile_tier_level with its
 * sub-layers (7.3.3), chroma format, picture size and conformance window
 * offsets scaled by SubWidthC / SubHeightC (Table 6-1).
 */
export function parseHevcSps(nal: Buffer): HevcSps {
  if (nal.length < 2) throw new MediaTruncatedError(`SPS NAL unit of ${nal.length} bytes`);
  const nalType = (nal[0]! >> 1) & 0x3f;
  if (nalType !== NAL_TYPE_SPS) throw new MediaInvalidError(`expected SPS NAL unit (type 33), got type ${nalType}`);
  const layerId = ((nal[0]! & 1) << 5) | (nal[1]! >> 3);
  if (layerId !== 0) throw new MediaUnsupportedError(`SPS for nuh_layer_id ${layerId}; only the base layer is supported`);
  const r = new BitReader(nalToRbsp(nal.subarray(2)));

  r.skipBits(4); // sps_video_parameter_set_id
  const maxSubLayers = r.readBits(3) + 1;
  if (maxSubLayers > MAX_SUB_LAYERS) throw new MediaInvalidError(`sps_max_sub_layers ${maxSubLayers} > ${MAX_SUB_LAYERS}`);
  r.skipBits(1); // sps_temporal_id_nesting_flag

  // profile_tier_level(1, sps_max_sub_layers_minus1), 7.3.3
  r.skipBits(3); // general_profile_space, general_tier_flag
  const generalProfileIdc = r.readBits(5);
  r.skipBits(32 + 48); // general_profile_compatibility_flag[32], progressive..general_inbld/reserved (48 bits)
  const generalLevelIdc = r.readBits(8);
  const profilePresent: boolean[] = [];
  const levelPresent: boolean[] = [];
  for (let i = 0; i < maxSubLayers - 1; i++) {
    profilePresent.push(r.readFlag());
    levelPresent.push(r.readFlag());
  }
  if (maxSubLayers > 1) r.skipBits(2 * (8 - (maxSubLayers - 1))); // reserved_zero_2bits
  for (let i = 0; i < maxSubLayers - 1; i++) {
    if (profilePresent[i]) r.skipBits(88);
    if (levelPresent[i]) r.skipBits(8);
  }

  const spsId = r.readUe();
  if (spsId > 15) throw new MediaInvalidError(`sps_seq_parameter_set_id ${spsId} > 15`);
  const chromaFormatIdc = r.readUe();
  if (chromaFormatIdc > 3) throw new MediaInvalidError(`chroma_format_idc ${chromaFormatIdc} > 3`);
  const separateColourPlane = chromaFormatIdc === 3 ? r.readFlag() : false;
  const picWidth = r.readUe();
  const picHeight = r.readUe();
  let confLeft = 0;
  let confRight = 0;
  let confTop = 0;
  let confBottom = 0;
  if (r.readFlag()) {
    confLeft = r.readUe();
    confRight = r.readUe();
    confTop = r.readUe();
    confBottom = r.readUe();
  }

  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const width = picWidth - subWidthC * (confLeft + confRight);
  const height = picHeight - subHeightC * (confTop + confBottom);
  if (width < 1 || height < 1 || width > MAX_DIMENSION || height > MAX_DIMENSION) {
    throw new MediaInvalidError(`SPS describes a ${width}x${height} picture`);
  }
  const sar = readSar(r, maxSubLayers);
  return { maxSubLayers, generalProfileIdc, generalLevelIdc, chromaFormatIdc, width, height, ...(sar === undefined ? {} : { sar }) };
}

/**
 * The rest of the SPS up to the VUI's sample aspect ratio (H.265 7.3.2.2.1
 * from bit_depth_luma_minus8 to vui_parameters_present_flag, then E.2.1). A
 * SPS that ends before it or holds values out of range there is taken as
 * having square pixels: the picture size is already known, and the stream
 * must not be refused for the VUI.
 */
function readSar(r: BitReader, maxSubLayers: number): readonly [number, number] | undefined {
  try {
    r.readUe(); // bit_depth_luma_minus8
    r.readUe(); // bit_depth_chroma_minus8
    const log2MaxPocLsb = r.readUe() + 4;
    if (log2MaxPocLsb > 16) return undefined;
    const orderingAll = r.readFlag(); // sps_sub_layer_ordering_info_present_flag
    for (let i = orderingAll ? 0 : maxSubLayers - 1; i < maxSubLayers; i++) {
      r.readUe(); // sps_max_dec_pic_buffering_minus1
      r.readUe(); // sps_max_num_reorder_pics
      r.readUe(); // sps_max_latency_increase_plus1
    }
    for (let i = 0; i < 6; i++) r.readUe(); // coding block and transform block sizes, transform hierarchy depths
    if (r.readFlag() && r.readFlag()) skipScalingListData(r); // scaling_list_enabled_flag, sps_scaling_list_data_present_flag
    r.skipBits(2); // amp_enabled_flag, sample_adaptive_offset_enabled_flag
    if (r.readFlag()) {
      r.skipBits(8); // pcm_sample_bit_depth_luma_minus1, pcm_sample_bit_depth_chroma_minus1
      r.readUe(); // log2_min_pcm_luma_coding_block_size_minus3
      r.readUe(); // log2_diff_max_min_pcm_luma_coding_block_size
      r.skipBits(1); // pcm_loop_filter_disabled_flag
    }
    const numSets = r.readUe();
    if (numSets > MAX_ST_RPS) return undefined;
    const deltaPocs: number[] = [];
    for (let i = 0; i < numSets; i++) {
      const count = skipShortTermRefPicSet(r, i, deltaPocs);
      if (count === undefined) return undefined;
      deltaPocs.push(count);
    }
    if (r.readFlag()) {
      // long_term_ref_pics_present_flag
      const numLongTerm = r.readUe();
      if (numLongTerm > 32) return undefined;
      for (let i = 0; i < numLongTerm; i++) r.skipBits(log2MaxPocLsb + 1); // lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt_sps_flag
    }
    r.skipBits(2); // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
    return r.readFlag() ? readVuiSar(r) : undefined;
  } catch {
    return undefined;
  }
}

/** scaling_list_data() (H.265 7.3.4): only the codes are consumed. */
function skipScalingListData(r: BitReader): void {
  for (let sizeId = 0; sizeId < 4; sizeId++) {
    for (let matrixId = 0; matrixId < 6; matrixId += sizeId === 3 ? 3 : 1) {
      if (!r.readFlag()) {
        r.readUe(); // scaling_list_pred_matrix_id_delta
        continue;
      }
      const coefNum = Math.min(64, 1 << (4 + (sizeId << 1)));
      if (sizeId > 1) r.readSe(); // scaling_list_dc_coef_minus8
      for (let i = 0; i < coefNum; i++) r.readSe(); // scaling_list_delta_coef
    }
  }
}

/**
 * st_ref_pic_set(idx) as it appears in an SPS (H.265 7.3.7); returns its
 * NumDeltaPocs (7.4.8), which a later set predicted from it needs, or
 * undefined for values out of range. `deltaPocs` holds NumDeltaPocs of the
 * sets before it.
 */
function skipShortTermRefPicSet(r: BitReader, idx: number, deltaPocs: readonly number[]): number | undefined {
  if (idx !== 0 && r.readFlag()) {
    // inter_ref_pic_set_prediction_flag: predicted from the set before (delta_idx_minus1 is only in slice headers)
    r.skipBits(1); // delta_rps_sign
    r.readUe(); // abs_delta_rps_minus1
    const refCount = deltaPocs[idx - 1]!;
    let count = 0;
    for (let j = 0; j <= refCount; j++) {
      const used = r.readFlag(); // used_by_curr_pic_flag
      const useDelta = used || r.readFlag(); // use_delta_flag, inferred 1 when used
      if (useDelta) count++;
    }
    return count;
  }
  const negative = r.readUe();
  const positive = r.readUe();
  if (negative + positive > MAX_DELTA_POCS) return undefined;
  for (let i = 0; i < negative + positive; i++) {
    r.readUe(); // delta_poc_s0/s1_minus1
    r.skipBits(1); // used_by_curr_pic_s0/s1_flag
  }
  return negative + positive;
}

/** ISO 14496-15 E.3: the 'hvc1' codecs parameter. Trailing zero constraint bytes are omitted. */
function hevcCodecString(
  profileSpace: number,
  tierFlag: number,
  profileIdc: number,
  compatibilityFlags: number,
  levelIdc: number,
  constraintBytes: Buffer,
): string {
  let reversed = 0;
  for (let i = 0; i < 32; i++) reversed = reversed * 2 + ((compatibilityFlags >>> i) & 1);
  const space = ['', 'A', 'B', 'C'][profileSpace] ?? '';
  let constraints = '';
  let last = constraintBytes.length - 1;
  while (last >= 0 && constraintBytes[last] === 0) last--;
  for (let i = 0; i <= last; i++) constraints += `.${constraintBytes[i]!.toString(16).toUpperCase().padStart(2, '0')}`;
  return `hvc1.${space}${profileIdc}.${reversed.toString(16).toUpperCase()}.${tierFlag ? 'H' : 'L'}${levelIdc}${constraints}`;
}
