import { ProtocolError } from '../../errors.ts';
import { MessageType } from '../message-types.ts';
import type { OutgoingMessage } from '../outgoing-message.ts';
import { controlMessage } from './control-message.ts';

/** Set Peer Bandwidth (RTMP spec 5.4.5); limit type 0 hard, 1 soft, 2 dynamic. */
export interface SetPeerBandwidth {
  size: number;
  limitType: number;
}

/** Reads the window size and limit type. */
export function decodeSetPeerBandwidth(payload: Buffer): SetPeerBandwidth {
  if (payload.length < 5) throw new ProtocolError('RTMP Set Peer Bandwidth: body shorter than 5 bytes');
  return { size: payload.readUInt32BE(0), limitType: payload[4]! };
}

/** Set Peer Bandwidth of `size` bytes with a limit type. */
export function encodeSetPeerBandwidth(size: number, limitType: 0 | 1 | 2): OutgoingMessage {
  const b = Buffer.allocUnsafe(5);
  b.writeUInt32BE(size >>> 0, 0);
  b[4] = limitType;
  return controlMessage(MessageType.SetPeerBandwidth, b);
}
