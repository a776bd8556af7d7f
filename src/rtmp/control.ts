import { ProtocolError } from '../errors.ts';
import { MessageType, UserControlEvent } from './message-types.ts';

/** A message ready for the chunk encoder. */
export interface OutgoingMessage {
  csid: number;
  typeId: number;
  streamId: number;
  timestamp: number;
  payload: Buffer;
}

/** Protocol control and user control messages (RTMP spec 5.4, 6.2, 7.1.7). */
export type ControlMessage =
  | { kind: 'set-chunk-size'; chunkSize: number }
  | { kind: 'abort'; csid: number }
  | { kind: 'acknowledgement'; sequence: number }
  | { kind: 'window-ack-size'; size: number }
  | { kind: 'set-peer-bandwidth'; size: number; limitType: number }
  | { kind: 'user-control'; event: number; streamId?: number; timestamp?: number; bufferLength?: number };

function uint32(payload: Buffer, what: string, offset = 0): number {
  if (payload.length < offset + 4) throw new ProtocolError(`RTMP ${what}: body shorter than ${offset + 4} bytes`);
  return payload.readUInt32BE(offset);
}

/** Decodes a protocol control (types 1-6) body; returns undefined for other types. */
export function decodeControl(typeId: number, payload: Buffer): ControlMessage | undefined {
  switch (typeId) {
    case MessageType.SetChunkSize:
      return { kind: 'set-chunk-size', chunkSize: uint32(payload, 'Set Chunk Size') & 0x7fffffff };
    case MessageType.Abort:
      return { kind: 'abort', csid: uint32(payload, 'Abort') };
    case MessageType.Acknowledgement:
      return { kind: 'acknowledgement', sequence: uint32(payload, 'Acknowledgement') };
    case MessageType.WindowAcknowledgementSize:
      return { kind: 'window-ack-size', size: uint32(payload, 'Window Acknowledgement Size') };
    case MessageType.SetPeerBandwidth:
      if (payload.length < 5) throw new ProtocolError('RTMP Set Peer Bandwidth: body shorter than 5 bytes');
      return { kind: 'set-peer-bandwidth', size: payload.readUInt32BE(0), limitType: payload[4]! };
    case MessageType.UserControl: {
      if (payload.length < 2) throw new ProtocolError('RTMP User Control: body shorter than 2 bytes');
      const event = payload.readUInt16BE(0);
      if (event === UserControlEvent.PingRequest || event === UserControlEvent.PingResponse) {
        return { kind: 'user-control', event, timestamp: uint32(payload, 'User Control', 2) };
      }
      if (event === UserControlEvent.SetBufferLength) {
        return {
          kind: 'user-control',
          event,
          streamId: uint32(payload, 'User Control', 2),
          bufferLength: uint32(payload, 'User Control', 6),
        };
      }
      return payload.length >= 6
        ? { kind: 'user-control', event, streamId: payload.readUInt32BE(2) }
        : { kind: 'user-control', event };
    }
    default:
      return undefined;
  }
}

function control(typeId: number, payload: Buffer): OutgoingMessage {
  // RTMP spec 5.4: protocol control messages use chunk stream 2 and message stream 0.
  return { csid: 2, typeId, streamId: 0, timestamp: 0, payload };
}

function u32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

/** Set Chunk Size (RTMP spec 5.4.1). */
export function setChunkSize(size: number): OutgoingMessage {
  return control(MessageType.SetChunkSize, u32(size & 0x7fffffff));
}

/** Abort Message (RTMP spec 5.4.2). */
export function abort(csid: number): OutgoingMessage {
  return control(MessageType.Abort, u32(csid));
}

/** Acknowledgement: bytes received so far, modulo 2^32 (RTMP spec 5.4.3). */
export function acknowledgement(sequence: number): OutgoingMessage {
  return control(MessageType.Acknowledgement, u32(sequence));
}

/** Window Acknowledgement Size (RTMP spec 5.4.4). */
export function windowAckSize(size: number): OutgoingMessage {
  return control(MessageType.WindowAcknowledgementSize, u32(size));
}

/** Set Peer Bandwidth; limit type 0 hard, 1 soft, 2 dynamic (RTMP spec 5.4.5). */
export function setPeerBandwidth(size: number, limitType: 0 | 1 | 2): OutgoingMessage {
  const b = Buffer.allocUnsafe(5);
  b.writeUInt32BE(size >>> 0, 0);
  b[4] = limitType;
  return control(MessageType.SetPeerBandwidth, b);
}

/** User Control event with a 4-byte value: Stream Begin/EOF/Dry/IsRecorded, Ping (RTMP spec 7.1.7). */
export function userControl(event: number, value: number): OutgoingMessage {
  const b = Buffer.allocUnsafe(6);
  b.writeUInt16BE(event, 0);
  b.writeUInt32BE(value >>> 0, 2);
  return control(MessageType.UserControl, b);
}
