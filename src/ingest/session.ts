import type { Socket } from 'node:net';
import { AppRejectedError, BitrateLimitError, HandshakeTimeoutError, IdleTimeoutError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { MediaMessage } from '../media/media-message.ts';
import type { SinkEndReason, StreamSink } from '../media/stream-sink.ts';
import { mergeQueries } from '../rtmp/connect-params.ts';
import { ServerConnection, type ConnectEvent, type ConnectionEvent, type PublishEvent, type PushResult } from '../rtmp/server-connection.ts';
import type { StreamEntry } from '../streams/registry.ts';
import { parseStreamName, type StreamName } from '../streams/stream-key.ts';
import { SYSTEM_CLOCK, type Clock } from '../util/clock.ts';
import { TypedEmitter } from '../util/events.ts';
import { DeadlineTicker, tickFor } from './deadline-ticker.ts';
import { refusalFor } from './refusal.ts';
import type { SessionAuthorizer, SessionOptions, SessionRegistry } from './session-deps.ts';

export type { PublishAttempt, SessionAuthorizer, SessionOptions, SessionRegistry } from './session-deps.ts';

/** Events of one session. */
export interface SessionEvents extends Record<string, unknown[]> {
  close: [];
}

/** How long a refused peer gets to read our status before we close. */
const CLOSE_GRACE_MS = 500;
/** How often the sustained-bitrate limit is checked. */
const BITRATE_CHECK_MS = 1000;
const EMPTY = Buffer.alloc(0);

/**
 * One RTMP connection: the thin adapter between a socket and the pure
 * ServerConnection. It owns the deadlines (handshake, idle, publish; checked
 * by a DeadlineTicker shared with the other sessions, so a read moves a number
 * and arms no timer) and the close grace, awaits authentication, registers the
 * stream and pushes its media to the stream's sink, and reports every refusal
 * before closing.
 */
export class RtmpSession extends TypedEmitter<SessionEvents> {
  readonly id: number;
  readonly peer: string;
  readonly #socket: Socket;
  readonly #options: SessionOptions;
  readonly #registry: SessionRegistry;
  readonly #log: Logger;
  readonly #authorizer: SessionAuthorizer | undefined;
  readonly #clock: Clock;
  readonly #conn: ServerConnection;
  #closed = false;
  #handshaken = false;
  /** When the handshake must be done by, then the idle deadline (moved on by each whole message), in clock ms. */
  #idleAt: number;
  /** Set from the handshake's end, and again after each unpublish, until a publish: a peer that never publishes is cut. */
  #publishBy = Infinity;
  #publishSince = '';
  readonly #untick: () => void;
  /** What connect said: the application, tcUrl and its query parameters (for authentication). */
  #connect: ConnectEvent = { type: 'connect', app: '', tcUrl: undefined, query: {} };
  /** Publish attempts so far; a pending authorisation answers only if it is still the current one. */
  #attempts = 0;
  #authorizing = 0;
  #entry: StreamEntry | undefined;
  #sink: StreamSink | undefined;
  #publishStreamId = 0;
  /** The key of the last publish request, for logging refusals that come before registration. */
  #requestedKey: string | undefined;
  #lastBitrateCheck = 0;
  /** The clock when the current socket read arrived: one clock read per read, not per message. */
  #now = 0;

  /**
   * `ticker` checks the deadlines; the server shares one between its sessions. Without one,
   * the session runs its own on `clock`.
   */
  constructor(id: number, socket: Socket, options: SessionOptions, registry: SessionRegistry, log: Logger, authorizer?: SessionAuthorizer, clock: Clock = SYSTEM_CLOCK, ticker?: DeadlineTicker) {
    super((err, event) => this.#log.error({ err, event }, 'session listener failed'));
    this.id = id;
    this.#socket = socket;
    this.#options = options;
    this.#registry = registry;
    this.#authorizer = authorizer;
    this.#clock = clock;
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.#log = log.child({ session: id, peer: this.peer });
    this.#conn = new ServerConnection(options, (message) => this.#onMedia(message));
    socket.setNoDelay(true);
    this.#idleAt = clock.now() + options.handshakeTimeoutMs;
    this.#untick = (ticker ?? new DeadlineTicker(clock, tickFor(options.handshakeTimeoutMs, options.idleTimeoutMs))).add((now) => this.#checkDeadlines(now));
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
    if (this.#closed) return;
    if (this.#entry !== undefined) {
      this.#write(this.#conn.status(this.#publishStreamId, { level: 'status', code: 'NetStream.Unpublish.Success', description: 'server is shutting down' }));
    }
    this.#closeSoon(CLOSE_GRACE_MS, 'disconnected');
  }

  #onData(data: Buffer): void {
    if (this.#closed) return;
    this.#registry.totalBytesIn += data.length;
    const now = this.#clock.now();
    this.#now = now;
    this.#entry?.addBytes(data.length, now);
    // Before publishing, one read often brings commands with several replies each (connect
    // alone has five): corked, they leave in one write instead of one packet per message.
    const cork = this.#entry === undefined;
    if (cork) this.#socket.cork();
    try {
      let result = this.#conn.push(data, now);
      while (this.#apply(result) && result.paused) result = this.#conn.push(EMPTY, now);
      if (!this.#closed) this.#checkBitrate();
    } catch (err) {
      this.#fail(err);
    } finally {
      if (cork) this.#socket.uncork();
    }
  }

  /** Writes a push's replies and acts on its events; false once the session closed. */
  #apply(result: PushResult): boolean {
    for (const bytes of result.out) this.#write(bytes);
    // Progress is a whole message, not a byte: a peer dripping bytes (slowloris) still times out.
    if (result.messages > 0) this.#idleAt = this.#now + this.#options.idleTimeoutMs;
    for (const event of result.events) {
      this.#onEvent(event);
      if (this.#closed) return false;
    }
    return true;
  }

  /** The hot path, called by the connection during push: one classified message into the stream's figures and on to its sink (which does not throw). */
  #onMedia(message: MediaMessage): void {
    const entry = this.#entry!;
    entry.record(message, this.#now);
    if (message.info?.video !== undefined) {
      const { codecString, width, height } = message.info.video;
      this.#log.info({ key: entry.key, codec: codecString, width, height }, 'video configured');
    }
    this.#sink!.push(message);
  }

  #onEvent(event: ConnectionEvent): void {
    switch (event.type) {
      case 'media':
        this.#onMedia(event);
        return;
      case 'handshake': {
        this.#handshaken = true;
        this.#idleAt = this.#now + this.#options.idleTimeoutMs;
        this.#armPublishDeadline('the handshake');
        return;
      }
      case 'connect':
        this.#connect = event;
        this.#log.debug({ app: event.app, tcUrl: event.tcUrl }, 'connected');
        return;
      case 'publish':
        this.#onPublish(event);
        return;
      case 'unpublish':
        this.#authorizing = 0;
        this.#unpublish('unpublished');
        // Back to a connection that publishes nothing: the deadline runs again.
        this.#armPublishDeadline('the last unpublish');
        return;
      case 'error':
        this.#fail(event.error);
    }
  }

  /** This server only takes publishers: a peer that keeps the connection alive with small valid messages but never publishes holds a socket for nothing. */
  #armPublishDeadline(since: string): void {
    this.#publishBy = this.#now + this.#options.idleTimeoutMs;
    this.#publishSince = since;
  }

  /** Called by the ticker: fails the session whose handshake, idle or publish deadline has passed. */
  #checkDeadlines(now: number): void {
    if (this.#closed) return;
    const { handshakeTimeoutMs, idleTimeoutMs } = this.#options;
    if (now >= this.#idleAt) {
      this.#fail(this.#handshaken
        ? new IdleTimeoutError(`no complete RTMP message from the peer for ${idleTimeoutMs} ms`)
        : new HandshakeTimeoutError(`RTMP handshake not completed within ${handshakeTimeoutMs} ms`));
    } else if (now >= this.#publishBy) {
      this.#fail(new IdleTimeoutError(`no publish command within ${idleTimeoutMs} ms of ${this.#publishSince}`));
    }
  }

  #checkBitrate(): void {
    const entry = this.#entry;
    if (entry === undefined || this.#now - this.#lastBitrateCheck < BITRATE_CHECK_MS) return;
    this.#lastBitrateCheck = this.#now;
    if (entry.sustainedAbove(this.#options.maxBitrateBps, this.#now)) {
      const mbps = (entry.bitrate(this.#now) / 1e6).toFixed(1);
      throw new BitrateLimitError(`input bitrate ${mbps} Mbps stayed above the limit (RTMP_MAX_BITRATE=${this.#options.maxBitrateBps / 1e6} Mbps) for ${this.#options.bitrateWindowMs / 1000} s`);
    }
  }

  #onPublish(event: PublishEvent): void {
    this.#publishBy = Infinity;
    const name = parseStreamName(event.name);
    this.#requestedKey = name.key;
    this.#publishStreamId = event.streamId;
    const authorizer = this.#authorizer;
    if (authorizer === undefined) {
      this.#startPublish(name, event);
      return;
    }
    // Authentication may wait on the webhook: other sessions go on meanwhile, and this
    // connection reports no media until accepted, so media sent before the answer is dropped.
    const attempt = ++this.#attempts;
    this.#authorizing = attempt;
    const current = (): boolean => this.#authorizing === attempt && !this.#closed;
    const query = mergeQueries(this.#connect.query, name.query);
    authorizer.authorize({ app: this.#connect.app, key: name.key, query, clientAddress: this.#socket.remoteAddress ?? '' }).then(
      () => {
        if (!current()) return;
        this.#authorizing = 0;
        try {
          this.#startPublish(name, event);
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
  #startPublish(name: StreamName, event: PublishEvent): void {
    const { app, tcUrl } = this.#connect;
    const base = tcUrl ?? `rtmp://${this.#socket.localAddress ?? 'localhost'}:${this.#socket.localPort ?? 1935}/${app}`;
    const { entry, sink } = this.#registry.publish({ key: name.key, app, query: name.query, peer: this.peer, sourceUrl: `${base}/${name.key}` });
    this.#entry = entry;
    this.#sink = sink;
    this.#log.info({ key: name.key, type: event.publishType }, 'publish started');
    for (const bytes of this.#conn.accept(name.key)) this.#write(bytes);
  }

  #unpublish(reason: SinkEndReason): void {
    const entry = this.#entry;
    if (entry === undefined) return;
    this.#entry = undefined;
    this.#sink = undefined;
    this.#registry.unpublish(entry, reason);
    const seconds = ((this.#clock.now() - entry.startedAt) / 1000).toFixed(1);
    this.#log.info({ key: entry.key, bytesIn: entry.bytesIn, seconds }, 'publish ended');
  }

  /** Reports an error to the peer where RTMP allows, counts it, then closes. */
  #fail(err: unknown): void {
    if (this.#closed) return;
    const refusal = refusalFor(err);
    const message = err instanceof Error ? err.message : String(err);
    const key = this.#entry?.key ?? this.#requestedKey;
    this.#registry.refuse(refusal.reason, { ...(key !== undefined ? { key } : {}), peer: this.peer, message });
    const level = refusal.status >= 500 ? 'error' : 'warn';
    this.#log[level]({ key, reason: refusal.reason, code: (err as { code?: string }).code, status: refusal.status }, message);
    // The connect refusal was already answered with _error for its transaction.
    if (refusal.tellPeer && this.#handshaken && !(err instanceof AppRejectedError)) {
      const streamId = refusal.code.startsWith('NetStream.') ? this.#publishStreamId : 0;
      this.#write(this.#conn.status(streamId, { level: 'error', code: refusal.code, description: message, status: refusal.status }));
    }
    this.#closeSoon(refusal.tellPeer ? CLOSE_GRACE_MS : 0, 'refused');
  }

  /** Stops reading, lets queued replies drain, then destroys the socket. */
  #closeSoon(graceMs: number, reason: SinkEndReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#untick();
    this.#unpublish(reason);
    this.#socket.pause();
    if (graceMs === 0) {
      this.#socket.destroy();
      return;
    }
    this.#socket.end();
    this.#clock.setTimeout(() => this.#socket.destroy(), graceMs).unref();
  }

  #onClose(): void {
    this.#untick();
    const wasOpen = !this.#closed;
    this.#closed = true;
    this.#unpublish('disconnected');
    if (wasOpen) this.#log.debug('peer closed the connection');
    this.safeEmit('close');
  }

  #write(bytes: Buffer): void {
    if (this.#socket.destroyed || !this.#socket.writable) return;
    this.#registry.totalBytesOut += bytes.length;
    this.#socket.write(bytes);
  }
}
