import { CommandError } from '../errors.ts';
import { decodeAmf0, encodeAmf0, type AmfObject, type AmfValue } from './amf0.ts';
import type { OutgoingMessage } from './outgoing-message.ts';
import { ChunkStreamId, MessageType } from './message-types.ts';

/** A command message: name, transaction id, command object, further arguments (RTMP spec 7.1.1, 7.2). */
export interface Command {
  name: string;
  transactionId: number;
  commandObject: AmfValue;
  args: AmfValue[];
}

/** A data message such as `@setDataFrame` / `onMetaData` (RTMP spec 7.1.2). */
export interface DataMessage {
  name: string;
  values: AmfValue[];
}

/**
 * The AMF0 body of a command or data message. Type 17/15 (AMF3) messages
 * carry one format byte (0) before AMF0 values, as FMS-compatible encoders send them.
 */
function amf0Body(typeId: number, payload: Buffer): Buffer {
  if (typeId === MessageType.CommandAmf3 || typeId === MessageType.DataAmf3) {
    if (payload.length > 0 && payload[0] === 0) return payload.subarray(1);
  }
  return payload;
}

/** Decodes a command message body (types 20 and 17). */
export function decodeCommand(typeId: number, payload: Buffer): Command {
  const values = decodeAmf0(amf0Body(typeId, payload));
  const [name, transactionId, commandObject = null, ...args] = values;
  if (typeof name !== 'string') throw new CommandError('RTMP command: the first value is not a command name string');
  if (typeof transactionId !== 'number' || !Number.isFinite(transactionId)) {
    throw new CommandError(`RTMP command ${JSON.stringify(name.slice(0, 64))}: transaction id is not a number`);
  }
  return { name, transactionId, commandObject, args };
}

/** Decodes a data message body (types 18 and 15); `@setDataFrame` is unwrapped. */
export function decodeData(typeId: number, payload: Buffer): DataMessage {
  const values = decodeAmf0(amf0Body(typeId, payload));
  let [name, ...rest] = values;
  if (name === '@setDataFrame' && typeof rest[0] === 'string') [name, ...rest] = rest;
  if (typeof name !== 'string') throw new CommandError('RTMP data message: the first value is not a name string');
  return { name, values: rest };
}

/** Encodes a command on the command chunk stream (RTMP spec 7.1.1). */
export function command(
  name: string,
  transactionId: number,
  commandObject: AmfValue,
  args: AmfValue[] = [],
  streamId = 0,
): OutgoingMessage {
  return {
    csid: ChunkStreamId.Command,
    typeId: MessageType.CommandAmf0,
    streamId,
    timestamp: 0,
    payload: encodeAmf0(name, transactionId, commandObject, ...args),
  };
}

/** The info object of an onStatus / _result / _error (RTMP spec 7.2.2). */
export interface StatusInfo extends AmfObject {
  level: 'status' | 'error' | 'warning';
  code: string;
  description: string;
  /** The seed API's HTTP-like status on refusals (400, 403, 404, 500). */
  status?: number;
  details?: string;
}

/** `onStatus(0, null, info)` on a message stream (RTMP spec 7.2.2.6 and following). */
export function onStatus(streamId: number, info: StatusInfo): OutgoingMessage {
  // Status messages go out on a chunk stream of their own so they never wait behind media.
  return { ...command('onStatus', 0, null, [info], streamId), csid: 5 };
}
