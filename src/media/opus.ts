import { MediaInvalidError, MediaTruncatedError, MediaUnsupportedError } from '../errors.ts';
import type { AudioConfig } from './codec-types.ts';

const MAGIC = 'OpusHead';
const HEADER_BYTES = 19;
/** Opus always decodes at 48 kHz (RFC 7845 5.1: the input rate is informational). */
const OPUS_RATE = 48_000;

/**
 * Parses an Opus identification header (RFC 7845 5.1, "OpusHead"), which the
 * Enhanced RTMP v2 'Opus' SequenceStart carries: magic, version (major 0),
 * output channel count, pre-skip, input sample rate, output gain, mapping
 * family (and, for families other than 0, the channel mapping table).
 */
export function parseOpusHead(head: Buffer): AudioConfig {
  if (head.length < HEADER_BYTES) throw new MediaTruncatedError(`OpusHead of ${head.length} bytes, needs at least ${HEADER_BYTES}`);
  if (head.toString('latin1', 0, 8) !== MAGIC) throw new MediaInvalidError('Opus header does not start with "OpusHead"');
  const version = head[8]!;
  if (version >> 4 !== 0) throw new MediaUnsupportedError(`OpusHead version ${version}: only major version 0 is defined`);
  const channels = head[9]!;
  if (channels === 0) throw new MediaInvalidError('OpusHead with 0 channels');
  const family = head[18]!;
  if (family !== 0 && head.length < HEADER_BYTES + 2 + channels) throw new MediaTruncatedError('OpusHead ends inside its channel mapping table');
  if (family === 0 && channels > 2) throw new MediaInvalidError(`OpusHead mapping family 0 with ${channels} channels`);
  return { codec: 'opus', codecString: 'opus', objectType: 0, sampleRate: OPUS_RATE, channels };
}
