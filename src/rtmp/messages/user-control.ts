import { ProtocolError } from '../../errors.ts';
import { MessageType, UserControlEvent } from '../message-types.ts';
import type { OutgoingMessage } from '../outgoing-message.ts';
import { controlMessage, readU32 } from './control-message.ts';

/** A User Control event (RTMP spec 6.2, 7.1.7). */
export interface UserControl {
  event: number;
  streamId?: number;
  timestamp?: number;
  bufferLength?: number;
}

/** Decodes the event and its fields: Ping carries a timestamp, Set Buffer Length a stream and a length. */
export function decodeUserControl(payload: Buffer): UserControl {
  if (payload.length < 2) throw new ProtocolError('RTMP User Control: body shorter than 2 bytes');
  const event = payload.readUInt16BE(0);
  if (event === UserControlEvent.PingRequest || event === UserControlEvent.PingResponse) {
    return { event, timestamp: readU32(payload, 'User Control', 2) };
  }
  if (event === UserControlEvent.SetBufferLength) {
    return { event, streamId: readU32(payload, 'User Control', 2), bufferLength: readU32(payload, 'User Control', 6) };
  }
  return payload.length >= 6 ? { event, streamId: payload.readUInt32BE(2) } : { event };
}

/** An event with a 4-byte value: Stream Begin/EOF/Dry/IsRecorded, Ping. */
export function encodeUserControl(event: number, value: number): OutgoingMessage {
  const b = Buffer.allocUnsafe(6);
  b.writeUInt16BE(event, 0);
  b.writeUInt32BE(value >>> 0, 2);
  return controlMessage(MessageType.UserControl, b);
}
