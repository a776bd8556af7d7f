import { MessageType } from './message-types.ts';
import { decodeAbort, encodeAbort } from './messages/abort.ts';
import { decodeAcknowledgement, encodeAcknowledgement } from './messages/acknowledgement.ts';
import { decodeSetChunkSize, encodeSetChunkSize } from './messages/set-chunk-size.ts';
import { decodeSetPeerBandwidth, encodeSetPeerBandwidth } from './messages/set-peer-bandwidth.ts';
import { decodeUserControl, encodeUserControl, type UserControl } from './messages/user-control.ts';
import { decodeWindowAckSize, encodeWindowAckSize } from './messages/window-ack-size.ts';

export type { OutgoingMessage } from './outgoing-message.ts';

/** Protocol control and user control messages (RTMP spec 5.4, 6.2, 7.1.7), one module each under messages/. */
export type ControlMessage =
  | { kind: 'set-chunk-size'; chunkSize: number }
  | { kind: 'abort'; csid: number }
  | { kind: 'acknowledgement'; sequence: number }
  | { kind: 'window-ack-size'; size: number }
  | { kind: 'set-peer-bandwidth'; size: number; limitType: number }
  | ({ kind: 'user-control' } & UserControl);

/**
 * Decodes a protocol control (types 1-6) body; returns undefined for other
 * types. Set Chunk Size and Abort are applied by the chunk decoder, which
 * decodes them with the same modules; a connection does not decode them again.
 */
export function decodeControl(typeId: number, payload: Buffer): ControlMessage | undefined {
  switch (typeId) {
    case MessageType.SetChunkSize:
      return { kind: 'set-chunk-size', chunkSize: decodeSetChunkSize(payload) };
    case MessageType.Abort:
      return { kind: 'abort', csid: decodeAbort(payload) };
    case MessageType.Acknowledgement:
      return { kind: 'acknowledgement', sequence: decodeAcknowledgement(payload) };
    case MessageType.WindowAcknowledgementSize:
      return { kind: 'window-ack-size', size: decodeWindowAckSize(payload) };
    case MessageType.SetPeerBandwidth:
      return { kind: 'set-peer-bandwidth', ...decodeSetPeerBandwidth(payload) };
    case MessageType.UserControl:
      return { kind: 'user-control', ...decodeUserControl(payload) };
    default:
      return undefined;
  }
}

/** Set Chunk Size (RTMP spec 5.4.1). */
export const setChunkSize = encodeSetChunkSize;
/** Abort Message (RTMP spec 5.4.2). */
export const abort = encodeAbort;
/** Acknowledgement: bytes received so far, modulo 2^32 (RTMP spec 5.4.3). */
export const acknowledgement = encodeAcknowledgement;
/** Window Acknowledgement Size (RTMP spec 5.4.4). */
export const windowAckSize = encodeWindowAckSize;
/** Set Peer Bandwidth; limit type 0 hard, 1 soft, 2 dynamic (RTMP spec 5.4.5). */
export const setPeerBandwidth = encodeSetPeerBandwidth;
/** User Control event with a 4-byte value: Stream Begin/EOF/Dry/IsRecorded, Ping (RTMP spec 7.1.7). */
export const userControl = encodeUserControl;
