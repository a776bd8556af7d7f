import { ProtocolError } from '../../errors.ts';
import type { OutgoingMessage } from '../outgoing-message.ts';

/** A protocol control message on chunk stream 2, message stream 0 (RTMP spec 5.4). */
export function controlMessage(typeId: number, payload: Buffer): OutgoingMessage {
  return { csid: 2, typeId, streamId: 0, timestamp: 0, payload };
}

/** A 4-byte big-endian body. */
export function u32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

/** Reads a 32-bit field, or throws ERR_RTMP_PROTOCOL naming the message when the body is short. */
export function readU32(payload: Buffer, what: string, offset = 0): number {
  if (payload.length < offset + 4) throw new ProtocolError(`RTMP ${what}: body shorter than ${offset + 4} bytes`);
  return payload.readUInt32BE(offset);
}
