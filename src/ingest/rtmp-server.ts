import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../log.ts';
import { TypedEmitter } from '../util/events.ts';
import { listenOn } from '../util/listen.ts';
import { RtmpSession, type SessionOptions, type SessionRegistry } from './session.ts';

/** Where and how the RTMP listener runs. */
export interface RtmpServerOptions extends SessionOptions {
  host: string;
  port: number;
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
  #nextId = 1;
  #listening = false;

  constructor(options: RtmpServerOptions, registry: SessionRegistry, log: Logger) {
    super((err, event) => log.error({ err, event }, 'rtmp server listener failed'));
    this.#options = options;
    this.#registry = registry;
    this.#log = log;
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
    const session = new RtmpSession(this.#nextId++, socket, this.#options, this.#registry, this.#log);
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
