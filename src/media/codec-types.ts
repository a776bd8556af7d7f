/**
 * The vocabulary shared by the FLV tag parser and the codec configuration
 * parsers: codec names and the decoded configuration of a stream.
 */

/**
 * Video codecs an RTMP publisher can signal: legacy CodecID values (FLV spec
 * v10.1 E.4.3.1) and Enhanced RTMP FourCCs ('avc1', 'hvc1', 'av01', 'vp09').
 * `unknown` covers reserved CodecIDs and FourCCs we do not know.
 */
export type VideoCodecName = 'h264' | 'hevc' | 'av1' | 'vp9' | 'vp6' | 'sorenson' | 'screen' | 'unknown';

/**
 * Audio codecs an RTMP publisher can signal: legacy SoundFormat values (FLV
 * spec v10.1 E.4.2.1) and Enhanced RTMP v2 audio FourCCs ('mp4a', 'Opus',
 * 'ac-3', 'ec-3', 'fLaC', '.mp3'). `unknown` covers ADPCM, reserved and
 * device-specific formats and FourCCs we do not know.
 */
export type AudioCodecName =
  | 'aac'
  | 'mp3'
  | 'pcm'
  | 'nellymoser'
  | 'g711a'
  | 'g711u'
  | 'speex'
  | 'opus'
  | 'ac3'
  | 'eac3'
  | 'flac'
  | 'unknown';

/** What a video sequence header says about the stream. */
export interface VideoConfig {
  codec: VideoCodecName;
  /** RFC 6381 codec parameter, e.g. 'avc1.64001f', 'hvc1.1.6.L93.B0', 'av01.0.04M.08'. */
  codecString: string;
  /** Displayed luma width in pixels, after cropping / conformance window. */
  width: number;
  /** Displayed luma height in pixels, after cropping / conformance window. */
  height: number;
  /** profile_idc (H.264, H.265) or seq_profile (AV1). */
  profile: number;
  /** level_idc (H.264, H.265; H.265 is 30 × level) or seq_level_idx (AV1). */
  level: number;
  /**
   * Sample (pixel) aspect ratio, width:height, from the SPS VUI (H.264 / H.265
   * Annex E aspect_ratio_idc); present only when it is known and not 1:1.
   * The picture is displayed `width × sar[0] / sar[1]` wide.
   */
  sar?: readonly [number, number];
}

/** What an audio sequence header says about the stream. */
export interface AudioConfig {
  codec: AudioCodecName;
  /** RFC 6381 codec parameter, e.g. 'mp4a.40.2'. */
  codecString: string;
  /** MPEG-4 Audio Object Type (ISO 14496-3 1.5.1.1): 2 = AAC LC, 5 = SBR (HE-AAC), 29 = PS (HE-AACv2). */
  objectType: number;
  /** Output sampling rate in Hz (the SBR rate when SBR is signalled). */
  sampleRate: number;
  /** Output channel count (2 when Parametric Stereo is signalled). */
  channels: number;
}
