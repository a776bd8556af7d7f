import { createLogger } from '../../src/log.ts';
import { RtmpSession, type SessionOptions } from '../../src/ingest/session.ts';
import type { MediaMessage } from '../../src/media/media-message.ts';
import type { SinkEndReason } from '../../src/media/stream-sink.ts';
import { StreamRegistry } from '../../src/streams/registry.ts';
import type { Clock, Timer } from '../../src/util/clock.ts';
import { MemorySocket } from './memory-socket.ts';
import { serverMessages } from './rtmp-bytes.ts';

/** Timers on a hand-moved clock. */
export class FakeClock implements Clock {
  #now = 1_000_000;
  #timers: { at: number; ms: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): Timer {
    const timer = { at: this.#now + ms, ms, fn, live: true };
    this.#timers.push(timer);
    const now = () => this.#now;
    return {
      refresh() {
        timer.at = now() + timer.ms;
      },
      unref() {},
      // Lets clearTimeout find it.
      ...{ timer },
    };
  }
  clearTimeout(handle: Timer | undefined): void {
    const timer = (handle as { timer?: { live: boolean } } | undefined)?.timer;
    if (timer !== undefined) timer.live = false;
  }
  /** Moves time on by `ms`, firing what falls due, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#now = due.at;
      due.live = false;
      due.fn();
    }
    this.#now = end;
  }
}

const OPTIONS: SessionOptions = {
  app: 'live',
  chunkSize: 4096,
  windowAckSize: 2_500_000,
  handshakeTimeoutMs: 5000,
  idleTimeoutMs: 1500,
  decoderLimits: { maxChunkSize: 0xffffff, maxMessageSize: 0xffffff, maxChunkStreams: 64, maxBufferedBytes: 1 << 20 },
  maxBitrateBps: 50e6,
  bitrateWindowMs: 5000,
  maxResolution: 1080,
};

/**
 * An RtmpSession on a memory socket and a fake clock, with a real registry
 * whose sinks are recorded: session behaviour without booting the app.
 */
export function sessionHarness(options: Partial<SessionOptions> = {}) {
  const clock = new FakeClock();
  const socket = new MemorySocket(true);
  const pushed: MediaMessage[] = [];
  const ended: SinkEndReason[] = [];
  const registry = new StreamRegistry({
    maxStreams: 4,
    bitrateWindowMs: 5000,
    now: () => clock.now(),
    sinks: { open: () => ({ push: (m) => pushed.push(m), end: (reason) => ended.push(reason) }) },
  });
  const session = new RtmpSession(1, socket.socket, { ...OPTIONS, ...options }, registry, createLogger({ level: 'silent', format: 'json' }), undefined, clock);
  const send = (bytes: Buffer) => socket.emit('data', bytes);
  const statuses = (): { code: string; description: string; status?: number }[] => serverMessages(Buffer.concat(socket.chunks)).commands.filter((c) => c.name === 'onStatus').map((c) => c.args[0] as { code: string; description: string; status?: number });
  return { clock, socket, registry, session, pushed, ended, send, statuses };
}
