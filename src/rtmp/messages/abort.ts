import { MessageType } from '../message-types.ts';
import type { OutgoingMessage } from '../outgoing-message.ts';
import { controlMessage, readU32, u32 } from './control-message.ts';

/** Abort Message (RTMP spec 5.4.2): the chunk stream whose partial message is dropped. */
export function decodeAbort(payload: Buffer): number {
  return readU32(payload, 'Abort');
}

/** Abort Message for chunk stream `csid`. */
export function encodeAbort(csid: number): OutgoingMessage {
  return controlMessage(MessageType.Abort, u32(csid));
}
