import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { encodeAmf0 } from '../../src/rtmp/amf0.ts';
import { ServerConnection, type ConnectionEvent, type ServerConnectionOptions } from '../../src/rtmp/server-connection.ts';
import { AAC_SEQUENCE_HEADER, aacFrame, AVC_SEQUENCE_HEADER, avcFrame, ClientBytes, clientHandshake, serverMessages } from '../support/rtmp-bytes.ts';

const OPTIONS: ServerConnectionOptions = { app: 'live', chunkSize: 4096, windowAckSize: 2_500_000, decoderLimits: {}, maxResolution: 1080 };
const HANDSHAKE = clientHandshake();

/** One event as a comparable line (media: type, timestamp, flags, size). */
function summary(e: ConnectionEvent): string {
  switch (e.type) {
    case 'media': {
      const m = e;
      return `media ${m.typeId} @${m.timestamp} ${m.keyframe ? 'K' : '-'}${m.config ? 'C' : '-'}${m.frame ? 'F' : '-'} ${m.payload.length}${m.info?.video ? ` ${m.info.video.width}x${m.info.video.height}` : ''}${m.info?.audio ? ` ${m.info.audio.sampleRate}Hz` : ''}`;
    }
    case 'publish':
      return `publish ${e.streamId} ${String(e.name)}`;
    case 'connect':
      return `connect ${e.app} ${e.tcUrl ?? '-'}`;
    case 'unpublish':
      return `unpublish ${e.live}`;
    case 'error':
      return `error ${(e.error as { code?: string }).code}`;
    default:
      return e.type;
  }
}

/**
 * Feeds `pieces` as a publisher would, accepting every publish at once as the
 * session does without authentication; returns the events and every byte sent.
 */
function run(pieces: Buffer[], options = OPTIONS, onPublish: 'accept' | 'hold' = 'accept'): { events: string[]; out: Buffer; conn: ServerConnection } {
  const conn = new ServerConnection(options);
  const events: string[] = [];
  const out: Buffer[] = [];
  for (const piece of pieces) {
    let result = conn.push(piece, 1000);
    for (;;) {
      out.push(...result.out);
      for (const e of result.events) {
        events.push(summary(e));
        if (e.type === 'publish' && onPublish === 'accept') out.push(...conn.accept(String(e.name)));
      }
      if (!result.paused) break;
      result = conn.push(Buffer.alloc(0), 1000);
    }
  }
  return { events, out: Buffer.concat(out), conn };
}

/** A publish with configuration, two GOPs of video and audio, then deleteStream. */
function publishSession(): Buffer {
  const b = new ClientBytes().publish('cam');
  b.raw(4, 18, 1, 0, encodeAmf0('@setDataFrame', 'onMetaData', { width: 160, height: 120, framerate: 25 }));
  b.raw(6, 9, 1, 0, AVC_SEQUENCE_HEADER).raw(4, 8, 1, 0, AAC_SEQUENCE_HEADER);
  for (let i = 0; i < 4; i++) b.raw(6, 9, 1, i * 40, avcFrame(i % 2 === 0)).raw(4, 8, 1, i * 23, aacFrame());
  return Buffer.concat([HANDSHAKE, b.command('FCUnpublish', 5, null, ['cam']).command('deleteStream', 6, null, [1]).bytes()]);
}

describe('ServerConnection: push(bytes) → { out, events }', () => {
  const input = publishSession();
  const whole = run([input]);

  test('a whole publish: handshake, connect, publish, classified media, unpublish', () => {
    assert.deepEqual(whole.events, [
      'handshake',
      'connect live rtmp://127.0.0.1:1935/live',
      'publish 1 cam',
      'media 18 @0 -C- 86',
      `media 9 @0 -C- ${AVC_SEQUENCE_HEADER.length} 160x120`,
      'media 8 @0 -C- 4 44100Hz',
      'media 9 @0 K-F 14',
      'media 8 @0 --F 5',
      'media 9 @40 --F 14',
      'media 8 @23 --F 5',
      'media 9 @80 K-F 14',
      'media 8 @46 --F 5',
      'media 9 @120 --F 14',
      'media 8 @69 --F 5',
      'unpublish true',
    ]);
    const { messages, commands } = serverMessages(whole.out);
    // connect: window, bandwidth, chunk size, then _result (RTMP spec 7.2.1.1).
    assert.deepEqual(messages.slice(0, 3).map((m) => m.typeId), [5, 6, 1]);
    const statuses = commands.filter((c) => c.name === 'onStatus').map((c) => (c.args[0] as { code: string }).code);
    assert.deepEqual(statuses, ['NetStream.Publish.Start', 'NetStream.Unpublish.Success']);
    assert.ok(messages.some((m) => m.typeId === 4 && m.payload.readUInt16BE(0) === 0), 'Stream Begin');
  });

  test('the same bytes split at every boundary give the same events', () => {
    for (let at = 1; at < input.length; at++) {
      const split = run([input.subarray(0, at), input.subarray(at)]);
      assert.deepEqual(split.events, whole.events, `split at ${at}`);
    }
  });

  test('byte by byte gives the same events and the same replies after S0S1S2', () => {
    const pieces = Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
    const dripped = run(pieces);
    assert.deepEqual(dripped.events, whole.events);
    assert.deepEqual(dripped.out.subarray(3073), whole.out.subarray(3073));
  });

  for (const [name, file] of [['ffmpeg', 'ffmpeg-publish.c2s.bin'], ['GStreamer rtmp2sink', 'rtmp2sink-publish.c2s.bin']]) {
    test(`a real ${name} capture: same events whole, split at every 97th boundary, and byte by byte`, () => {
      const capture = readFileSync(new URL(`../robustness/fixtures/${file}`, import.meta.url));
      const reference = run([capture]);
      assert.equal(reference.events.filter((e) => e.startsWith('publish ')).length, 1);
      assert.ok(reference.events.filter((e) => e.startsWith('media 9')).length >= 10);
      assert.equal(reference.events.at(-1), 'unpublish true');
      assert.ok(!reference.events.some((e) => e.startsWith('error')));
      for (let at = 1; at < capture.length; at += 97) {
        assert.deepEqual(run([capture.subarray(0, at), capture.subarray(at)]).events, reference.events, `split at ${at}`);
      }
      assert.deepEqual(run(Array.from({ length: capture.length }, (_, i) => capture.subarray(i, i + 1))).events, reference.events);
    });
  }

  test('with a media callback, media is taken during push, in the same order, and never as events', () => {
    const conn = new ServerConnection(OPTIONS, (m) => seen.push(summary(m)));
    const seen: string[] = [];
    let result = conn.push(input, 1000);
    for (;;) {
      for (const e of result.events) {
        assert.notEqual(e.type, 'media');
        seen.push(summary(e));
        if (e.type === 'publish') conn.accept('cam');
      }
      if (!result.paused) break;
      result = conn.push(Buffer.alloc(0), 1000);
    }
    assert.deepEqual(seen, whole.events);
  });

  test('it stops at a publish request until answered; held, the media is dropped and deleteStream withdraws it', () => {
    const conn = new ServerConnection(OPTIONS);
    const first = conn.push(Buffer.concat([HANDSHAKE, new ClientBytes().publish('k').raw(6, 9, 1, 0, AVC_SEQUENCE_HEADER).bytes()]), 0);
    assert.equal(first.events.at(-1)?.type, 'publish');
    assert.equal(first.paused, true);
    // Not accepted (authentication pending): the rest is read, the media dropped.
    const rest = conn.push(Buffer.alloc(0), 0);
    assert.deepEqual(rest.events, []);
    assert.equal(rest.paused, false);
    const withdrawn = conn.push(new ClientBytes().raw(3, 20, 0, 0, encodeAmf0('deleteStream', 3, null, 1)).bytes(), 0);
    assert.deepEqual(withdrawn.events.map(summary), ['unpublish false']);
    assert.equal(serverMessages(Buffer.concat([Buffer.alloc(3073), ...withdrawn.out])).commands.length, 0, 'no Unpublish.Success for a publish never accepted');
  });

  test('Ping Request: Ping Response with the same timestamp (RTMP spec 7.1.7)', () => {
    const { out } = run([HANDSHAKE, new ClientBytes().raw(2, 4, 0, 0, Buffer.from('000600001234', 'hex')).bytes()]);
    const pong = serverMessages(out).messages.find((m) => m.typeId === 4)!;
    assert.equal(pong.payload.toString('hex'), '000700001234');
  });

  test('acknowledgements follow the peer window (RTMP spec 5.4.3)', () => {
    const b = new ClientBytes().raw(2, 5, 0, 0, Buffer.from('00000400', 'hex'));
    for (let i = 0; i < 4; i++) b.raw(3, 20, 0, 0, encodeAmf0('_checkbw', 0, null, 'x'.repeat(300)));
    const acks = serverMessages(run([HANDSHAKE, b.bytes()]).out).messages.filter((m) => m.typeId === 3);
    assert.equal(acks.length, 0, 'the window applies from the next read: the read that sets it is not acknowledged');
    const dripped = run([HANDSHAKE, ...b.bytes().toString('hex').match(/.{1,200}/g)!.map((h) => Buffer.from(h, 'hex'))]);
    const ack = serverMessages(dripped.out).messages.find((m) => m.typeId === 3);
    assert.ok(ack !== undefined && ack.payload.readUInt32BE(0) >= 1024, 'an ack once 1024 bytes are in');
  });

  const refusals: [string, Buffer, string, RegExp][] = [
    ['publish before connect', new ClientBytes().command('publish', 0, null, ['k'], 1).bytes(), 'ERR_RTMP_COMMAND', /before connect/],
    ['publish on a stream createStream did not return', new ClientBytes().command('connect', 1, { app: 'live' }).command('publish', 0, null, ['k'], 7).bytes(), 'ERR_RTMP_COMMAND', /message stream 7/],
    ['connect to another application', new ClientBytes().command('connect', 1, { app: 'vod' }).bytes(), 'ERR_RTMP_APP_REJECTED', /'vod' refused/],
    ['Enhanced RTMP VP9', new ClientBytes().publish('k').raw(6, 9, 1, 0, Buffer.concat([Buffer.from([0x90]), Buffer.from('vp09'), Buffer.alloc(23)])).bytes(), 'ERR_MEDIA_UNSUPPORTED', /vp9 \(Enhanced RTMP FourCC 'vp09'\)/],
    ['a short Acknowledgement', new ClientBytes().raw(2, 3, 0, 0, Buffer.alloc(2)).bytes(), 'ERR_RTMP_PROTOCOL', /Acknowledgement/],
    ['Set Chunk Size 0', new ClientBytes().raw(2, 1, 0, 0, Buffer.alloc(4)).bytes(), 'ERR_RTMP_CHUNK_SIZE', /Set Chunk Size 0/],
  ];
  for (const [name, bytes, code, message] of refusals) {
    test(`refused: ${name}; nothing is read after the error`, () => {
      const conn = new ServerConnection(OPTIONS);
      const events: ConnectionEvent[] = [];
      let result = conn.push(Buffer.concat([HANDSHAKE, bytes]), 0);
      events.push(...result.events);
      if (result.paused) {
        const publish = result.events.at(-1)!;
        assert.equal(publish.type, 'publish');
        conn.accept('k');
        result = conn.push(Buffer.alloc(0), 0);
        events.push(...result.events);
      }
      const error = events.at(-1);
      assert.equal(error?.type, 'error');
      assert.equal((error as { error: { code: string } }).error.code, code);
      assert.match((error as { error: Error }).error.message, message);
      assert.deepEqual(conn.push(new ClientBytes().raw(2, 4, 0, 0, Buffer.from('000600000001', 'hex')).bytes(), 0), { out: [], events: [], messages: 0, paused: false });
    });
  }

  test('a connect refusal is answered with _error for its transaction before the error', () => {
    const { out, events } = run([HANDSHAKE, new ClientBytes().command('connect', 1, { app: 'vod' }).bytes()]);
    assert.deepEqual(events, ['handshake', 'error ERR_RTMP_APP_REJECTED']);
    const [reply] = serverMessages(out).commands;
    assert.equal(reply?.name, '_error');
    assert.equal((reply!.args[0] as { code: string }).code, 'NetConnection.Connect.Rejected');
  });
});
