import {
  BufferLimitError,
  ChunkHeaderError,
  ChunkSizeError,
  MessageTooLargeError,
  TooManyChunkStreamsError,
} from '../errors.ts';
import { MessageType } from './message-types.ts';
import { decodeAbort } from './messages/abort.ts';
import { decodeSetChunkSize } from './messages/set-chunk-size.ts';

/** A whole RTMP message reassembled from its chunks (RTMP spec 5.3.1, 6.1). */
export interface RawMessage {
  /** Chunk stream it arrived on. */
  csid: number;
  typeId: number;
  /** Message stream id (little-endian on the wire, RTMP spec 5.3.1.2.1). */
  streamId: number;
  /** Absolute timestamp in ms, modulo 2^32 (RTMP spec 5.3.1.3). */
  timestamp: number;
  payload: Buffer;
}

/** Limits the decoder enforces while parsing; all are per connection. */
export interface ChunkDecoderLimits {
  /** Largest Set Chunk Size accepted from the peer (the spec allows up to 2^31-1). */
  maxChunkSize: number;
  /** Largest message length accepted (the header field is 24-bit). */
  maxMessageSize: number;
  /** Distinct chunk stream ids the peer may open. */
  maxChunkStreams: number;
  /** Bytes reserved by messages still being assembled. */
  maxBufferedBytes: number;
}

/** Defaults: 16 MiB - 1 messages, 64 chunk streams, 32 MiB in flight. */
export const DEFAULT_CHUNK_LIMITS: Readonly<ChunkDecoderLimits> = Object.freeze({
  maxChunkSize: 0xffffff,
  maxMessageSize: 0xffffff,
  maxChunkStreams: 64,
  maxBufferedBytes: 32 * 1024 * 1024,
});

/** Initial chunk size before any Set Chunk Size (RTMP spec 5.4.1). */
export const DEFAULT_CHUNK_SIZE = 128;
const EXTENDED = 0xffffff;
const MESSAGE_HEADER_LENGTH = [11, 7, 3, 0] as const;
/**
 * Messages that span chunks are reassembled in slices of a per-decoder slab
 * rather than one allocation each: far fewer ArrayBuffers, hence fewer
 * external-memory GCs. A slice keeps its whole slab alive, so only messages up
 * to SLAB_MESSAGE_MAX use it; larger ones get their own buffer.
 */
const SLAB_SIZE = 64 * 1024;
const SLAB_MESSAGE_MAX = 16 * 1024;
const EMPTY = Buffer.alloc(0);

/** Per chunk stream state: the last header seen and the message being assembled. */
interface ChunkStream {
  csid: number;
  timestamp: number;
  /** The last timestamp field (absolute for type 0, delta otherwise), reused by type 3. */
  delta: number;
  length: number;
  typeId: number;
  streamId: number;
  /** Whether the last header carried an extended timestamp, and its value. */
  extended: boolean;
  extendedValue: number;
  /** Message under assembly; undefined between messages. */
  payload: Buffer | undefined;
  received: number;
}

const enum State {
  BasicHeader,
  MessageHeader,
  ExtendedTimestamp,
  Payload,
}

/**
 * Incremental RTMP chunk stream decoder (RTMP spec 5.3): `push(bytes)` returns
 * the messages completed by those bytes. Pure: no socket, no timers. Chunk
 * types 0-3, 1-3 byte basic headers, extended timestamps (type 3 chunks with or
 * without the repeated field), Set Chunk Size and Abort are applied here since
 * they change how the following bytes parse. The output does not depend on how
 * the input is split. After a thrown error the decoder must be discarded.
 */
export class ChunkDecoder {
  #limits: ChunkDecoderLimits;
  #chunkSize = DEFAULT_CHUNK_SIZE;
  #streams = new Map<number, ChunkStream>();
  #buffered = 0;

  // Byte queue: the unconsumed input; #offset bytes of #queue[0] are consumed.
  #queue: Buffer[] = [];
  #offset = 0;
  #queued = 0;
  /** Header bytes that straddle two input buffers are gathered here. */
  readonly #scratch = Buffer.allocUnsafe(16);
  /** Where #contiguous() left its bytes: a buffer and a position in it. */
  #hb: Buffer = EMPTY;
  #hp = 0;
  #slab: Buffer | undefined;
  #slabUsed = 0;

  #state = State.BasicHeader;
  #fmt = 0;
  #csid = 0;
  #current: ChunkStream | undefined;
  /** Bytes left in the chunk being read; -1 before its payload starts. */
  #chunkLeft = -1;

  constructor(limits: Partial<ChunkDecoderLimits> = {}) {
    this.#limits = { ...DEFAULT_CHUNK_LIMITS, ...limits };
  }

  /** The peer's current chunk size. */
  get chunkSize(): number {
    return this.#chunkSize;
  }

  /** Bytes reserved by messages still being assembled. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Feeds bytes; returns every message they complete, in order. */
  push(data: Buffer): RawMessage[] {
    if (data.length > 0) {
      this.#queue.push(data);
      this.#queued += data.length;
    }
    const out: RawMessage[] = [];
    for (;;) {
      switch (this.#state) {
        case State.BasicHeader:
          if (!this.#readBasicHeader()) return out;
          break;
        case State.MessageHeader:
          if (!this.#readMessageHeader()) return out;
          break;
        case State.ExtendedTimestamp:
          if (!this.#readExtendedTimestamp()) return out;
          break;
        case State.Payload: {
          const message = this.#readPayload();
          if (message === null) return out;
          if (message !== undefined) out.push(message);
          break;
        }
      }
    }
  }

  #readBasicHeader(): boolean {
    if (this.#queued < 1) return false;
    const first = this.#byte(0);
    const low = first & 0x3f;
    const size = low === 0 ? 2 : low === 1 ? 3 : 1;
    if (this.#queued < size) return false;
    this.#fmt = first >> 6;
    // RTMP spec 5.3.1.1: ids 64-319 in one extra byte, 64-65599 in two (little-endian).
    this.#csid = low === 0 ? this.#byte(1) + 64 : low === 1 ? this.#byte(1) + this.#byte(2) * 256 + 64 : low;
    this.#skip(size);
    this.#state = State.MessageHeader;
    return true;
  }

  #readMessageHeader(): boolean {
    const fmt = this.#fmt;
    const length = MESSAGE_HEADER_LENGTH[fmt as 0 | 1 | 2 | 3];
    if (this.#queued < length) return false;
    let stream = this.#streams.get(this.#csid);
    if (stream === undefined) {
      if (fmt !== 0) {
        throw new ChunkHeaderError(
          `RTMP chunk: type ${fmt} chunk on chunk stream ${this.#csid}, which has no previous header`,
        );
      }
      if (this.#streams.size >= this.#limits.maxChunkStreams) {
        throw new TooManyChunkStreamsError(
          `RTMP chunk: more than ${this.#limits.maxChunkStreams} chunk streams on one connection`,
        );
      }
      stream = {
        csid: this.#csid,
        timestamp: 0,
        delta: 0,
        length: 0,
        typeId: 0,
        streamId: 0,
        extended: false,
        extendedValue: 0,
        payload: undefined,
        received: 0,
      };
      this.#streams.set(this.#csid, stream);
    }
    this.#current = stream;
    if (fmt === 3) {
      this.#state = stream.extended ? State.ExtendedTimestamp : State.Payload;
      if (!stream.extended && stream.payload === undefined) this.#applyDelta(stream, stream.delta);
      return true;
    }
    // A new header while a message is half-assembled: the sender gave up on it.
    this.#dropPayload(stream);
    this.#contiguous(length);
    const h = this.#hb;
    const p = this.#hp;
    const field = (h[p]! << 16) | (h[p + 1]! << 8) | h[p + 2]!;
    if (fmt <= 1) {
      stream.length = (h[p + 3]! << 16) | (h[p + 4]! << 8) | h[p + 5]!;
      stream.typeId = h[p + 6]!;
    }
    if (fmt === 0) stream.streamId = h.readUInt32LE(p + 7);
    this.#skip(length);
    stream.extended = field === EXTENDED;
    if (stream.extended) {
      this.#state = State.ExtendedTimestamp;
      return true;
    }
    this.#applyTimestampField(stream, fmt, field);
    this.#state = State.Payload;
    return true;
  }

  #readExtendedTimestamp(): boolean {
    if (this.#queued < 4) return false;
    const stream = this.#current!;
    this.#contiguous(4);
    const value = this.#hb.readUInt32BE(this.#hp);
    if (this.#fmt === 3) {
      // RTMP spec 5.3.1.3 says type 3 chunks repeat the extended timestamp; some
      // encoders omit it. Take the four bytes as the field only when they match
      // the value the stream's last header carried; else they are payload.
      if (value === stream.extendedValue) this.#skip(4);
      if (stream.payload === undefined) this.#applyDelta(stream, stream.delta);
      this.#state = State.Payload;
      return true;
    }
    this.#skip(4);
    stream.extendedValue = value;
    this.#applyTimestampField(stream, this.#fmt, value);
    this.#state = State.Payload;
    return true;
  }

  #applyTimestampField(stream: ChunkStream, fmt: number, value: number): void {
    stream.delta = value;
    if (fmt === 0) stream.timestamp = value;
    else this.#applyDelta(stream, value);
  }

  #applyDelta(stream: ChunkStream, delta: number): void {
    stream.timestamp = (stream.timestamp + delta) >>> 0;
  }

  /** Returns a message, undefined for a chunk that did not finish one, null when starved. */
  #readPayload(): RawMessage | undefined | null {
    const stream = this.#current!;
    if (this.#chunkLeft < 0) {
      if (stream.payload === undefined) {
        const length = stream.length;
        if (length > this.#limits.maxMessageSize) {
          throw new MessageTooLargeError(
            `RTMP chunk: message of ${length} bytes (type ${stream.typeId}) exceeds the ${this.#limits.maxMessageSize}-byte limit`,
          );
        }
        if (length === 0) {
          this.#state = State.BasicHeader;
          return this.#finishMessage(stream, EMPTY);
        }
        // Nothing is reserved before the first payload byte arrives.
        if (this.#queued === 0) return null;
        // Whole message in one chunk and in the first queued buffer: hand out a view, no copy.
        const head = this.#queue[0]!;
        if (length <= this.#chunkSize && head.length - this.#offset >= length) {
          this.#state = State.BasicHeader;
          const view = head.subarray(this.#offset, this.#offset + length);
          this.#skip(length);
          return this.#finishMessage(stream, view);
        }
        this.#reserve(stream);
      }
      this.#chunkLeft = Math.min(stream.length - stream.received, this.#chunkSize);
    }
    if (this.#chunkLeft > 0) {
      if (this.#queued === 0) return null;
      const take = Math.min(this.#chunkLeft, this.#queued);
      this.#take(stream.payload!, stream.received, take);
      stream.received += take;
      this.#chunkLeft -= take;
      if (this.#chunkLeft > 0) return null;
    }
    this.#chunkLeft = -1;
    this.#state = State.BasicHeader;
    if (stream.received < stream.length) return undefined;
    const payload = stream.payload!;
    this.#dropPayload(stream);
    return this.#finishMessage(stream, payload);
  }

  /** Reserves and allocates a message buffer, after checking the per-connection cap. */
  #reserve(stream: ChunkStream): void {
    const total = this.#buffered + stream.length;
    if (total > this.#limits.maxBufferedBytes) {
      throw new BufferLimitError(
        `RTMP chunk: ${total} bytes in partly received messages exceed the ${this.#limits.maxBufferedBytes}-byte limit`,
      );
    }
    this.#buffered = total;
    stream.payload = this.#allocate(stream.length);
    stream.received = 0;
  }

  /** A message buffer: a slice of the slab when small enough, else its own. */
  #allocate(n: number): Buffer {
    if (n > SLAB_MESSAGE_MAX) return Buffer.allocUnsafe(n);
    if (this.#slab === undefined || this.#slabUsed + n > SLAB_SIZE) {
      this.#slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      this.#slabUsed = 0;
    }
    const out = this.#slab.subarray(this.#slabUsed, this.#slabUsed + n);
    // Keep slices 8-byte aligned, as Buffer's own pool does.
    this.#slabUsed += (n + 7) & ~7;
    return out;
  }

  #finishMessage(stream: ChunkStream, payload: Buffer): RawMessage {
    const message: RawMessage = {
      csid: stream.csid,
      typeId: stream.typeId,
      streamId: stream.streamId,
      timestamp: stream.timestamp,
      payload,
    };
    if (stream.typeId === MessageType.SetChunkSize) this.#setChunkSize(payload);
    else if (stream.typeId === MessageType.Abort) this.#abort(payload);
    return message;
  }

  /** RTMP spec 5.4.1: 31-bit value, at least 1; we also bound it above. */
  #setChunkSize(payload: Buffer): void {
    const size = decodeSetChunkSize(payload);
    if (size < 1 || size > 0x7fffffff || size > this.#limits.maxChunkSize) {
      throw new ChunkSizeError(
        `RTMP Set Chunk Size ${size} is outside 1..${Math.min(0x7fffffff, this.#limits.maxChunkSize)}`,
      );
    }
    this.#chunkSize = size;
  }

  /** RTMP spec 5.4.2: discard the partly received message on a chunk stream. */
  #abort(payload: Buffer): void {
    const stream = this.#streams.get(decodeAbort(payload));
    if (stream !== undefined) this.#dropPayload(stream);
  }

  #dropPayload(stream: ChunkStream): void {
    if (stream.payload === undefined) return;
    this.#buffered -= stream.length;
    stream.payload = undefined;
    stream.received = 0;
  }

  /** The queued byte at `index` from the front, not consumed. */
  #byte(index: number): number {
    let at = this.#offset + index;
    let i = 0;
    let buf = this.#queue[0]!;
    while (at >= buf.length) {
      at -= buf.length;
      buf = this.#queue[++i]!;
    }
    return buf[at]!;
  }

  /** Drops `n` queued bytes from the front. */
  #skip(n: number): void {
    this.#queued -= n;
    let offset = this.#offset + n;
    const queue = this.#queue;
    while (queue.length > 0 && offset >= queue[0]!.length) {
      offset -= queue[0]!.length;
      queue.shift();
    }
    this.#offset = offset;
  }

  /**
   * Makes `n` queued bytes readable in one piece without consuming them: in
   * place when the first buffer holds them all, else copied into the scratch.
   */
  #contiguous(n: number): void {
    const head = this.#queue[0]!;
    if (head.length - this.#offset >= n) {
      this.#hb = head;
      this.#hp = this.#offset;
      return;
    }
    let done = 0;
    for (let i = 0, from = this.#offset; done < n; i++, from = 0) {
      const buf = this.#queue[i]!;
      const take = Math.min(buf.length - from, n - done);
      buf.copy(this.#scratch, done, from, from + take);
      done += take;
    }
    this.#hb = this.#scratch;
    this.#hp = 0;
  }

  /** Moves `n` queued bytes into `target` at `offset`. */
  #take(target: Buffer, offset: number, n: number): void {
    const queue = this.#queue;
    let done = 0;
    while (done < n) {
      const buf = queue[0]!;
      const from = this.#offset;
      const take = Math.min(buf.length - from, n - done);
      buf.copy(target, offset + done, from, from + take);
      done += take;
      if (from + take === buf.length) {
        queue.shift();
        this.#offset = 0;
      } else {
        this.#offset = from + take;
      }
    }
    this.#queued -= n;
  }
}
