import type { Socket } from 'node:net';
import {
  AppRejectedError,
  BitrateLimitError,
  CommandError,
  HandshakeTimeoutError,
  IdleTimeoutError,
  MediaUnsupportedError,
  ProtocolError,
  ResolutionLimitError,
} from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseAudioSpecificConfig } from '../media/aac.ts';
import type { MediaMessage } from '../media/media-message.ts';
import { parseAvcDecoderConfig } from '../media/avc.ts';
import { parseAudioTag, parseVideoTag, type VideoTag } from '../media/flv-tag.ts';
import type { AmfObject, AmfValue } from '../rtmp/amf0.ts';
import { ChunkDecoder, type ChunkDecoderLimits, type RawMessage } from '../rtmp/chunk-decoder.ts';
import { ChunkEncoder } from '../rtmp/chunk-encoder.ts';
import { command, decodeCommand, decodeData, onStatus, type Command } from '../rtmp/command.ts';
import {
  acknowledgement,
  decodeControl,
  setChunkSize,
  setPeerBandwidth,
  userControl,
  windowAckSize,
  type OutgoingMessage,
} from '../rtmp/control.ts';
import { ServerHandshake } from '../rtmp/handshake.ts';
import { MessageType, UserControlEvent } from '../rtmp/message-types.ts';
import type { PublishRequest, RefusalReason, StreamEntry } from '../streams/registry.ts';
import { MAX_QUERY_LENGTH, normaliseApp, parseStreamName, type StreamName } from '../streams/stream-key.ts';
import { TypedEmitter } from '../util/events.ts';
import { refusalFor } from './refusal.ts';

/** Session settings, from the `rtmp` and `limits` config sections. */
export interface SessionOptions {
  app: string;
  chunkSize: number;
  windowAckSize: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  decoderLimits: ChunkDecoderLimits;
  /** Sustained input bitrate limit, bits per second. */
  maxBitrateBps: number;
  /** Window over which the bitrate must stay above the limit before we disconnect. */
  bitrateWindowMs: number;
  /** Largest source, as lines of the short side (1080 for "1080p"). */
  maxResolution: number;
}

/** The part of the stream registry a session needs. */
export interface SessionRegistry {
  publish(request: PublishRequest): StreamEntry;
  unpublish(entry: StreamEntry): void;
  refuse(reason: RefusalReason, detail: { key?: string; peer: string; message: string }): void;
  totalBytesIn: number;
  totalBytesOut: number;
}

/** One publish to authenticate: what a SessionAuthorizer is told. */
export interface PublishAttempt {
  app: string;
  /** The stream key, without its query. */
  key: string;
  /** Query parameters of connect's tcUrl and app, overridden by those of the publish name. */
  query: Readonly<Record<string, string>>;
  /** The publisher's IP address, as the socket reports it. */
  clientAddress: string;
}

/**
 * Publish authentication (auth.enabled; a PublishAuthorizer fits): resolves
 * when the publish may go ahead, rejects with a typed error (mapped to an
 * onStatus by refusal.ts, its message sent as the description) when not.
 */
export interface SessionAuthorizer {
  authorize(attempt: PublishAttempt): Promise<void>;
}

/** Events of one session. */
export interface SessionEvents extends Record<string, unknown[]> {
  publish: [StreamEntry];
  media: [StreamEntry, MediaMessage];
  unpublish: [StreamEntry];
  close: [];
}

const enum Phase {
  Handshake,
  Connecting,
  Connected,
  Publishing,
  Closed,
}

/** How long a refused peer gets to read our status before we close. */
const CLOSE_GRACE_MS = 500;
/** Most message streams one connection may create. */
const MAX_MESSAGE_STREAMS = 8;
/** How often the sustained-bitrate limit is checked. */
const BITRATE_CHECK_MS = 1000;

/**
 * One RTMP connection: the thin adapter between a socket and the pure protocol
 * core (handshake → chunk decoder → commands/media). It answers the command
 * forms ffmpeg, OBS (librtmp) and GStreamer expect, enforces the limits, and
 * reports every refusal with an onStatus before closing.
 */
export class RtmpSession extends TypedEmitter<SessionEvents> {
  readonly id: number;
  readonly peer: string;
  readonly #socket: Socket;
  readonly #options: SessionOptions;
  readonly #registry: SessionRegistry;
  readonly #log: Logger;
  readonly #authorizer: SessionAuthorizer | undefined;
  readonly #handshake = new ServerHandshake(() => Date.now());
  readonly #decoder: ChunkDecoder;
  readonly #encoder = new ChunkEncoder();
  #phase = Phase.Handshake;
  #timer: NodeJS.Timeout;
  /** Set from the handshake's end until a publish command: a peer that never publishes is cut. */
  #publishDeadline: NodeJS.Timeout | undefined;
  #received = 0;
  #lastAck = 0;
  #peerWindow = 0;
  #nextStreamId = 1;
  #streams = new Set<number>();
  #tcUrl: string | undefined;
  #app = '';
  /** Query parameters that came with connect (in tcUrl or app), for authentication. */
  #connectQuery: Readonly<Record<string, string>> = {};
  /** Publish attempts so far; a pending authorisation answers only if it is still the current one. */
  #attempts = 0;
  /** The attempt whose authorisation is pending, or 0. */
  #authorizing = 0;
  #entry: StreamEntry | undefined;
  #publishStreamId = 0;
  /** The key of the last publish request, for logging refusals that come before registration. */
  #requestedKey: string | undefined;
  #lastBitrateCheck = 0;
  /** Date.now() when the current socket read arrived: one clock read per read, not per message. */
  #now = 0;

  constructor(
    id: number,
    socket: Socket,
    options: SessionOptions,
    registry: SessionRegistry,
    log: Logger,
    authorizer?: SessionAuthorizer,
  ) {
    super((err, event) => this.#log.error({ err, event }, 'session listener failed'));
    this.id = id;
    this.#socket = socket;
    this.#options = options;
    this.#registry = registry;
    this.#authorizer = authorizer;
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.#log = log.child({ session: id, peer: this.peer });
    this.#decoder = new ChunkDecoder(options.decoderLimits);
    socket.setNoDelay(true);
    this.#timer = setTimeout(() => this.#fail(new HandshakeTimeoutError(
      `RTMP handshake not completed within ${options.handshakeTimeoutMs} ms`,
    )), options.handshakeTimeoutMs);
    socket.on('data', (data: Buffer) => this.#onData(data));
    socket.on('error', (err) => this.#log.debug({ err }, 'socket error'));
    socket.on('close', () => this.#onClose());
  }

  /** The stream this connection publishes, if any. */
  get stream(): StreamEntry | undefined {
    return this.#entry;
  }

  /** Ends the session: the stream is unpublished and the socket closed. */
  close(): void {
    if (this.#phase === Phase.Closed) return;
    if (this.#entry !== undefined) {
      this.#send(onStatus(this.#publishStreamId, {
        level: 'status',
        code: 'NetStream.Unpublish.Success',
        description: 'server is shutting down',
      }));
    }
    this.#closeSoon();
  }

  #onData(data: Buffer): void {
    if (this.#phase === Phase.Closed) return;
    this.#registry.totalBytesIn += data.length;
    try {
      if (this.#phase === Phase.Handshake) {
        const step = this.#handshake.push(data);
        if (step.reply !== undefined) this.#write(step.reply);
        if (!step.done) return;
        this.#phase = Phase.Connecting;
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => this.#fail(new IdleTimeoutError(
          `no complete RTMP message from the peer for ${this.#options.idleTimeoutMs} ms`,
        )), this.#options.idleTimeoutMs);
        // This server only takes publishers: a peer that keeps the connection alive with small
        // valid messages but never publishes holds a socket for nothing.
        this.#publishDeadline = setTimeout(() => this.#fail(new IdleTimeoutError(
          `no publish command within ${this.#options.idleTimeoutMs} ms of the handshake`,
        )), this.#options.idleTimeoutMs);
        if (step.rest === undefined) return;
        data = step.rest;
      }
      this.#countBytes(data.length);
      const messages = this.#decoder.push(data);
      // Progress is a whole message, not a byte: a peer dripping bytes (slowloris) still times out.
      if (messages.length > 0) this.#timer.refresh();
      // Before publishing, one read often brings commands with several replies each (connect
      // alone has five): corked, they leave in one write instead of one packet per message.
      const cork = messages.length > 0 && this.#phase !== Phase.Publishing;
      if (cork) this.#socket.cork();
      try {
        for (const message of messages) {
          this.#handle(message);
          if (this.#closed) return;
        }
      } finally {
        if (cork) this.#socket.uncork();
      }
      this.#checkBitrate();
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Counts bytes for the acknowledgement window (RTMP spec 5.4.3) and the stream's figures. */
  #countBytes(n: number): void {
    this.#received += n;
    const now = Date.now();
    this.#now = now;
    this.#entry?.addBytes(n, now);
    if (this.#peerWindow > 0 && this.#received - this.#lastAck >= this.#peerWindow) {
      this.#lastAck = this.#received;
      this.#send(acknowledgement(this.#received % 0x100000000));
    }
  }

  #checkBitrate(): void {
    const entry = this.#entry;
    if (entry === undefined) return;
    const now = this.#now;
    if (now - this.#lastBitrateCheck < BITRATE_CHECK_MS) return;
    this.#lastBitrateCheck = now;
    if (entry.sustainedAbove(this.#options.maxBitrateBps, now)) {
      const mbps = (entry.bitrate(now) / 1e6).toFixed(1);
      const limit = this.#options.maxBitrateBps / 1e6;
      throw new BitrateLimitError(
        `input bitrate ${mbps} Mbps stayed above the limit (RTMP_MAX_BITRATE=${limit} Mbps) for ${this.#options.bitrateWindowMs / 1000} s`,
      );
    }
  }

  #handle(message: RawMessage): void {
    switch (message.typeId) {
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3:
        this.#onCommand(decodeCommand(message.typeId, message.payload), message.streamId);
        return;
      case MessageType.DataAmf0:
      case MessageType.DataAmf3:
        this.#onData18(message);
        return;
      case MessageType.Audio:
      case MessageType.Video:
        this.#onMedia(message.typeId, message.timestamp, message.payload, message.streamId);
        return;
      case MessageType.Aggregate:
        this.#onAggregate(message);
        return;
      default:
        this.#onControl(message);
    }
  }

  #onControl(message: RawMessage): void {
    const control = decodeControl(message.typeId, message.payload);
    if (control === undefined) {
      this.#log.debug({ typeId: message.typeId }, 'ignoring message of unknown type');
      return;
    }
    if (control.kind === 'window-ack-size') {
      this.#peerWindow = control.size;
    } else if (control.kind === 'user-control' && control.event === UserControlEvent.PingRequest) {
      this.#send(userControl(UserControlEvent.PingResponse, control.timestamp ?? 0));
    } else if (control.kind === 'set-chunk-size') {
      this.#log.debug({ chunkSize: control.chunkSize }, 'peer chunk size');
    }
  }

  #onCommand(cmd: Command, streamId: number): void {
    switch (cmd.name) {
      case 'connect':
        this.#onConnect(cmd);
        return;
      case 'releaseStream':
      case 'FCPublish':
      case 'FCUnpublish':
      case 'createStream':
      case 'publish':
      case 'deleteStream':
      case 'closeStream':
        if (this.#phase === Phase.Connecting) {
          throw new CommandError(`'${cmd.name}' before connect`);
        }
        break;
      default:
        break;
    }
    switch (cmd.name) {
      case 'releaseStream':
        this.#send(command('_result', cmd.transactionId, null, [undefined]));
        return;
      case 'FCPublish':
        this.#send(command('onFCPublish', 0, null, [{
          level: 'status',
          code: 'NetStream.Publish.Start',
          // Not String(): a decoded AMF object has a null prototype and would throw.
          description: `FCPublish to ${typeof cmd.args[0] === 'string' ? cmd.args[0].slice(0, 180) : typeof cmd.args[0]}`,
        }]));
        this.#send(command('_result', cmd.transactionId, null, [undefined]));
        return;
      case 'createStream': {
        if (this.#streams.size >= MAX_MESSAGE_STREAMS) {
          throw new CommandError(`more than ${MAX_MESSAGE_STREAMS} createStream calls on one connection`);
        }
        const id = this.#nextStreamId++;
        this.#streams.add(id);
        this.#send(command('_result', cmd.transactionId, null, [id]));
        return;
      }
      case 'publish':
        this.#onPublish(cmd, streamId);
        return;
      case 'FCUnpublish':
        this.#send(command('onFCUnpublish', 0, null, [{
          level: 'status',
          code: 'NetStream.Unpublish.Success',
          description: 'FCUnpublish',
        }]));
        this.#send(command('_result', cmd.transactionId, null, [undefined]));
        return;
      case 'deleteStream':
      case 'closeStream':
        this.#authorizing = 0;
        this.#unpublish(true);
        return;
      case 'play':
      case 'play2':
        this.#send(onStatus(streamId, {
          level: 'error',
          code: 'NetStream.Play.Failed',
          description: 'this server does not play streams over RTMP; use the HLS or DASH outputs',
          status: 404,
        }));
        return;
      case '_result':
      case '_error':
      case 'onBWDone':
      case '_checkbw':
      case 'getStreamLength':
      case 'setDataFrame':
        return;
      default:
        if (cmd.transactionId !== 0) {
          this.#send(command('_error', cmd.transactionId, null, [{
            level: 'error',
            code: 'NetConnection.Call.Failed',
            description: `unknown command '${cmd.name.slice(0, 64)}'`,
          }]));
        }
    }
  }

  #onConnect(cmd: Command): void {
    if (this.#phase !== Phase.Connecting) throw new CommandError('connect sent twice');
    const obj = isObject(cmd.commandObject) ? cmd.commandObject : {};
    const app = normaliseApp(obj['app']);
    if (app !== this.#options.app) {
      const shown = typeof app === 'string' ? `'${app.slice(0, 64)}'` : 'none';
      this.#send(command('_error', cmd.transactionId, null, [{
        level: 'error',
        code: 'NetConnection.Connect.Rejected',
        description: `application ${shown} is not served here; publish to rtmp://<host>/${this.#options.app}/<stream_key>`,
        status: 404,
      }]));
      throw new AppRejectedError(`connect to application ${shown} refused`);
    }
    this.#app = app;
    const tcUrl = obj['tcUrl'];
    if (typeof tcUrl === 'string' && /^rtmps?:\/\//i.test(tcUrl) && tcUrl.length < 512) {
      this.#tcUrl = tcUrl.split('?')[0]!.replace(/\/+$/, '');
    }
    // OBS-style publishers put a token on the server URL: rtmp://host/live?exp=…&sig=….
    this.#connectQuery = mergeQueries(queryOf(tcUrl), queryOf(obj['app']));
    const encoding = typeof obj['objectEncoding'] === 'number' ? obj['objectEncoding'] : 0;
    this.#phase = Phase.Connected;
    this.#send(windowAckSize(this.#options.windowAckSize));
    this.#send(setPeerBandwidth(this.#options.windowAckSize, 2));
    this.#send(setChunkSize(this.#options.chunkSize));
    this.#encoder.setChunkSize(this.#options.chunkSize);
    this.#send(command('_result', cmd.transactionId, { fmsVer: 'FMS/3,5,7,7009', capabilities: 31, mode: 1 }, [{
      level: 'status',
      code: 'NetConnection.Connect.Success',
      description: 'Connection succeeded.',
      objectEncoding: encoding,
    }]));
    this.#log.debug({ app, tcUrl: this.#tcUrl }, 'connected');
  }

  #onPublish(cmd: Command, streamId: number): void {
    if (!this.#streams.has(streamId)) {
      throw new CommandError(`publish on message stream ${streamId}, which createStream did not return`);
    }
    if (this.#entry !== undefined || this.#authorizing !== 0) throw new CommandError('publish while already publishing');
    clearTimeout(this.#publishDeadline);
    const name = parseStreamName(cmd.args[0]);
    this.#requestedKey = name.key;
    this.#publishStreamId = streamId;
    const authorizer = this.#authorizer;
    if (authorizer === undefined) {
      this.#startPublish(name, streamId, cmd.args[1]);
      return;
    }
    // Authentication may wait on the webhook: other sessions go on meanwhile, and this
    // one registers nothing, so media sent before the answer is dropped (#onMedia).
    const attempt = ++this.#attempts;
    this.#authorizing = attempt;
    const current = (): boolean => this.#authorizing === attempt && !this.#closed;
    authorizer
      .authorize({
        app: this.#app,
        key: name.key,
        query: mergeQueries(this.#connectQuery, name.query),
        clientAddress: this.#socket.remoteAddress ?? '',
      })
      .then(
        () => {
          if (!current()) return;
          this.#authorizing = 0;
          try {
            this.#startPublish(name, streamId, cmd.args[1]);
          } catch (err) {
            this.#fail(err);
          }
        },
        (err: unknown) => {
          if (!current()) return;
          this.#authorizing = 0;
          this.#fail(err);
        },
      );
  }

  /** Registers the stream and tells the publisher it is live. */
  #startPublish(name: StreamName, streamId: number, type: AmfValue | undefined): void {
    const base = this.#tcUrl ?? `rtmp://${this.#socket.localAddress ?? 'localhost'}:${this.#socket.localPort ?? 1935}/${this.#app}`;
    this.#entry = this.#registry.publish({
      key: name.key,
      app: this.#app,
      query: name.query,
      peer: this.peer,
      sourceUrl: `${base}/${name.key}`,
    });
    this.#phase = Phase.Publishing;
    this.#log.info({ key: name.key, type }, 'publish started');
    this.#send(userControl(UserControlEvent.StreamBegin, streamId));
    this.#send(onStatus(streamId, {
      level: 'status',
      code: 'NetStream.Publish.Start',
      description: `${name.key} is now published`,
      details: name.key,
    }));
    this.safeEmit('publish', this.#entry);
  }

  #onData18(message: RawMessage): void {
    const entry = this.#entry;
    if (entry === undefined || message.streamId !== this.#publishStreamId) return;
    const data = decodeData(message.typeId, message.payload);
    if (data.name !== 'onMetaData' || !isObject(data.values[0])) return;
    const meta: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(data.values[0])) {
      if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') meta[k] = v;
    }
    entry.metadata = Object.freeze(meta);
    const { width, height } = meta;
    if (typeof width === 'number' && typeof height === 'number') this.#checkResolution(width, height, 'metadata');
    this.safeEmit('media', entry, {
      typeId: 18, timestamp: message.timestamp, payload: message.payload, keyframe: false, config: true,
      frame: false, codec: undefined, video: undefined, audio: undefined, metadata: entry.metadata,
    });
  }

  #onMedia(typeId: 8 | 9, timestamp: number, payload: Buffer, streamId: number): void {
    const entry = this.#entry;
    if (entry === undefined || streamId !== this.#publishStreamId || payload.length === 0) return;
    entry.lastMediaAt = this.#now;
    entry.lastTimestamp = timestamp;
    entry.mediaBytes += payload.length;
    let keyframe = false;
    let config = false;
    const first = payload[0]!;
    if (typeId === MessageType.Video) {
      const frameType = first >> 4;
      // Fast path, no tag object: legacy AVC coded frames (FLV spec E.4.3.1: FrameType 1-3,
      // CodecID 7, AVCPacketType 1, SI24 composition time) once the stream is known as H.264.
      if ((first & 0x0f) === 7 && frameType >= 1 && frameType <= 3 && payload.length >= 5 && payload[1] === 1 && entry.videoCodec === 'h264') {
        entry.videoFrames++;
        if (frameType === 1) {
          entry.keyFrames++;
          keyframe = true;
        }
      } else {
        const tag = parseVideoTag(payload);
        this.#acceptVideoCodec(tag);
        entry.videoCodec = tag.codec;
        if (tag.packet === 'sequence-start') {
          config = true;
          const video = parseAvcDecoderConfig(tag.payload);
          entry.video = video;
          this.#checkResolution(video.width, video.height, 'sequence header');
          this.#log.info({ key: entry.key, codec: video.codecString, width: video.width, height: video.height }, 'video configured');
        } else if (tag.packet === 'coded-frames') {
          entry.videoFrames++;
          if (tag.frameType === 'key') {
            entry.keyFrames++;
            keyframe = true;
          }
        }
      }
    } else if (first >> 4 === 10 && payload.length >= 2 && payload[1] === 1 && entry.audioCodec === 'aac') {
      // Fast path: AAC raw frames (FLV spec E.4.2.1: SoundFormat 10, AACPacketType 1).
      entry.audioFrames++;
    } else {
      const tag = parseAudioTag(payload);
      if (tag.enhanced) {
        throw new MediaUnsupportedError(`audio codec ${tag.codec} (Enhanced RTMP) is not supported; publish AAC`);
      }
      entry.audioCodec = tag.codec;
      if (tag.codec === 'aac' && tag.packet === 'sequence-header') {
        config = true;
        entry.audio = parseAudioSpecificConfig(tag.payload);
      } else if (tag.packet !== 'sequence-header') {
        entry.audioFrames++;
      }
    }
    this.safeEmit('media', entry, {
      typeId, timestamp, payload, keyframe, config, frame: false, codec: undefined, video: undefined, audio: undefined, metadata: undefined,
    });
  }

  /** H.264 only: HEVC/AV1/VP9 over Enhanced RTMP are recognised and refused by name. */
  #acceptVideoCodec(tag: VideoTag): void {
    if (tag.codec === 'h264') return;
    const what = tag.enhanced ? `${tag.codec} (Enhanced RTMP FourCC '${tag.fourCc ?? '?'}')` : tag.codec;
    throw new MediaUnsupportedError(`video codec ${what} is not supported; publish H.264`);
  }

  #checkResolution(width: number, height: number, source: string): void {
    const max = this.#options.maxResolution;
    const short = Math.min(width, height);
    const long = Math.max(width, height);
    if (short > max || long > Math.round((max * 16) / 9)) {
      throw new ResolutionLimitError(
        `source ${width}x${height} (from the ${source}) exceeds the maximum resolution (RTMP_MAX_RESOLUTION=${max}p)`,
      );
    }
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
      else if (type === MessageType.DataAmf0) this.#onData18({ ...message, typeId: type, timestamp, payload: sub });
      offset += 11 + size + 4;
    }
  }

  #unpublish(tellPeer: boolean): void {
    const entry = this.#entry;
    if (entry === undefined) return;
    this.#entry = undefined;
    this.#registry.unpublish(entry);
    this.#phase = this.#phase === Phase.Closed ? Phase.Closed : Phase.Connected;
    const seconds = ((Date.now() - entry.startedAt) / 1000).toFixed(1);
    this.#log.info({ key: entry.key, bytesIn: entry.bytesIn, seconds }, 'publish ended');
    this.safeEmit('unpublish', entry);
    if (tellPeer) {
      this.#send(onStatus(this.#publishStreamId, {
        level: 'status',
        code: 'NetStream.Unpublish.Success',
        description: `${entry.key} is now unpublished`,
      }));
    }
  }

  /** Reports an error to the peer where RTMP allows, counts it, then closes. */
  #fail(err: unknown): void {
    if (this.#phase === Phase.Closed) return;
    const refusal = refusalFor(err);
    const message = err instanceof Error ? err.message : String(err);
    const key = this.#entry?.key ?? this.#requestedKey;
    this.#registry.refuse(refusal.reason, { ...(key !== undefined ? { key } : {}), peer: this.peer, message });
    const level = refusal.status >= 500 ? 'error' : 'warn';
    this.#log[level]({ key, reason: refusal.reason, code: (err as { code?: string }).code, status: refusal.status }, message);
    // The connect refusal was already answered with _error for its transaction.
    const alreadyTold = err instanceof AppRejectedError;
    if (refusal.tellPeer && !alreadyTold && this.#phase !== Phase.Handshake) {
      const streamId = refusal.code.startsWith('NetStream.') ? this.#publishStreamId : 0;
      this.#send(onStatus(streamId, { level: 'error', code: refusal.code, description: message, status: refusal.status }));
    }
    this.#unpublish(false);
    this.#closeSoon(refusal.tellPeer ? CLOSE_GRACE_MS : 0);
  }

  /** Stops reading, lets queued replies drain, then destroys the socket. */
  #closeSoon(graceMs = CLOSE_GRACE_MS): void {
    if (this.#phase === Phase.Closed) return;
    this.#phase = Phase.Closed;
    clearTimeout(this.#timer);
    clearTimeout(this.#publishDeadline);
    this.#unpublish(false);
    this.#socket.pause();
    if (graceMs === 0) {
      this.#socket.destroy();
      return;
    }
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), graceMs).unref();
  }

  /** Re-reads the phase (TypeScript narrows a private field across calls). */
  get #closed(): boolean {
    return this.#phase === Phase.Closed;
  }

  #onClose(): void {
    clearTimeout(this.#timer);
    clearTimeout(this.#publishDeadline);
    const wasOpen = this.#phase !== Phase.Closed;
    this.#phase = Phase.Closed;
    this.#unpublish(false);
    if (wasOpen) this.#log.debug('peer closed the connection');
    this.safeEmit('close');
  }

  #send(message: OutgoingMessage): void {
    this.#write(this.#encoder.encode(message));
  }

  #write(bytes: Buffer): void {
    if (this.#socket.destroyed || !this.#socket.writable) return;
    this.#registry.totalBytesOut += bytes.length;
    this.#socket.write(bytes);
  }
}

/** The query parameters after `?` in a connect `app` or `tcUrl` (none when absent, too long or not a string). */
function queryOf(value: AmfValue | undefined): Record<string, string> {
  const query: Record<string, string> = Object.create(null);
  if (typeof value !== 'string') return query;
  const q = value.indexOf('?');
  if (q === -1 || value.length - q - 1 > MAX_QUERY_LENGTH) return query;
  for (const [k, v] of new URLSearchParams(value.slice(q + 1))) query[k] = v;
  return query;
}

/** Later sources override earlier ones, parameter by parameter. */
function mergeQueries(...sources: Readonly<Record<string, string>>[]): Readonly<Record<string, string>> {
  const merged: Record<string, string> = Object.create(null);
  for (const source of sources) for (const [k, v] of Object.entries(source)) merged[k] = v;
  return Object.freeze(merged);
}

function isObject(value: AmfValue): value is AmfObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
