import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../log.ts';
import { TypedEmitter } from '../util/events.ts';
import { SYSTEM_CLOCK } from '../util/clock.ts';
import { listenOn } from '../util/listen.ts';
import { DeadlineTicker, tickFor } from './deadline-ticker.ts';
import { RtmpSession } from './session.ts';
import type { SessionAuthorizer, SessionOptions, SessionRegistry } from './session-deps.ts';

/** Where and how the RTMP listener runs. */
export interface RtmpServerOptions extends SessionOptions {
  host: string;
  port: number;
}

/** The verdict of a ConnectionGate on one new connection. */
export type GateVerdict =
  | { allowed: true }
  | { allowed: false; reason: string; report: boolean; suppressed: number };

/**
 * Per-address admission at accept (a ConnectionLimiter fits): every admitted
 * connection is released exactly once, when its socket closes.
 */
export interface ConnectionGate {
  admit(address: string): GateVerdict;
  release(address: string): void;
}

/** Optional parts of the RTMP server. */
export interface RtmpServerDeps {
  /** Publish authentication (auth.enabled). */
  authorizer?: SessionAuthorizer;
  /** Per-address connection limits (limits.maxConnectionsPerAddress, limits.connectionsPerMinutePerAddress). */
  gate?: ConnectionGate;
}

/** Events of the RTMP server. */
export interface RtmpServerEvents extends Record<string, unknown[]> {
  session: [RtmpSession];
}

/**
 * The RTMP listener on `node:net`: owns the sockets and one RtmpSession each;
 * everything RTMP happens in the session and the pure protocol core.
 */
export class RtmpServer extends TypedEmitter<RtmpServerEvents> {
  readonly #options: RtmpServerOptions;
  readonly #registry: SessionRegistry;
  readonly #log: Logger;
  readonly #server: Server;
  readonly #sessions = new Set<RtmpSession>();
  readonly #deps: RtmpServerDeps;
  /** One timer for every session's deadlines, running only while a connection is open. */
  readonly #ticker: DeadlineTicker;
  #nextId = 1;
  #listening = false;

  constructor(options: RtmpServerOptions, registry: SessionRegistry, log: Logger, deps: RtmpServerDeps = {}) {
    super((err, event) => log.error({ err, event }, 'rtmp server listener failed'));
    this.#options = options;
    this.#deps = deps;
    this.#registry = registry;
    this.#log = log;
    this.#ticker = new DeadlineTicker(SYSTEM_CLOCK, tickFor(options.handshakeTimeoutMs, options.idleTimeoutMs));
    this.#server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
    this.#server.on('error', (err) => log.error({ err }, 'RTMP listener error'));
  }

  /** True while the listener accepts connections. */
  get listening(): boolean {
    return this.#listening;
  }

  /** Open sessions (connected sockets). */
  get sessions(): ReadonlySet<RtmpSession> {
    return this.#sessions;
  }

  /** The bound address (after listen). */
  address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  async listen(): Promise<AddressInfo> {
    const address = await listenOn(this.#server, this.#options.host, this.#options.port);
    this.#listening = true;
    this.#log.info({ host: address.address, port: address.port }, 'RTMP listening');
    return address;
  }

  #accept(socket: Socket): void {
    const gate = this.#deps.gate;
    if (gate !== undefined) {
      const address = socket.remoteAddress;
      if (address === undefined) {
        socket.destroy();
        return;
      }
      const verdict = gate.admit(address);
      if (!verdict.allowed) {
        // Before any byte is read or written: a refused flood costs one accept and one close.
        socket.destroy();
        if (verdict.report) {
          this.#log.warn({ peer: address, reason: verdict.reason, suppressed: verdict.suppressed }, 'connection refused by the per-address limits');
        }
        return;
      }
      socket.once('close', () => gate.release(address));
    }
    const session = new RtmpSession(this.#nextId++, socket, this.#options, this.#registry, this.#log, this.#deps.authorizer, SYSTEM_CLOCK, this.#ticker);
    this.#sessions.add(session);
    session.on('close', () => this.#sessions.delete(session));
    this.safeEmit('session', session);
  }

  /** Stops accepting, ends every session cleanly, resolves when all sockets are gone. */
  async close(timeoutMs = 5000): Promise<void> {
    this.#listening = false;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const sessions = [...this.#sessions];
    const gone = Promise.all(sessions.map((s) => new Promise<void>((resolve) => {
      s.once('close', resolve);
      s.close();
    })));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([Promise.all([closed, gone]), timeout]);
    clearTimeout(timer);
  }
}
