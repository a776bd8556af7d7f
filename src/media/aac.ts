import { MediaInvalidError, MediaUnsupportedError } from '../errors.ts';
import { BitReader } from './bit-reader.ts';
import type { AudioConfig } from './codec-types.ts';

/** samplingFrequencyIndex → Hz (ISO 14496-3 1.6.3.3, Table 1.18); 13 and 14 are reserved, 15 is escape. */
const SAMPLING_FREQUENCIES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
/** channelConfiguration → channels (ISO 14496-3 1.6.3.4, Table 1.19; 11–14 from Amd 4); 0 = in the PCE, undefined = reserved. */
const CHANNELS_BY_CONFIGURATION: readonly (number | undefined)[] = [0, 1, 2, 3, 4, 5, 6, 8, undefined, undefined, undefined, 7, 8, 24, 8];
/** Object types whose config is a GASpecificConfig (ISO 14496-3 1.6.2.1). */
const GA_OBJECT_TYPES = new Set([1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23]);
/** GA object types without error resilience: nothing follows GASpecificConfig but the sync extension. */
const PLAIN_GA_OBJECT_TYPES = new Set([1, 2, 3, 4, 6, 7]);
const AOT_SBR = 5;
const AOT_PS = 29;
const SYNC_EXTENSION_SBR = 0x2b7;
const SYNC_EXTENSION_PS = 0x548;

/**
 * Parses an AudioSpecificConfig (ISO 14496-3 1.6.2.1): the audio object type
 * with the escape for types ≥ 32 (GetAudioObjectType, 31 + 6 bits), the
 * sampling frequency with the explicit 24-bit form (index 15), the channel
 * configuration, and SBR/PS signalling both explicit (object type 5 or 29
 * first) and backward-compatible (sync extension 0x2b7 / 0x548 after a plain
 * GASpecificConfig). With channelConfiguration 0 the channels are counted
 * from the program_config_element (4.4.1.1). When SBR or PS is signalled,
 * `objectType` is 5 or 29 and `sampleRate` is the SBR output rate.
 */
export function parseAudioSpecificConfig(asc: Buffer): AudioConfig {
  const r = new BitReader(asc);
  let objectType = readObjectType(r);
  let sampleRate = readSamplingFrequency(r);
  const channelConfiguration = r.readBits(4);
  let channels = CHANNELS_BY_CONFIGURATION[channelConfiguration];
  if (channels === undefined) throw new MediaInvalidError(`reserved channelConfiguration ${channelConfiguration}`);

  let signalledObjectType = objectType;
  let explicitSbr = false;
  if (objectType === AOT_SBR || objectType === AOT_PS) {
    explicitSbr = true;
    sampleRate = readSamplingFrequency(r); // extensionSamplingFrequency
    objectType = readObjectType(r);
    if (objectType === 22) r.skipBits(4); // extensionChannelConfiguration
  }

  if (GA_OBJECT_TYPES.has(objectType)) {
    const pceChannels = readGaSpecificConfig(r, objectType, channelConfiguration);
    if (channelConfiguration === 0) channels = pceChannels;
    if (!explicitSbr && PLAIN_GA_OBJECT_TYPES.has(objectType) && r.bitsLeft >= 16 && r.readBits(11) === SYNC_EXTENSION_SBR) {
      const extensionType = readObjectType(r);
      if (extensionType === AOT_SBR && r.readFlag()) {
        signalledObjectType = AOT_SBR;
        sampleRate = readSamplingFrequency(r);
        if (r.bitsLeft >= 12 && r.readBits(11) === SYNC_EXTENSION_PS && r.readFlag()) signalledObjectType = AOT_PS;
      }
    }
  } else if (channelConfiguration === 0) {
    throw new MediaUnsupportedError(`channelConfiguration 0 with audio object type ${objectType}`);
  }

  if (channels < 1) throw new MediaInvalidError('program_config_element declares no channels');
  if (signalledObjectType === AOT_PS && channels === 1) channels = 2; // PS upmixes mono to stereo
  return {
    codec: 'aac',
    codecString: `mp4a.40.${signalledObjectType}`,
    objectType: signalledObjectType,
    sampleRate,
    channels,
  };
}

/** GetAudioObjectType() (ISO 14496-3 1.6.2.1): 5 bits, 31 escapes to 32 + 6 bits. Type 0 is invalid. */
function readObjectType(r: BitReader): number {
  let type = r.readBits(5);
  if (type === 31) type = 32 + r.readBits(6);
  if (type === 0) throw new MediaInvalidError('audio object type 0 (null)');
  return type;
}

/** samplingFrequencyIndex, or index 15 followed by a 24-bit frequency (ISO 14496-3 1.6.2.1). */
function readSamplingFrequency(r: BitReader): number {
  const index = r.readBits(4);
  if (index === 15) {
    const hz = r.readBits(24);
    if (hz === 0) throw new MediaInvalidError('explicit sampling frequency of 0 Hz');
    return hz;
  }
  const hz = SAMPLING_FREQUENCIES[index];
  if (hz === undefined) throw new MediaInvalidError(`reserved samplingFrequencyIndex ${index}`);
  return hz;
}

/**
 * GASpecificConfig() (ISO 14496-3 4.4.1). Returns the channel count of the
 * program_config_element when channelConfiguration is 0, else 0.
 */
function readGaSpecificConfig(r: BitReader, objectType: number, channelConfiguration: number): number {
  r.skipBits(1); // frameLengthFlag
  if (r.readFlag()) r.skipBits(14); // dependsOnCoreCoder → coreCoderDelay
  const extensionFlag = r.readFlag();
  const pceChannels = channelConfiguration === 0 ? readProgramConfigElementChannels(r) : 0;
  if (objectType === 6 || objectType === 20) r.skipBits(3); // layerNr
  if (extensionFlag) {
    if (objectType === 22) r.skipBits(5 + 11); // numOfSubFrame, layer_length
    if (objectType === 17 || objectType === 19 || objectType === 20 || objectType === 23) r.skipBits(3); // resilience flags
    r.skipBits(1); // extensionFlag3
  }
  return pceChannels;
}

/** program_config_element() (ISO 14496-3 4.4.1.1, Table 4.2): counts the output channels. */
function readProgramConfigElementChannels(r: BitReader): number {
  r.skipBits(4 + 2 + 4); // element_instance_tag, object_type, sampling_frequency_index
  const front = r.readBits(4);
  const side = r.readBits(4);
  const back = r.readBits(4);
  const lfe = r.readBits(2);
  const assocData = r.readBits(3);
  const validCc = r.readBits(4);
  if (r.readFlag()) r.skipBits(4); // mono_mixdown_element_number
  if (r.readFlag()) r.skipBits(4); // stereo_mixdown_element_number
  if (r.readFlag()) r.skipBits(3); // matrix_mixdown_idx, pseudo_surround_enable
  let channels = lfe;
  for (let i = 0; i < front + side + back; i++) {
    channels += r.readFlag() ? 2 : 1; // is_cpe
    r.skipBits(4); // element_tag_select
  }
  r.skipBits(4 * lfe + 4 * assocData + 5 * validCc); // lfe / assoc_data / cc element tags (cc: + is_ind_sw)
  r.byteAlign();
  r.skipBits(8 * r.readBits(8)); // comment_field_bytes, comment_field_data
  return channels;
}
