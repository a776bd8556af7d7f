import type { AmfValue } from '../amf0.ts';
import { command, onStatus, type Command } from '../command.ts';
import type { OutgoingMessage } from '../outgoing-message.ts';

/** A publish command (RTMP spec 7.2.2.6): publishing name and type, on the message stream it came on. */
export interface PublishCommand {
  streamId: number;
  /** The publishing name as sent (validated by the caller). */
  name: AmfValue | undefined;
  /** 'live', 'record' or 'append', as sent. */
  publishType: AmfValue | undefined;
}

/** Reads a publish command that came on message stream `streamId`. */
export function decodePublish(cmd: Command, streamId: number): PublishCommand {
  return { streamId, name: cmd.args[0], publishType: cmd.args[1] };
}

/** onStatus NetStream.Publish.Start for `key`. */
export function encodePublishStart(streamId: number, key: string): OutgoingMessage {
  return onStatus(streamId, { level: 'status', code: 'NetStream.Publish.Start', description: `${key} is now published`, details: key });
}

/** onStatus NetStream.Unpublish.Success. */
export function encodeUnpublishSuccess(streamId: number, description: string): OutgoingMessage {
  return onStatus(streamId, { level: 'status', code: 'NetStream.Unpublish.Success', description });
}

/**
 * onFCPublish, the answer librtmp/OBS wait for after FCPublish (not in the
 * spec; FMS sends it). The name is shown only when it is a string.
 */
export function encodeOnFCPublish(name: AmfValue | undefined): OutgoingMessage {
  return command('onFCPublish', 0, null, [{
    level: 'status',
    code: 'NetStream.Publish.Start',
    // Not String(): a decoded AMF object has a null prototype and would throw.
    description: `FCPublish to ${typeof name === 'string' ? name.slice(0, 180) : typeof name}`,
  }]);
}

/** onFCUnpublish, the answer to FCUnpublish. */
export function encodeOnFCUnpublish(): OutgoingMessage {
  return command('onFCUnpublish', 0, null, [{ level: 'status', code: 'NetStream.Unpublish.Success', description: 'FCUnpublish' }]);
}

/** onStatus NetStream.Play.Failed: this server only ingests. */
export function encodePlayFailed(streamId: number): OutgoingMessage {
  return onStatus(streamId, {
    level: 'error',
    code: 'NetStream.Play.Failed',
    description: 'this server does not play streams over RTMP; use the HLS or DASH outputs',
    status: 404,
  });
}
