import { MessageType } from '../message-types.ts';
import type { OutgoingMessage } from '../outgoing-message.ts';
import { controlMessage, readU32, u32 } from './control-message.ts';

/** Acknowledgement (RTMP spec 5.4.3): bytes received so far, modulo 2^32. */
export function decodeAcknowledgement(payload: Buffer): number {
  return readU32(payload, 'Acknowledgement');
}

/** Acknowledgement of `sequence` bytes. */
export function encodeAcknowledgement(sequence: number): OutgoingMessage {
  return controlMessage(MessageType.Acknowledgement, u32(sequence));
}
