import { MessageType } from '../message-types.ts';
import type { OutgoingMessage } from '../outgoing-message.ts';
import { controlMessage, readU32, u32 } from './control-message.ts';

/**
 * Set Chunk Size (RTMP spec 5.4.1): the 32-bit field as sent. The chunk
 * decoder, the only reader, applies it and enforces the bounds.
 */
export function decodeSetChunkSize(payload: Buffer): number {
  return readU32(payload, 'Set Chunk Size');
}

/** Set Chunk Size with the top bit clear, as the spec requires. */
export function encodeSetChunkSize(size: number): OutgoingMessage {
  return controlMessage(MessageType.SetChunkSize, u32(size & 0x7fffffff));
}
