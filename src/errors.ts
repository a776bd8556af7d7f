/**
 * Every error condition proxy-rtmp raises on purpose, one class per condition,
 * each with a stable `code` (`ERR_…`). Callers branch on `code`, never on the
 * message text; the RTMP session maps codes to onStatus codes and the gRPC
 * layer maps them to gRPC status codes.
 */

/** Base class: a stable code, a message for people, an optional cause. */
export class ProxyRtmpError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

function define(code: string, name: string) {
  const cls = class extends ProxyRtmpError {
    static readonly code = code;
    constructor(message: string, options?: { cause?: unknown }) {
      super(code, message, options);
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

// --- RTMP handshake (RTMP spec 5.2) ---
/** C0 carried a version other than 3 (a TLS ClientHello, `GET `, …). */
export const HandshakeVersionError = define('ERR_RTMP_HANDSHAKE_VERSION', 'HandshakeVersionError');
/** The handshake did not complete within the configured time. */
export const HandshakeTimeoutError = define('ERR_RTMP_HANDSHAKE_TIMEOUT', 'HandshakeTimeoutError');

// --- RTMP chunk stream (RTMP spec 5.3) ---
/** Set Chunk Size outside [1, 2^31-1] or above our configured bound. */
export const ChunkSizeError = define('ERR_RTMP_CHUNK_SIZE', 'ChunkSizeError');
/** A message header announced a length above the configured maximum. */
export const MessageTooLargeError = define('ERR_RTMP_MESSAGE_TOO_LARGE', 'MessageTooLargeError');
/** More distinct chunk stream ids than the configured cap. */
export const TooManyChunkStreamsError = define('ERR_RTMP_TOO_MANY_CHUNK_STREAMS', 'TooManyChunkStreamsError');
/** Partially assembled messages on one connection exceed the configured byte cap. */
export const BufferLimitError = define('ERR_RTMP_BUFFER_LIMIT', 'BufferLimitError');
/** A type 1/2/3 chunk arrived on a chunk stream that has no previous header. */
export const ChunkHeaderError = define('ERR_RTMP_CHUNK_HEADER', 'ChunkHeaderError');
/** A protocol control or user control message with a malformed body. */
export const ProtocolError = define('ERR_RTMP_PROTOCOL', 'ProtocolError');
/** The peer sent nothing for the idle timeout. */
export const IdleTimeoutError = define('ERR_RTMP_IDLE_TIMEOUT', 'IdleTimeoutError');

// --- AMF0 (AMF0 spec) ---
/** Input ended in the middle of an AMF0 value. */
export const AmfTruncatedError = define('ERR_AMF0_TRUNCATED', 'AmfTruncatedError');
/** Objects/arrays nested deeper than the decoder's limit. */
export const AmfDepthError = define('ERR_AMF0_DEPTH', 'AmfDepthError');
/** A type marker we do not decode (movieclip, recordset, AVM+ switch, unknown). */
export const AmfUnsupportedError = define('ERR_AMF0_UNSUPPORTED', 'AmfUnsupportedError');
/** A structurally invalid AMF0 value (bad reference, count over limit, …). */
export const AmfInvalidError = define('ERR_AMF0_INVALID', 'AmfInvalidError');

// --- FLV / codec configuration (FLV spec v10.1, ISO 14496-15, ISO 14496-3, Enhanced RTMP) ---
/** An FLV tag body or codec configuration record ended too early. */
export const MediaTruncatedError = define('ERR_MEDIA_TRUNCATED', 'MediaTruncatedError');
/** A codec configuration record or parameter set that does not parse. */
export const MediaInvalidError = define('ERR_MEDIA_INVALID', 'MediaInvalidError');
/** A codec we recognise but do not accept (or do not recognise at all). */
export const MediaUnsupportedError = define('ERR_MEDIA_UNSUPPORTED', 'MediaUnsupportedError');

// --- ISO BMFF / fragmented MP4 (ISO/IEC 14496-12) ---
/** A box or a field inside one that does not parse: bad size, cut short, a required child missing, offsets outside the fragment. */
export const Mp4InvalidError = define('ERR_MP4_INVALID', 'Mp4InvalidError');
/** A box (or a fragment being assembled) larger than the configured limit, refused before it is buffered. */
export const Mp4TooLargeError = define('ERR_MP4_TOO_LARGE', 'Mp4TooLargeError');
/** Well-formed MP4 we do not handle: a 64-bit value past 2^53, an unknown box version, a codec we cannot write. */
export const Mp4UnsupportedError = define('ERR_MP4_UNSUPPORTED', 'Mp4UnsupportedError');

// --- Commands and stream policy ---
/** A command arrived out of order (publish before connect, …) or malformed. */
export const CommandError = define('ERR_RTMP_COMMAND', 'CommandError');
/** connect asked for an application other than the configured one. */
export const AppRejectedError = define('ERR_RTMP_APP_REJECTED', 'AppRejectedError');
/** A stream key outside the safe character set or length. */
export const StreamKeyError = define('ERR_STREAM_KEY_INVALID', 'StreamKeyError');
/** The key is already being published by another connection. */
export const StreamBusyError = define('ERR_STREAM_BUSY', 'StreamBusyError');
/** RTMP_MAX_STREAMS reached. */
export const StreamLimitError = define('ERR_STREAM_LIMIT', 'StreamLimitError');
/** The source resolution exceeds RTMP_MAX_RESOLUTION. */
export const ResolutionLimitError = define('ERR_RESOLUTION_LIMIT', 'ResolutionLimitError');
/** The measured input bitrate stayed above RTMP_MAX_BITRATE for the window. */
export const BitrateLimitError = define('ERR_BITRATE_LIMIT', 'BitrateLimitError');
/** The server is draining and takes no new publishes. */
export const DrainingError = define('ERR_SERVER_DRAINING', 'DrainingError');

// --- Configuration ---
/** A configuration key is unknown or its value is invalid; the message names the key. */
export const ConfigError = define('ERR_CONFIG_INVALID', 'ConfigError');

// --- ffmpeg binary ---
/** No usable ffmpeg anywhere in the search order; the message names every place tried. */
export const FfmpegNotFoundError = define('ERR_FFMPEG_NOT_FOUND', 'FfmpegNotFoundError');
/** The ffmpeg an operator named (`ffmpeg.path` / RTMP_FFMPEG_PATH or FFMPEG_PATH) does not run: a configuration error, never silently replaced. */
export const FfmpegUnusableError = define('ERR_FFMPEG_UNUSABLE', 'FfmpegUnusableError');
/** The carried ffmpeg could not be unpacked (cache directory not writable, hash mismatch). */
export const FfmpegExtractError = define('ERR_FFMPEG_EXTRACT', 'FfmpegExtractError');

// --- Video encoder ---
/** A forced `ffmpeg.encoder` (RTMP_ENCODER) failed its start-up test encode; the message carries ffmpeg's. */
export const EncoderUnavailableError = define('ERR_ENCODER_UNAVAILABLE', 'EncoderUnavailableError');

// --- Publish authentication (auth.*) ---
// Messages are sent to the publisher as the onStatus description: they never
// carry the stream key, the signature or a secret.
/** auth.keys is set and the key is not in it, and no signature came with it (NetStream.Publish.BadName). */
export const AuthUnknownKeyError = define('ERR_AUTH_UNKNOWN_KEY', 'AuthUnknownKeyError');
/** A missing, malformed, forged or expired publish signature (NetStream.Publish.Unauthorized). */
export const AuthDeniedError = define('ERR_AUTH_DENIED', 'AuthDeniedError');
/** The auth webhook answered something other than 2xx. */
export const AuthWebhookDeniedError = define('ERR_AUTH_WEBHOOK_DENIED', 'AuthWebhookDeniedError');
/** The auth webhook timed out, could not be reached or is saturated, and auth.webhookFailOpen is false. */
export const AuthUnavailableError = define('ERR_AUTH_UNAVAILABLE', 'AuthUnavailableError');
/** `proxy-rtmp sign`: a bad option (key, ttl, host) or no secret configured. */
export const SignUsageError = define('ERR_SIGN_USAGE', 'SignUsageError');

/** True when `err` is one of ours and carries `code`. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof ProxyRtmpError && err.code === code;
}
