import { AppRejectedError, CommandError, ProtocolError } from '../errors.ts';
import { MediaClassifier } from '../media/media-classifier.ts';
import type { MediaMessage } from '../media/media-message.ts';
import { ChunkDecoder, type ChunkDecoderLimits, type RawMessage } from './chunk-decoder.ts';
import { ChunkEncoder } from './chunk-encoder.ts';
import { decodeCommand, decodeData, onStatus, type Command, type StatusInfo } from './command.ts';
import { mergeQueries, normaliseApp, queryOf } from './connect-params.ts';
import { ServerHandshake } from './handshake.ts';
import { MessageType, UserControlEvent } from './message-types.ts';
import { decodeAcknowledgement, encodeAcknowledgement } from './messages/acknowledgement.ts';
import { decodeConnect, encodeConnectRejected, encodeConnectResult, isObject } from './messages/connect.ts';
import {
  decodePublish,
  encodeOnFCPublish,
  encodeOnFCUnpublish,
  encodePlayFailed,
  encodePublishStart,
  encodeUnpublishSuccess,
  type PublishCommand,
} from './messages/publish.ts';
import { encodeResult, encodeUnknownCommand } from './messages/result.ts';
import { encodeSetChunkSize } from './messages/set-chunk-size.ts';
import { decodeSetPeerBandwidth, encodeSetPeerBandwidth } from './messages/set-peer-bandwidth.ts';
import { decodeUserControl, encodeUserControl } from './messages/user-control.ts';
import { decodeWindowAckSize, encodeWindowAckSize } from './messages/window-ack-size.ts';
import type { OutgoingMessage } from './outgoing-message.ts';

/** What a server connection needs: the `rtmp` settings and the resolution limit. */
export interface ServerConnectionOptions {
  /** The one application served (connect to another is refused). */
  app: string;
  /** The chunk size we announce and send with. */
  chunkSize: number;
  /** Our Window Acknowledgement Size and Set Peer Bandwidth. */
  windowAckSize: number;
  decoderLimits: Partial<ChunkDecoderLimits>;
  /** Largest source, as lines of the short side (1080 for "1080p"). */
  maxResolution: number;
}

/** The handshake is complete: RTMP messages follow. */
export interface HandshakeEvent {
  type: 'handshake';
}

/** connect was accepted (RTMP spec 7.2.1.1): the replies are already in `out`. */
export interface ConnectEvent {
  type: 'connect';
  app: string;
  /** tcUrl without its query and trailing slashes, when it was a plausible rtmp(s):// URL. */
  tcUrl: string | undefined;
  /** Query parameters of tcUrl and app (OBS puts a token on the server URL). */
  query: Readonly<Record<string, string>>;
}

/**
 * A publish command (RTMP spec 7.2.2.6) on a stream createStream returned.
 * The connection stops reading here (`paused`) until the caller answers:
 * `accept()`, or a refusal and close; or it resumes with the request pending
 * (media is dropped until `accept()`).
 */
export interface PublishEvent extends PublishCommand {
  type: 'publish';
}

/** An audio, video or metadata message of the accepted stream, classified once: the message is the event. */
export type MediaEvent = MediaMessage;

/** deleteStream / closeStream ended a publish (`live`) or withdrew a pending request. */
export interface UnpublishEvent {
  type: 'unpublish';
  live: boolean;
}

/** The peer broke the protocol or a limit: the connection reads nothing more. */
export interface ErrorEvent {
  type: 'error';
  error: unknown;
}

/** What a connection reports, in order. */
export type ConnectionEvent = HandshakeEvent | ConnectEvent | PublishEvent | MediaEvent | UnpublishEvent | ErrorEvent;

/** The outcome of one push. */
export interface PushResult {
  /** Bytes to send, in order. */
  out: Buffer[];
  events: ConnectionEvent[];
  /** Whole RTMP messages decoded from this push's bytes (progress, for an idle timeout). */
  messages: number;
  /** Stopped at a publish request: answer it, then push again (an empty buffer will do) to go on. */
  paused: boolean;
}

const enum Phase {
  Handshake,
  Connecting,
  Connected,
  Failed,
}

const enum Publish {
  None,
  Pending,
  Live,
}

/** Most message streams one connection may create. */
export const MAX_MESSAGE_STREAMS = 8;
const EMPTY = Buffer.alloc(0);
/**
 * The `out` and `events` of a push that sends and reports nothing: most pushes
 * of a live publisher (its media goes to `onMedia`), so they allocate no arrays.
 * Frozen: a write to it instead of a fresh array is a bug and throws.
 */
const NONE = Object.freeze([]) as unknown as never[];

/**
 * The server side of one RTMP connection as a pure state machine:
 * `push(bytes, now) → { out, events }`. Handshake (RTMP spec 5.2), chunk
 * stream, acknowledgements (5.4.3), pings (7.1.7), the command forms ffmpeg,
 * OBS (librtmp) and GStreamer send (7.2), and media classification. It holds
 * no socket, timer, clock or logger: time comes in with each push. After an
 * `error` event it reads nothing more.
 */
export class ServerConnection {
  readonly #options: ServerConnectionOptions;
  readonly #handshake: ServerHandshake;
  readonly #decoder: ChunkDecoder;
  readonly #encoder = new ChunkEncoder();
  readonly #media: MediaClassifier;
  #phase = Phase.Handshake;
  #publish = Publish.None;
  #publishStreamId = 0;
  #key = '';
  #now = 0;
  #received = 0;
  #lastAck = 0;
  #peerWindow = 0;
  #nextStreamId = 1;
  readonly #streams = new Set<number>();
  /** Decoded messages not yet handled (after a pause at a publish request). */
  #queue: RawMessage[] = [];
  #next = 0;
  #result: PushResult = { out: NONE, events: NONE, messages: 0, paused: false };
  readonly #mediaHandler: ((message: MediaMessage) => void) | undefined;

  /**
   * `onMedia`, when given, takes every media message as it is classified,
   * during push, instead of `events` (the hot path: no event list per message).
   * Order is kept: an event that changes what media means (publish) pauses the push.
   */
  constructor(options: ServerConnectionOptions, onMedia?: (message: MediaMessage) => void) {
    this.#options = options;
    this.#mediaHandler = onMedia;
    this.#handshake = new ServerHandshake(() => this.#now);
    this.#decoder = new ChunkDecoder(options.decoderLimits);
    this.#media = new MediaClassifier(options.maxResolution);
  }

  /** True once a publish was accepted, until it ends. */
  get publishing(): boolean {
    return this.#publish === Publish.Live;
  }

  /** Feeds bytes read from the peer at `now` (ms); returns what to send and what happened. */
  push(data: Buffer, now: number): PushResult {
    const result: PushResult = { out: NONE, events: NONE, messages: 0, paused: false };
    if (this.#phase === Phase.Failed) return result;
    this.#result = result;
    this.#now = now;
    try {
      if (this.#phase === Phase.Handshake && data.length > 0) {
        const step = this.#handshake.push(data);
        if (step.reply !== undefined) this.#out(step.reply);
        if (!step.done) return result;
        this.#phase = Phase.Connecting;
        this.#event({ type: 'handshake' });
        data = step.rest ?? EMPTY;
      }
      if (data.length > 0) {
        this.#countBytes(data.length);
        const messages = this.#decoder.push(data);
        result.messages = messages.length;
        if (this.#next === this.#queue.length) {
          this.#queue = messages;
          this.#next = 0;
        } else {
          for (const m of messages) this.#queue.push(m);
        }
      }
      const queue = this.#queue;
      const end = queue.length;
      let next = this.#next;
      while (next < end) {
        const pause = this.#handle(queue[next++]!);
        if (pause) break;
      }
      if (next < end) {
        this.#next = next;
        result.paused = true;
      } else if (end > 0) {
        this.#queue = [];
        this.#next = 0;
      }
    } catch (error) {
      this.#phase = Phase.Failed;
      this.#queue = [];
      this.#next = 0;
      result.paused = false;
      this.#event({ type: 'error', error });
    }
    return result;
  }

  /**
   * Accepts the pending publish as `key`: Stream Begin and NetStream.Publish.Start
   * (RTMP spec 7.2.2.6); media on the stream is reported from here on.
   */
  accept(key: string): Buffer[] {
    if (this.#publish !== Publish.Pending) throw new CommandError('accept without a pending publish');
    this.#publish = Publish.Live;
    this.#key = key;
    return [
      this.#encode(encodeUserControl(UserControlEvent.StreamBegin, this.#publishStreamId)),
      this.#encode(encodePublishStart(this.#publishStreamId, key)),
    ];
  }

  /** An onStatus on message stream `streamId` (refusals, shutdown), chunked at our chunk size. */
  status(streamId: number, info: StatusInfo): Buffer {
    return this.#encode(onStatus(streamId, info));
  }

  #encode(message: OutgoingMessage): Buffer {
    return this.#encoder.encode(message);
  }

  #send(message: OutgoingMessage): void {
    this.#out(this.#encoder.encode(message));
  }

  #out(bytes: Buffer): void {
    const result = this.#result;
    if (result.out === NONE) result.out = [bytes];
    else result.out.push(bytes);
  }

  #event(event: ConnectionEvent): void {
    const result = this.#result;
    if (result.events === NONE) result.events = [event];
    else result.events.push(event);
  }

  /** Counts bytes for the acknowledgement window (RTMP spec 5.4.3). */
  #countBytes(n: number): void {
    this.#received += n;
    if (this.#peerWindow > 0 && this.#received - this.#lastAck >= this.#peerWindow) {
      this.#lastAck = this.#received;
      this.#send(encodeAcknowledgement(this.#received % 0x100000000));
    }
  }

  /** Handles one message; true when it was a publish request (the caller answers before more is read). */
  #handle(message: RawMessage): boolean {
    switch (message.typeId) {
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3:
        return this.#onCommand(decodeCommand(message.typeId, message.payload), message.streamId);
      case MessageType.DataAmf0:
      case MessageType.DataAmf3:
        this.#onData(message.typeId, message.timestamp, message.payload, message.streamId);
        return false;
      case MessageType.Audio:
      case MessageType.Video:
        this.#onMedia(message.typeId, message.timestamp, message.payload, message.streamId);
        return false;
      case MessageType.Aggregate:
        this.#onAggregate(message);
        return false;
      case MessageType.WindowAcknowledgementSize:
        this.#peerWindow = decodeWindowAckSize(message.payload);
        return false;
      case MessageType.UserControl: {
        const control = decodeUserControl(message.payload);
        if (control.event === UserControlEvent.PingRequest) {
          this.#send(encodeUserControl(UserControlEvent.PingResponse, control.timestamp ?? 0));
        }
        return false;
      }
      case MessageType.Acknowledgement:
        // Nothing to do for a server that only ingests, but a malformed one is still refused.
        decodeAcknowledgement(message.payload);
        return false;
      case MessageType.SetPeerBandwidth:
        decodeSetPeerBandwidth(message.payload);
        return false;
      default:
        // Set Chunk Size and Abort were decoded and applied by the chunk decoder; other types are ignored.
        return false;
    }
  }

  #onCommand(cmd: Command, streamId: number): boolean {
    switch (cmd.name) {
      case 'connect':
        this.#onConnect(cmd);
        return false;
      case 'releaseStream':
      case 'FCPublish':
      case 'FCUnpublish':
      case 'createStream':
      case 'publish':
      case 'deleteStream':
      case 'closeStream':
        if (this.#phase === Phase.Connecting) throw new CommandError(`'${cmd.name}' before connect`);
        break;
      default:
        break;
    }
    switch (cmd.name) {
      case 'releaseStream':
        this.#send(encodeResult(cmd.transactionId, undefined));
        return false;
      case 'FCPublish':
        this.#send(encodeOnFCPublish(cmd.args[0]));
        this.#send(encodeResult(cmd.transactionId, undefined));
        return false;
      case 'createStream': {
        if (this.#streams.size >= MAX_MESSAGE_STREAMS) {
          throw new CommandError(`more than ${MAX_MESSAGE_STREAMS} createStream calls on one connection`);
        }
        const id = this.#nextStreamId++;
        this.#streams.add(id);
        this.#send(encodeResult(cmd.transactionId, id));
        return false;
      }
      case 'publish': {
        if (!this.#streams.has(streamId)) {
          throw new CommandError(`publish on message stream ${streamId}, which createStream did not return`);
        }
        if (this.#publish !== Publish.None) throw new CommandError('publish while already publishing');
        this.#publish = Publish.Pending;
        this.#publishStreamId = streamId;
        this.#event({ type: 'publish', ...decodePublish(cmd, streamId) });
        return true;
      }
      case 'FCUnpublish':
        this.#send(encodeOnFCUnpublish());
        this.#send(encodeResult(cmd.transactionId, undefined));
        return false;
      case 'deleteStream':
      case 'closeStream':
        this.#unpublish();
        return false;
      case 'play':
      case 'play2':
        this.#send(encodePlayFailed(streamId));
        return false;
      case '_result':
      case '_error':
      case 'onBWDone':
      case '_checkbw':
      case 'getStreamLength':
      case 'setDataFrame':
        return false;
      default:
        if (cmd.transactionId !== 0) this.#send(encodeUnknownCommand(cmd.transactionId, cmd.name));
        return false;
    }
  }

  #onConnect(cmd: Command): void {
    if (this.#phase !== Phase.Connecting) throw new CommandError('connect sent twice');
    const connect = decodeConnect(cmd);
    const app = normaliseApp(connect.app);
    const served = this.#options.app;
    if (app !== served) {
      const shown = typeof app === 'string' ? `'${app.slice(0, 64)}'` : 'none';
      this.#send(encodeConnectRejected(cmd.transactionId, `application ${shown} is not served here; publish to rtmp://<host>/${served}/<stream_key>`));
      throw new AppRejectedError(`connect to application ${shown} refused`);
    }
    const rawTcUrl = connect.tcUrl;
    const tcUrl = typeof rawTcUrl === 'string' && /^rtmps?:\/\//i.test(rawTcUrl) && rawTcUrl.length < 512
      ? rawTcUrl.split('?')[0]!.replace(/\/+$/, '')
      : undefined;
    this.#phase = Phase.Connected;
    this.#send(encodeWindowAckSize(this.#options.windowAckSize));
    this.#send(encodeSetPeerBandwidth(this.#options.windowAckSize, 2));
    this.#send(encodeSetChunkSize(this.#options.chunkSize));
    this.#encoder.setChunkSize(this.#options.chunkSize);
    this.#send(encodeConnectResult(cmd.transactionId, connect.objectEncoding));
    this.#event({ type: 'connect', app, tcUrl, query: mergeQueries(queryOf(rawTcUrl), queryOf(connect.app)) });
  }

  #unpublish(): void {
    const was = this.#publish;
    if (was === Publish.None) return;
    this.#publish = Publish.None;
    this.#event({ type: 'unpublish', live: was === Publish.Live });
    if (was === Publish.Live) this.#send(encodeUnpublishSuccess(this.#publishStreamId, `${this.#key} is now unpublished`));
  }

  /** onMetaData of the published stream (RTMP spec 7.1.2; `@setDataFrame` unwrapped). */
  #onData(typeId: number, timestamp: number, payload: Buffer, streamId: number): void {
    if (this.#publish !== Publish.Live || streamId !== this.#publishStreamId) return;
    const data = decodeData(typeId, payload);
    const values = data.values[0];
    if (data.name !== 'onMetaData' || values === undefined || !isObject(values)) return;
    this.#emit(this.#media.metadata(timestamp, payload, values));
  }

  #onMedia(typeId: 8 | 9, timestamp: number, payload: Buffer, streamId: number): void {
    if (this.#publish !== Publish.Live || streamId !== this.#publishStreamId || payload.length === 0) return;
    this.#emit(typeId === MessageType.Video ? this.#media.video(timestamp, payload) : this.#media.audio(timestamp, payload));
  }

  #emit(message: MediaMessage): void {
    if (this.#mediaHandler === undefined) this.#event(message);
    else this.#mediaHandler(message);
  }

  /** Aggregate messages carry FLV tags back to back (RTMP spec 7.1.6). */
  #onAggregate(message: RawMessage): void {
    const body = message.payload;
    let offset = 0;
    let base: number | undefined;
    while (offset + 11 <= body.length) {
      const type = body[offset]!;
      const size = body.readUIntBE(offset + 1, 3);
      const ts = (body.readUIntBE(offset + 4, 3) | (body[offset + 7]! << 24)) >>> 0;
      if (offset + 11 + size + 4 > body.length) throw new ProtocolError('RTMP aggregate message: sub-message overruns the body');
      base ??= ts;
      const sub = body.subarray(offset + 11, offset + 11 + size);
      const timestamp = (message.timestamp + ts - base) >>> 0;
      if (type === MessageType.Audio || type === MessageType.Video) this.#onMedia(type, timestamp, sub, message.streamId);
      else if (type === MessageType.DataAmf0) this.#onData(type, timestamp, sub, message.streamId);
      offset += 11 + size + 4;
    }
  }
}
