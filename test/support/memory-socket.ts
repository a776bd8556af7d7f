import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

/** Just enough of net.Socket for RtmpSession; records what the server writes. */
export class MemorySocket extends EventEmitter {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 40000;
  readonly localAddress = '127.0.0.1';
  readonly localPort = 1935;
  destroyed = false;
  writable = true;
  paused = false;
  written = 0;
  /** What was written, when `keep` is set (fuzzing counts bytes only). */
  readonly chunks: Buffer[] = [];
  readonly #keep: boolean;

  constructor(keep = false) {
    super();
    this.#keep = keep;
  }

  /** This object typed as the socket a session takes. */
  get socket(): Socket {
    return this as unknown as Socket;
  }

  setNoDelay(): this {
    return this;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  /** The session corks its replies during the command phase; a memory socket has nothing to batch. */
  cork(): void {}
  uncork(): void {}
  write(bytes: Buffer): boolean {
    this.written += bytes.length;
    if (this.#keep) this.chunks.push(bytes);
    return true;
  }
  end(): this {
    this.writable = false;
    return this;
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.writable = false;
      this.emit('close', false);
    }
    return this;
  }
}
