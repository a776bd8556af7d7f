import type { AmfValue } from '../amf0.ts';
import { command } from '../command.ts';
import type { OutgoingMessage } from '../outgoing-message.ts';

/** `_result` for a transaction with one value (RTMP spec 7.2.1.2, 7.2.1.3: createStream's stream id). */
export function encodeResult(transactionId: number, value: AmfValue): OutgoingMessage {
  return command('_result', transactionId, null, [value]);
}

/** `_error` NetConnection.Call.Failed for a command this server does not know. */
export function encodeUnknownCommand(transactionId: number, name: string): OutgoingMessage {
  return command('_error', transactionId, null, [{
    level: 'error',
    code: 'NetConnection.Call.Failed',
    description: `unknown command '${name.slice(0, 64)}'`,
  }]);
}
