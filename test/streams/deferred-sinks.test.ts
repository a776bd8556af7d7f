import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MediaMessage } from '../../src/media/media-message.ts';
import { DeferredSinks } from '../../src/streams/deferred-sinks.ts';
import { StreamEntry, type StreamSinkFactory } from '../../src/streams/registry.ts';

const entry = (key: string) => new StreamEntry({ key, app: 'live', query: {}, peer: '127.0.0.1:1', sourceUrl: `rtmp://h/live/${key}` }, 0, 1000);
/** A message named by its payload's text, so the replay order reads as a list of names. */
const msg = (name: string, typeId: 8 | 9 | 18, o: { keyframe?: boolean; config?: boolean; bytes?: number } = {}): MediaMessage => ({
  type: 'media', typeId, timestamp: 0, payload: Buffer.from(name.padEnd(o.bytes ?? name.length, '.')), keyframe: o.keyframe ?? false,
  config: o.config ?? false, frame: !(o.config ?? false), info: undefined,
});
const K = (n: string, bytes?: number) => msg(n, 9, { keyframe: true, ...(bytes === undefined ? {} : { bytes }) });
const P = (n: string) => msg(n, 9);
const A = (n: string) => msg(n, 8);

/** A factory that records, per key, what its sinks were given. */
function recorder(): StreamSinkFactory & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    open: (e) => {
      log.push(`open ${e.key}`);
      return { push: (m) => log.push(`${e.key} ${m.payload.toString().replace(/\.+$/, '')}`), end: (r) => log.push(`${e.key} end ${r}`) };
    },
  };
}

describe('DeferredSinks: publishes before the encoder probe ends', () => {
  test('keeps the latest configuration and the media since the latest keyframe; replays them in order, then passes through', () => {
    const sinks = new DeferredSinks({ maxBufferedBytes: 1000 });
    const sink = sinks.open(entry('cam'));
    for (const m of [A('a0'), msg('meta1', 18, { config: true }), msg('avc1', 9, { config: true }), msg('aac', 8, { config: true }), K('k1'), P('p1'), A('a1'),
      msg('avc2', 9, { config: true }), K('k2'), A('a2'), P('p2'), msg('meta2', 18, { config: true })]) sink.push(m);
    assert.equal(sinks.waiting, 1);
    const real = recorder();
    sinks.resolve(real);
    assert.equal(sinks.waiting, 0);
    sink.push(P('p3'));
    sink.end('unpublished');
    assert.deepEqual(real.log, ['open cam', 'cam meta2', 'cam avc2', 'cam aac', 'cam k2', 'cam a2', 'cam p2', 'cam p3', 'cam end unpublished']);
    // Once resolved, a publish goes straight to the factory.
    sinks.open(entry('later')).push(K('k'));
    assert.deepEqual(real.log.slice(-2), ['open later', 'later k']);
    assert.throws(() => sinks.resolve(real), /twice/);
  });

  test('payloads are copied: a socket buffer reused after push does not change what is replayed', () => {
    const sinks = new DeferredSinks({ maxBufferedBytes: 1000 });
    const sink = sinks.open(entry('cam'));
    const m = K('k1');
    sink.push(m);
    m.payload.write('XX');
    const real = recorder();
    sinks.resolve(real);
    assert.deepEqual(real.log, ['open cam', 'cam k1']);
  });

  test('past the byte limit nothing is kept until the next keyframe; a stream that ends first never reaches the factory', () => {
    const sinks = new DeferredSinks({ maxBufferedBytes: 100 });
    const big = sinks.open(entry('big'));
    for (const m of [K('k1', 60), P('p1'), K('k2', 60), msg('p2', 9, { bytes: 50 }), P('p3')]) big.push(m);
    const gone = sinks.open(entry('gone'));
    gone.push(K('g1'));
    gone.end('disconnected');
    assert.equal(sinks.waiting, 1);
    const real = recorder();
    sinks.resolve(real);
    assert.deepEqual(real.log, ['open big'], 'k2 + p2 passed 100 bytes: p3 alone (no keyframe) is of no use');
    big.push(K('k3'));
    assert.deepEqual(real.log, ['open big', 'big k3']);
  });
});
