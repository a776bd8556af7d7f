import {
  BufferLimitError,
  ChunkHeaderError,
  ChunkSizeError,
  MessageTooLargeError,
  ProtocolError,
  TooManyChunkStreamsError,
} from '../errors.ts';
import { MessageType } from './message-types.ts';

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

  // Byte queue: the unconsumed input, consumed from the front.
  #queue: Buffer[] = [];
  #queued = 0;

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
    const first = this.#peekByte(0);
    const low = first & 0x3f;
    const size = low === 0 ? 2 : low === 1 ? 3 : 1;
    if (this.#queued < size) return false;
    const header = this.#consume(size);
    this.#fmt = first >> 6;
    // RTMP spec 5.3.1.1: ids 64-319 in one extra byte, 64-65599 in two (little-endian).
    this.#csid = low === 0 ? header[1]! + 64 : low === 1 ? header[1]! + header[2]! * 256 + 64 : low;
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
    const h = this.#consume(length);
    // A new header while a message is half-assembled: the sender gave up on it.
    this.#dropPayload(stream);
    const field = (h[0]! << 16) | (h[1]! << 8) | h[2]!;
    if (fmt <= 1) {
      stream.length = (h[3]! << 16) | (h[4]! << 8) | h[5]!;
      stream.typeId = h[6]!;
    }
    if (fmt === 0) stream.streamId = h.readUInt32LE(7);
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
    if (this.#fmt === 3) {
      // RTMP spec 5.3.1.3 says type 3 chunks repeat the extended timestamp; some
      // encoders omit it. Take the four bytes as the field only when they match
      // the value the stream's last header carried; else they are payload.
      const value = this.#peekUInt32();
      if (value === stream.extendedValue) this.#consume(4);
      if (stream.payload === undefined) this.#applyDelta(stream, stream.delta);
      this.#state = State.Payload;
      return true;
    }
    const value = this.#consume(4).readUInt32BE(0);
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
        if (stream.length > this.#limits.maxMessageSize) {
          throw new MessageTooLargeError(
            `RTMP chunk: message of ${stream.length} bytes (type ${stream.typeId}) exceeds the ${this.#limits.maxMessageSize}-byte limit`,
          );
        }
        // Nothing is reserved before the first payload byte arrives.
        if (this.#queued === 0 && stream.length > 0) return null;
        // Whole message in one chunk and in the first queued buffer: hand out a view, no copy.
        const head = this.#queue[0];
        if (stream.length <= this.#chunkSize && head !== undefined && head.length >= stream.length) {
          this.#state = State.BasicHeader;
          return this.#finishMessage(stream, this.#consume(stream.length));
        }
        this.#reserve(stream);
      }
      this.#chunkLeft = Math.min(stream.length - stream.received, this.#chunkSize);
    }
    if (this.#chunkLeft > 0) {
      if (this.#queued === 0) return null;
      const take = Math.min(this.#chunkLeft, this.#queued);
      this.#copyOut(stream.payload!, stream.received, take, true);
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
    stream.payload = Buffer.allocUnsafe(stream.length);
    stream.received = 0;
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
    if (payload.length < 4) throw new ProtocolError('RTMP Set Chunk Size: body shorter than 4 bytes');
    const size = payload.readUInt32BE(0);
    if (size < 1 || size > 0x7fffffff || size > this.#limits.maxChunkSize) {
      throw new ChunkSizeError(
        `RTMP Set Chunk Size ${size} is outside 1..${Math.min(0x7fffffff, this.#limits.maxChunkSize)}`,
      );
    }
    this.#chunkSize = size;
  }

  /** RTMP spec 5.4.2: discard the partly received message on a chunk stream. */
  #abort(payload: Buffer): void {
    if (payload.length < 4) throw new ProtocolError('RTMP Abort: body shorter than 4 bytes');
    const stream = this.#streams.get(payload.readUInt32BE(0));
    if (stream !== undefined) this.#dropPayload(stream);
  }

  #dropPayload(stream: ChunkStream): void {
    if (stream.payload === undefined) return;
    this.#buffered -= stream.length;
    stream.payload = undefined;
    stream.received = 0;
  }

  #peekByte(index: number): number {
    return this.#queue[0]![index]!;
  }

  #peekUInt32(): number {
    const head = this.#queue[0]!;
    if (head.length >= 4) return head.readUInt32BE(0);
    return this.#consumeCopy(4, false).readUInt32BE(0);
  }

  /** Takes n queued bytes; a view when they sit in one buffer, else a copy. */
  #consume(n: number): Buffer {
    const head = this.#queue[0]!;
    if (head.length > n) {
      this.#queue[0] = head.subarray(n);
      this.#queued -= n;
      return head.subarray(0, n);
    }
    if (head.length === n) {
      this.#queue.shift();
      this.#queued -= n;
      return head;
    }
    return this.#consumeCopy(n, true);
  }

  #consumeCopy(n: number, remove: boolean): Buffer {
    const out = Buffer.allocUnsafe(n);
    this.#copyOut(out, 0, n, remove);
    return out;
  }

  #copyOut(target: Buffer, offset: number, n: number, remove: boolean): void {
    let index = 0;
    let done = 0;
    while (done < n) {
      const buf = this.#queue[index]!;
      const take = Math.min(buf.length, n - done);
      buf.copy(target, offset + done, 0, take);
      done += take;
      if (!remove) {
        index++;
        continue;
      }
      if (take === buf.length) this.#queue.shift();
      else this.#queue[0] = buf.subarray(take);
    }
    if (remove) this.#queued -= n;
  }
}
