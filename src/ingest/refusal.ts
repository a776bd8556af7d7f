import { ProxyRtmpError } from '../errors.ts';
import type { RefusalReason } from '../streams/registry.ts';

/** How an error is reported to an RTMP peer before the connection closes. */
export interface Refusal {
  reason: RefusalReason;
  /** onStatus / _error `code` (RTMP spec 7.2.2, the NetStream/NetConnection codes FMS uses). */
  code: string;
  /** The seed API's status number (400 bad request, 401 unauthorized, 403 forbidden, 404 not found, 500 internal, 503 unavailable). */
  status: number;
  /** Whether the peer can still be told: false when the byte stream is no longer RTMP. */
  tellPeer: boolean;
}

const TABLE: Record<string, Refusal> = {
  ERR_STREAM_KEY_INVALID: { reason: 'bad-key', code: 'NetStream.Publish.BadName', status: 400, tellPeer: true },
  ERR_STREAM_BUSY: { reason: 'busy', code: 'NetStream.Publish.BadName', status: 403, tellPeer: true },
  ERR_STREAM_LIMIT: { reason: 'max-streams', code: 'NetStream.Publish.Rejected', status: 403, tellPeer: true },
  ERR_RESOLUTION_LIMIT: { reason: 'max-resolution', code: 'NetStream.Publish.Rejected', status: 403, tellPeer: true },
  ERR_BITRATE_LIMIT: { reason: 'max-bitrate', code: 'NetStream.Publish.Rejected', status: 403, tellPeer: true },
  ERR_MEDIA_UNSUPPORTED: { reason: 'codec', code: 'NetStream.Publish.Rejected', status: 400, tellPeer: true },
  ERR_SERVER_DRAINING: { reason: 'draining', code: 'NetStream.Publish.Rejected', status: 503, tellPeer: true },
  // Publish authentication: BadName for a key that is not listed (encoders report it as a
  // wrong stream key), NetStream.Publish.Unauthorized otherwise (the code Node-Media-Server sends).
  ERR_AUTH_UNKNOWN_KEY: { reason: 'auth', code: 'NetStream.Publish.BadName', status: 403, tellPeer: true },
  ERR_AUTH_DENIED: { reason: 'auth', code: 'NetStream.Publish.Unauthorized', status: 401, tellPeer: true },
  ERR_AUTH_WEBHOOK_DENIED: { reason: 'auth', code: 'NetStream.Publish.Unauthorized', status: 403, tellPeer: true },
  ERR_AUTH_UNAVAILABLE: { reason: 'auth', code: 'NetStream.Publish.Unauthorized', status: 503, tellPeer: true },
  ERR_RTMP_APP_REJECTED: { reason: 'app', code: 'NetConnection.Connect.Rejected', status: 404, tellPeer: true },
  ERR_RTMP_IDLE_TIMEOUT: { reason: 'idle-timeout', code: 'NetConnection.Connect.Closed', status: 408, tellPeer: false },
  ERR_RTMP_HANDSHAKE_VERSION: { reason: 'protocol', code: 'NetConnection.Connect.Rejected', status: 400, tellPeer: false },
  ERR_RTMP_HANDSHAKE_TIMEOUT: { reason: 'protocol', code: 'NetConnection.Connect.Rejected', status: 408, tellPeer: false },
};

/** Codes whose messages or media were malformed: the peer hears a 400 "call failed". */
const BAD_REQUEST: Refusal = { reason: 'protocol', code: 'NetConnection.Call.Failed', status: 400, tellPeer: true };
const INTERNAL: Refusal = { reason: 'protocol', code: 'NetConnection.Call.Failed', status: 500, tellPeer: true };

/** Maps an error to what the session tells the peer; unknown errors are internal (500). */
export function refusalFor(err: unknown): Refusal {
  if (!(err instanceof ProxyRtmpError)) return INTERNAL;
  return TABLE[err.code] ?? BAD_REQUEST;
}
