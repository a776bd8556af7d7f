import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import type { MediaMessage } from '../../src/media/media-message.ts';
import type { SinkEndReason } from '../../src/media/stream-sink.ts';
import { encodeAmf0 } from '../../src/rtmp/amf0.ts';
import { RtmpSession, type SessionOptions } from '../../src/ingest/session.ts';
import type { Clock, Timer } from '../../src/util/clock.ts';
import { StreamRegistry } from '../../src/streams/registry.ts';
import { MemorySocket } from '../support/memory-socket.ts';
import { AVC_SEQUENCE_HEADER, avcFrame, ClientBytes, clientHandshake, serverMessages } from '../support/rtmp-bytes.ts';

/** Timers on a hand-moved clock. */
class FakeClock implements Clock {
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

/** A session on a memory socket and a fake clock, its sink recorded. */
function setup() {
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
  const session = new RtmpSession(1, socket.socket, OPTIONS, registry, createLogger({ level: 'silent', format: 'json' }), undefined, clock);
  const send = (bytes: Buffer) => socket.emit('data', bytes);
  const statuses = () => serverMessages(Buffer.concat(socket.chunks)).commands.filter((c) => c.name === 'onStatus').map((c) => c.args[0] as { code: string; description: string });
  return { clock, socket, registry, session, pushed, ended, send, statuses };
}

const ping = (t: number) => new ClientBytes().raw(2, 4, 0, 0, Buffer.from(`0006${t.toString(16).padStart(8, '0')}`, 'hex')).bytes();

describe('RtmpSession on a fake clock and socket', () => {
  test('the handshake timeout closes a silent peer and is counted', () => {
    const { clock, socket, registry } = setup();
    clock.advance(4999);
    assert.equal(socket.destroyed, false);
    clock.advance(1);
    assert.equal(socket.destroyed, true);
    assert.equal(registry.refusals.get('protocol'), 1);
  });

  test('media goes straight to the stream sink, counted once in the figures; deleteStream ends the sink', () => {
    const { send, pushed, ended, registry, statuses } = setup();
    send(Buffer.concat([clientHandshake(), new ClientBytes().publish('cam').raw(6, 9, 1, 0, AVC_SEQUENCE_HEADER).raw(6, 9, 1, 40, avcFrame(true)).bytes()]));
    assert.deepEqual(statuses().map((s) => s.code), ['NetStream.Publish.Start']);
    assert.deepEqual(pushed.map((m) => [m.typeId, m.config, m.keyframe]), [[9, true, false], [9, false, true]]);
    const entry = registry.get('cam')!;
    assert.deepEqual([entry.videoFrames, entry.keyFrames, entry.video?.width], [1, 1, 160]);
    send(new ClientBytes().raw(3, 20, 0, 0, encodeAmf0('deleteStream', 4, null, 1)).bytes());
    assert.deepEqual(ended, ['unpublished']);
    assert.equal(registry.get('cam'), undefined);
    assert.deepEqual(statuses().map((s) => s.code), ['NetStream.Publish.Start', 'NetStream.Unpublish.Success']);
  });

  test('after publish then deleteStream, the publish deadline runs again: a peer that only pings is cut', () => {
    const { clock, send, socket, registry } = setup();
    send(Buffer.concat([clientHandshake(), new ClientBytes().publish('cam').bytes()]));
    // Publishing: pings for longer than the deadline do not cut a publisher.
    for (let i = 0; i < 10; i++) {
      clock.advance(300);
      send(ping(i));
    }
    assert.equal(socket.destroyed, false);
    send(new ClientBytes().raw(3, 20, 0, 0, encodeAmf0('deleteStream', 4, null, 1)).bytes());
    const t0 = clock.now();
    for (let i = 0; i < 20 && !socket.destroyed; i++) {
      clock.advance(300);
      if (!socket.destroyed) send(ping(i));
    }
    assert.equal(socket.destroyed, true, 'still open 6 s after deleteStream');
    assert.ok(clock.now() - t0 <= 1500 + 300, `cut ${clock.now() - t0} ms after deleteStream`);
    assert.equal(registry.refusals.get('idle-timeout'), 1);
  });

  test('a refused publish (bad key) reports BadName, registers nothing and stops reading', () => {
    const { send, statuses, socket, ended } = setup();
    send(Buffer.concat([clientHandshake(), new ClientBytes().publish('a b').bytes()]));
    const last = statuses().at(-1)!;
    assert.equal(last.code, 'NetStream.Publish.BadName');
    assert.match(last.description, /stream key may hold only/);
    assert.equal(socket.paused, true);
    assert.deepEqual(ended, []);
  });

  test('a publisher whose socket closes ends its sink once, as disconnected', () => {
    const { send, socket, ended, registry } = setup();
    send(Buffer.concat([clientHandshake(), new ClientBytes().publish('cam').bytes()]));
    socket.destroy();
    assert.deepEqual(ended, ['disconnected']);
    assert.equal(registry.size, 0);
  });
});
