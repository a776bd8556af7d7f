import type { AmfObject, AmfValue } from '../amf0.ts';
import { command, type Command } from '../command.ts';
import type { OutgoingMessage } from '../outgoing-message.ts';

/** What a server reads of a connect command (RTMP spec 7.2.1.1). */
export interface ConnectCommand {
  transactionId: number;
  /** The command object's `app`, as sent (may carry a query). */
  app: AmfValue | undefined;
  /** The command object's `tcUrl`, as sent. */
  tcUrl: AmfValue | undefined;
  /** 0 (AMF0) unless the client asked for another. */
  objectEncoding: number;
}

/** Reads connect's command object; a missing or non-object one reads as empty. */
export function decodeConnect(cmd: Command): ConnectCommand {
  const obj = isObject(cmd.commandObject) ? cmd.commandObject : {};
  const encoding = obj['objectEncoding'];
  return { transactionId: cmd.transactionId, app: obj['app'], tcUrl: obj['tcUrl'], objectEncoding: typeof encoding === 'number' ? encoding : 0 };
}

/** `_result` with NetConnection.Connect.Success, as FMS answers (RTMP spec 7.2.1.1). */
export function encodeConnectResult(transactionId: number, objectEncoding: number): OutgoingMessage {
  return command('_result', transactionId, { fmsVer: 'FMS/3,5,7,7009', capabilities: 31, mode: 1 }, [{
    level: 'status',
    code: 'NetConnection.Connect.Success',
    description: 'Connection succeeded.',
    objectEncoding,
  }]);
}

/** `_error` with NetConnection.Connect.Rejected (status 404: no such application). */
export function encodeConnectRejected(transactionId: number, description: string): OutgoingMessage {
  return command('_error', transactionId, null, [{ level: 'error', code: 'NetConnection.Connect.Rejected', description, status: 404 }]);
}

/** A plain AMF object (a decoded one has a null prototype). */
export function isObject(value: AmfValue | undefined): value is AmfObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
