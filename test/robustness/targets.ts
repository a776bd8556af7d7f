/**
 * Fuzz targets of the protocol core and the session, each with the invariants
 * it must keep on any input: only our typed errors (ProxyRtmpError with the
 * layer's ERR_ prefix), bounded memory, and an oracle where one exists. Used
 * by fuzz.test.ts for the seeded runs and to replay the crasher fixtures.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { DEFAULT_CONFIG, parseResolution } from '../../src/config/index.ts';
import { ProxyRtmpError } from '../../src/errors.ts';
import { RtmpSession, type SessionOptions } from '../../src/ingest/session.ts';
import { parseAudioSpecificConfig } from '../../src/media/aac.ts';
import { parseAvcDecoderConfig } from '../../src/media/avc.ts';
import { parseAudioTag, parseVideoTag } from '../../src/media/flv-tag.ts';
import type { MediaMessage } from '../../src/media/media-message.ts';
import { decodeAmf0, encodeAmf0, type AmfValue } from '../../src/rtmp/amf0.ts';
import { ChunkDecoder, DEFAULT_CHUNK_LIMITS, type ChunkDecoderLimits, type RawMessage } from '../../src/rtmp/chunk-decoder.ts';
import { ChunkEncoder } from '../../src/rtmp/chunk-encoder.ts';
import { decodeCommand, decodeData } from '../../src/rtmp/command.ts';
import { decodeControl } from '../../src/rtmp/control.ts';
import { ServerConnection, type ServerConnectionOptions } from '../../src/rtmp/server-connection.ts';
import { digestOffset, findClientDigest, HANDSHAKE_SIZE, packetDigest, ServerHandshake } from '../../src/rtmp/handshake.ts';
import { StreamRegistry } from '../../src/streams/registry.ts';
import { GopFeed } from '../../src/transcode/gop-feed.ts';
import { MemorySocket } from '../support/memory-socket.ts';

/** C0 + C1 + C2. */
export const HANDSHAKE_BYTES = 1 + 2 * HANDSHAKE_SIZE;

// ---------------------------------------------------------------------------
// Seed corpus: what ffmpeg and GStreamer rtmp2sink really sent (record-capture.ts).

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

/** Whole client→server captures: ffmpeg (digest C1) and rtmp2sink (plain C1). */
export const CAPTURES: readonly Buffer[] = [fixture('ffmpeg-publish.c2s.bin'), fixture('rtmp2sink-publish.c2s.bin')];
/** The chunk streams of the captures (after C2). */
export const CHUNK_STREAMS: readonly Buffer[] = CAPTURES.map((c) => c.subarray(HANDSHAKE_BYTES));
/** Every message of the captures, decoded once. */
export const CAPTURED_MESSAGES: readonly (readonly RawMessage[])[] = CHUNK_STREAMS.map((s) => new ChunkDecoder().push(s));
const all = CAPTURED_MESSAGES.flat();
/** Command (20) and data (18) bodies: connect, releaseStream, FCPublish, createStream, publish, onMetaData, … */
export const AMF_BODIES: readonly Buffer[] = all.filter((m) => m.typeId === 20 || m.typeId === 18).map((m) => m.payload);
/** Video (9) tag bodies, sequence headers included. */
export const VIDEO_TAGS: readonly Buffer[] = all.filter((m) => m.typeId === 9).map((m) => m.payload);
/** Audio (8) tag bodies, sequence headers included. */
export const AUDIO_TAGS: readonly Buffer[] = all.filter((m) => m.typeId === 8).map((m) => m.payload);

// ---------------------------------------------------------------------------
// Mutations (bit flips, byte sets, truncation, deletion, repeated slices such as
// repeated chunk headers, random insertions, splices from another input).

/** One edit; positions are taken modulo the current length. */
export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'cut'; at: number }
  | { op: 'delete'; at: number; length: number }
  | { op: 'repeat'; at: number; length: number; times: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'splice'; at: number; source: number; from: number; length: number };

/** Applies `mutations` to a copy of `input`, only inside `[from, end)`; `donors` feed splices. */
export function mutate(input: Buffer, mutations: readonly Mutation[], donors: readonly Buffer[], from = 0): Buffer {
  const head = input.subarray(0, from);
  let b = Buffer.from(input.subarray(from));
  for (const m of mutations) {
    if (b.length === 0 && m.op !== 'insert' && m.op !== 'splice') continue;
    const at = b.length === 0 ? 0 : m.at % b.length;
    switch (m.op) {
      case 'flip':
        b[at] = b[at]! ^ (1 << (m.bit & 7));
        break;
      case 'set':
        b[at] = m.value & 0xff;
        break;
      case 'cut':
        b = b.subarray(0, at);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      case 'repeat': {
        const slice = b.subarray(at, at + m.length);
        b = Buffer.concat([b.subarray(0, at), ...Array.from({ length: Math.min(m.times, 8) + 1 }, () => slice), b.subarray(at + m.length)]);
        break;
      }
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
        break;
      case 'splice': {
        const donor = donors[m.source % donors.length]!;
        const start = donor.length === 0 ? 0 : m.from % donor.length;
        b = Buffer.concat([b.subarray(0, at), donor.subarray(start, start + m.length), b.subarray(at)]);
        break;
      }
    }
  }
  return Buffer.concat([head, b]);
}

/** Cuts `input` into pieces whose sizes cycle through `sizes` (how a socket might deliver it). */
export function pieces(input: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0, i = 0; offset < input.length; i++) {
    const n = Math.max(1, sizes.length === 0 ? input.length : sizes[i % sizes.length]!);
    out.push(input.subarray(offset, offset + n));
    offset += n;
  }
  return out;
}

/** Rethrows anything that is not one of ours with one of the allowed code prefixes. */
export function expectTyped(err: unknown, prefixes: readonly string[], what: string): void {
  if (err instanceof ProxyRtmpError && prefixes.some((p) => err.code.startsWith(p))) return;
  const detail = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err);
  assert.fail(`${what} threw something other than ${prefixes.join('/')}*: ${detail}`);
}

// ---------------------------------------------------------------------------
// Handshake (RTMP spec 5.2).

const TAIL = Buffer.from('f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae', 'hex');
const SERVER_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Media Server 001'), TAIL]);

/**
 * Feeds `input` to a ServerHandshake in `sizes`-sized pieces. Invariants: only
 * ERR_RTMP_HANDSHAKE_VERSION, and only when C0 is not 3; exactly one 3073-byte
 * reply once C0C1 are in; done exactly when C2 is complete, with every later
 * byte handed back; S2 echoes a plain C1 or carries a valid signature for a
 * digest C1 (the oracle is computed independently of the state machine).
 */
export function fuzzHandshake(input: Buffer, sizes: readonly number[]): void {
  const hs = new ServerHandshake(() => 0x01020304);
  const replies: Buffer[] = [];
  const rest: Buffer[] = [];
  let done = false;
  let fed = 0;
  try {
    for (const piece of pieces(input, sizes)) {
      const step = hs.push(piece);
      fed += piece.length;
      if (step.reply) replies.push(step.reply);
      if (step.rest) rest.push(step.rest);
      done = step.done;
      if (done) {
        // The session hands what follows C2 to the chunk decoder; so do we.
        rest.push(input.subarray(fed));
        break;
      }
    }
  } catch (err) {
    expectTyped(err, ['ERR_RTMP_HANDSHAKE_VERSION'], 'ServerHandshake.push');
    assert.notEqual(input[0], 3, 'only a C0 other than 3 is refused');
    return;
  }
  if (input.length > 0) assert.equal(input[0], 3, 'a C0 other than 3 must be refused');
  assert.equal(replies.length, input.length >= 1 + HANDSHAKE_SIZE ? 1 : 0, 'one reply once C0C1 are in');
  assert.equal(done, input.length >= HANDSHAKE_BYTES, 'done exactly when C2 is complete');
  if (done) assert.deepEqual(Buffer.concat(rest), input.subarray(HANDSHAKE_BYTES), 'bytes after C2 come back');
  const reply = replies[0];
  if (reply === undefined) return;
  assert.equal(reply.length, HANDSHAKE_BYTES);
  assert.equal(reply[0], 3);
  const c1 = input.subarray(1, 1 + HANDSHAKE_SIZE);
  const s1 = reply.subarray(1, 1 + HANDSHAKE_SIZE);
  const s2 = reply.subarray(1 + HANDSHAKE_SIZE);
  const client = findClientDigest(c1);
  if (client === undefined) {
    assert.deepEqual(s2.subarray(8), c1.subarray(8), 'plain C1: S2 echoes it');
    assert.equal(s1.readUInt32BE(4), 0);
  } else {
    const offset = digestOffset(s1, client.scheme);
    assert.deepEqual(s1.subarray(offset, offset + 32), packetDigest(s1, offset, SERVER_KEY.subarray(0, 36)), 'S1 digest');
    const key = createHmac('sha256', SERVER_KEY).update(client.digest).digest();
    const signature = createHmac('sha256', key).update(s2.subarray(0, HANDSHAKE_SIZE - 32)).digest();
    assert.deepEqual(s2.subarray(HANDSHAKE_SIZE - 32), signature, 'S2 signature');
  }
}

// ---------------------------------------------------------------------------
// Chunk stream (RTMP spec 5.3) and the protocol control bodies it carries.

/** The limits the server runs with by default, and a tight set that makes every cap reachable. */
export const LIMIT_PROFILES: readonly Readonly<ChunkDecoderLimits>[] = [
  {
    maxChunkSize: DEFAULT_CONFIG.rtmp.maxIncomingChunkSize,
    maxMessageSize: DEFAULT_CONFIG.rtmp.maxMessageSize,
    maxChunkStreams: DEFAULT_CONFIG.rtmp.maxChunkStreams,
    maxBufferedBytes: DEFAULT_CONFIG.rtmp.maxBufferedBytes,
  },
  { maxChunkSize: 65536, maxMessageSize: 8192, maxChunkStreams: 4, maxBufferedBytes: 12288 },
  DEFAULT_CHUNK_LIMITS,
];

/**
 * Feeds a chunk stream to a ChunkDecoder. Invariants: only ERR_RTMP_* errors;
 * after every push the bytes reserved for partial messages stay within the
 * cap; every message is within maxMessageSize; the payload bytes handed out
 * never exceed the bytes fed in (no amplification); control bodies decode or
 * throw ERR_RTMP_PROTOCOL. Returns the messages (for oracles).
 */
export function fuzzChunkDecoder(input: Buffer, sizes: readonly number[], limits: Readonly<ChunkDecoderLimits>): RawMessage[] {
  const decoder = new ChunkDecoder(limits);
  const out: RawMessage[] = [];
  let fed = 0;
  let handed = 0;
  try {
    for (const piece of pieces(input, sizes)) {
      fed += piece.length;
      for (const m of decoder.push(piece)) {
        out.push(m);
        handed += m.payload.length;
        assert.ok(m.payload.length <= limits.maxMessageSize, `message of ${m.payload.length} bytes`);
        try {
          decodeControl(m.typeId, m.payload);
        } catch (err) {
          expectTyped(err, ['ERR_RTMP_PROTOCOL'], 'decodeControl');
        }
      }
      assert.ok(decoder.bufferedBytes >= 0 && decoder.bufferedBytes <= limits.maxBufferedBytes, `buffered ${decoder.bufferedBytes}`);
      assert.ok(handed <= fed, `handed out ${handed} payload bytes from ${fed} input bytes`);
    }
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    expectTyped(err, ['ERR_RTMP_'], 'ChunkDecoder.push');
  }
  return out;
}

// ---------------------------------------------------------------------------
// AMF0 and the command / data layer above it.

/** decodeAmf0, decodeCommand and decodeData: ERR_AMF0_* or ERR_RTMP_COMMAND only. */
export function fuzzAmf0(body: Buffer): void {
  for (const typeId of [20, 17, 18, 15]) {
    try {
      if (typeId === 20 || typeId === 17) decodeCommand(typeId, body);
      else decodeData(typeId, body);
    } catch (err) {
      expectTyped(err, ['ERR_AMF0_', 'ERR_RTMP_COMMAND'], `decode type ${typeId}`);
    }
  }
  try {
    decodeAmf0(body, { maxDepth: 8, maxEntries: 64 });
  } catch (err) {
    expectTyped(err, ['ERR_AMF0_'], 'decodeAmf0 with tight limits');
  }
}

// ---------------------------------------------------------------------------
// FLV tag bodies, as the session parses them.

/** parseVideoTag/parseAudioTag and the configuration records behind them: ERR_MEDIA_* only. */
export function fuzzFlvTag(typeId: 8 | 9, body: Buffer): void {
  try {
    if (typeId === 9) {
      const tag = parseVideoTag(body);
      assert.ok(Buffer.isBuffer(tag.payload), 'the tag payload is a Buffer');
      if (tag.codec === 'h264' && tag.packet === 'sequence-start') {
        const v = parseAvcDecoderConfig(tag.payload);
        assert.ok(Number.isInteger(v.width) && v.width > 0 && Number.isInteger(v.height) && v.height > 0, `AVC ${v.width}x${v.height}`);
      }
    } else {
      const tag = parseAudioTag(body);
      assert.ok(Buffer.isBuffer(tag.payload), 'the tag payload is a Buffer');
      if (!tag.enhanced && tag.codec === 'aac' && tag.packet === 'sequence-header') {
        const a = parseAudioSpecificConfig(tag.payload);
        assert.ok(Number.isInteger(a.sampleRate) && a.sampleRate > 0, `AAC at ${a.sampleRate} Hz`);
      }
    }
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    expectTyped(err, ['ERR_MEDIA_'], typeId === 9 ? 'video tag' : 'audio tag');
  }
}

// ---------------------------------------------------------------------------
// The whole session (handshake → chunks → commands → media → GOP feed), over
// an in-memory socket.

/**
 * The session settings app.ts derives from the default configuration, except
 * the decoder's caps: the tight profile keeps thousands of refused sessions
 * that wait out their close grace from reserving 32 MiB each (the default
 * caps are fuzzed on the decoder itself).
 */
const SESSION_OPTIONS: SessionOptions = {
  app: DEFAULT_CONFIG.rtmp.app,
  chunkSize: DEFAULT_CONFIG.rtmp.chunkSize,
  windowAckSize: DEFAULT_CONFIG.rtmp.windowAckSize,
  handshakeTimeoutMs: DEFAULT_CONFIG.rtmp.handshakeTimeoutMs,
  idleTimeoutMs: DEFAULT_CONFIG.rtmp.idleTimeoutMs,
  decoderLimits: { ...LIMIT_PROFILES[0]!, maxMessageSize: 256 * 1024, maxBufferedBytes: 1024 * 1024 },
  maxBitrateBps: DEFAULT_CONFIG.limits.maxBitrateMbps * 1e6,
  bitrateWindowMs: DEFAULT_CONFIG.limits.bitrateWindowMs,
  maxResolution: parseResolution(DEFAULT_CONFIG.limits.maxResolution),
};

/** Error-level log lines: the session logs an error only for a failure that is not one of ours (a 500) or a throwing listener. */
const errorLines: string[] = [];
const sessionLog = pino({ level: 'error' }, { write: (line: string) => void errorLines.push(line) });
let sessionIds = 0;

/**
 * Runs one session over `input` (delivered in `sizes` pieces), then closes the
 * socket. Invariants: nothing reaches the error log (an error that is not one
 * of our typed ones is logged as a 500), the key is free once the socket
 * closed, and what the server writes stays within a small multiple of what it
 * read (no amplification).
 */
export function fuzzSession(input: Buffer, sizes: readonly number[]): void {
  const socket = new MemorySocket();
  const feed = new GopFeed({ maxBacklogBytes: 1 << 20 });
  const sinks = { open: () => ({ push: (message: MediaMessage) => void feed.push(message, 0), end() {} }) };
  const registry = new StreamRegistry({ maxStreams: 2, bitrateWindowMs: SESSION_OPTIONS.bitrateWindowMs, sinks });
  new RtmpSession(++sessionIds, socket.socket, SESSION_OPTIONS, registry, sessionLog);
  errorLines.length = 0;
  for (const piece of pieces(input, sizes)) {
    if (socket.paused || socket.destroyed) break;
    socket.emit('data', piece);
  }
  socket.destroy();
  assert.deepEqual(errorLines, [], 'the session logged an internal error');
  assert.equal(registry.size, 0, 'the key is free after close');
  assert.ok(socket.written <= HANDSHAKE_BYTES + 4 * input.length + 4096, `wrote ${socket.written} bytes for ${input.length} read`);
}

// ---------------------------------------------------------------------------
// Structure-aware edits of the captured message sequence, re-chunked validly,
// so the session's command and media handling sees hostile content.

/** One message-level edit. */
export type MessageEdit =
  | { op: 'args'; at: number; args: AmfValue[] }
  | { op: 'type'; at: number; typeId: number }
  | { op: 'stream'; at: number; streamId: number }
  | { op: 'time'; at: number; timestamp: number }
  | { op: 'drop'; at: number }
  | { op: 'dup'; at: number }
  | { op: 'swap'; at: number; with: number }
  | { op: 'chunk'; at: number; size: number };

/** Applies edits to a captured message list and re-encodes it (after the capture's own handshake). */
export function editMessages(capture: number, edits: readonly MessageEdit[]): Buffer {
  const list: RawMessage[] = CAPTURED_MESSAGES[capture % CAPTURED_MESSAGES.length]!.map((m) => ({ ...m }));
  for (const e of edits) {
    if (list.length === 0) break;
    // Argument edits pick among the commands and data messages, the rest among all.
    const amf = list.filter((m) => m.typeId === 20 || m.typeId === 18);
    const m = e.op === 'args' && amf.length > 0 ? amf[e.at % amf.length]! : list[e.at % list.length]!;
    const i = list.indexOf(m);
    switch (e.op) {
      case 'args':
        if (m.typeId === 20 || m.typeId === 18) {
          try {
            const [name, txid] = decodeAmf0(m.payload);
            m.payload = m.typeId === 20 ? encodeAmf0(name, txid ?? 0, null, ...e.args) : encodeAmf0(name, ...e.args);
          } catch {
            m.payload = encodeAmf0(...e.args);
          }
        }
        break;
      case 'type':
        m.typeId = e.typeId;
        break;
      case 'stream':
        m.streamId = e.streamId;
        break;
      case 'time':
        m.timestamp = e.timestamp;
        break;
      case 'drop':
        list.splice(i, 1);
        break;
      case 'dup':
        list.splice(i, 0, { ...m });
        break;
      case 'swap': {
        const j = e.with % list.length;
        [list[i], list[j]] = [list[j]!, list[i]!];
        break;
      }
      case 'chunk': {
        const body = Buffer.alloc(4);
        body.writeUInt32BE(e.size);
        list.splice(i, 0, { csid: 2, typeId: 1, streamId: 0, timestamp: 0, payload: body });
        break;
      }
    }
  }
  const encoder = new ChunkEncoder();
  const parts = [CAPTURES[capture % CAPTURES.length]!.subarray(0, HANDSHAKE_BYTES)];
  for (const m of list) {
    parts.push(encoder.encode({ ...m, csid: Math.max(2, m.csid) }));
    // Set Chunk Size changes how everything after it is chunked (RTMP spec 5.4.1).
    if (m.typeId === 1 && m.payload.length >= 4) {
      const size = m.payload.readUInt32BE(0);
      if (size >= 1 && size <= 0x7fffffff) encoder.setChunkSize(size);
    }
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------
// The pure server connection (handshake → chunks → commands → media), fed bytes directly.

/** Errors a connection may report: protocol, AMF, media and the resolution limit. */
const CONNECTION_ERRORS = ['ERR_RTMP_', 'ERR_AMF0_', 'ERR_MEDIA_', 'ERR_RESOLUTION_LIMIT'] as const;

/**
 * Feeds `input` to a ServerConnection in `sizes` pieces, accepting publishes
 * at once (`accept`) or holding them, as authentication would, with media as
 * events or (`direct`) through the media callback. Invariants: an
 * error event carries one of our typed errors, comes last, and nothing is read
 * after it; handshake comes first, connect before publish, media only while a
 * publish is accepted; what is sent stays within a small multiple of what was
 * read. Returns a summary of the events (for oracles).
 */
export function fuzzConnection(input: Buffer, sizes: readonly number[], accept = true, direct = false): string[] {
  const events: string[] = [];
  // With `direct`, media comes through the callback the session uses, during push; else as events.
  const onMedia = (m: MediaMessage) => {
    assert.ok(live && !failed, 'media only while a publish is accepted');
    events.push(`media ${m.typeId} ${m.timestamp} ${m.payload.length}`);
  };
  const conn = new ServerConnection(CONNECTION_OPTIONS, direct ? onMedia : undefined);
  let written = 0;
  let failed = false;
  let live = false;
  let connected = false;
  for (const piece of pieces(input, sizes)) {
    let result = conn.push(piece, 0);
    for (;;) {
      if (failed) {
        assert.deepEqual([result.out.length, result.events.length], [0, 0], 'nothing after an error');
        break;
      }
      for (const bytes of result.out) written += bytes.length;
      for (const e of result.events) {
        assert.ok(!failed, 'an error is the last event');
        switch (e.type) {
          case 'handshake':
            assert.equal(events.length, 0, 'handshake first');
            break;
          case 'connect':
            connected = true;
            break;
          case 'publish':
            assert.ok(connected && !live, 'publish after connect, not while publishing');
            if (accept) {
              for (const bytes of conn.accept('k')) written += bytes.length;
              live = true;
            }
            break;
          case 'media':
            assert.ok(!direct && live, 'media only while a publish is accepted, and not as an event when a callback takes it');
            break;
          case 'unpublish':
            assert.equal(e.live, live);
            live = false;
            break;
          case 'error':
            expectTyped(e.error, CONNECTION_ERRORS, 'ServerConnection.push');
            failed = true;
            break;
        }
        events.push(e.type === 'media' ? `media ${e.typeId} ${e.timestamp} ${e.payload.length}` : e.type === 'error' ? `error ${(e.error as { code: string }).code}` : e.type);
      }
      if (!result.paused) break;
      result = conn.push(Buffer.alloc(0), 0);
    }
  }
  assert.ok(written <= HANDSHAKE_BYTES + 4 * input.length + 4096, `wrote ${written} bytes for ${input.length} read`);
  return events;
}

const CONNECTION_OPTIONS: ServerConnectionOptions = {
  app: SESSION_OPTIONS.app,
  chunkSize: SESSION_OPTIONS.chunkSize,
  windowAckSize: SESSION_OPTIONS.windowAckSize,
  decoderLimits: SESSION_OPTIONS.decoderLimits,
  maxResolution: SESSION_OPTIONS.maxResolution,
};
