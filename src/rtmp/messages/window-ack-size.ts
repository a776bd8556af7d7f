import { MessageType } from '../message-types.ts';
import type { OutgoingMessage } from '../outgoing-message.ts';
import { controlMessage, readU32, u32 } from './control-message.ts';

/** Window Acknowledgement Size (RTMP spec 5.4.4): bytes the peer may send before it wants an acknowledgement. */
export function decodeWindowAckSize(payload: Buffer): number {
  return readU32(payload, 'Window Acknowledgement Size');
}

/** Window Acknowledgement Size of `size` bytes. */
export function encodeWindowAckSize(size: number): OutgoingMessage {
  return controlMessage(MessageType.WindowAcknowledgementSize, u32(size));
}
