import { ChunkSizeError } from '../errors.ts';
import type { OutgoingMessage } from './outgoing-message.ts';
import { DEFAULT_CHUNK_SIZE } from './chunk-decoder.ts';

const EXTENDED = 0xffffff;

function basicHeaderLength(csid: number): number {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

function writeBasicHeader(out: Buffer, offset: number, fmt: number, csid: number): number {
  // RTMP spec 5.3.1.1: 2-63 inline, 64-319 in one byte, up to 65599 in two (little-endian).
  if (csid < 64) {
    out[offset] = (fmt << 6) | csid;
    return offset + 1;
  }
  if (csid < 320) {
    out[offset] = fmt << 6;
    out[offset + 1] = csid - 64;
    return offset + 2;
  }
  out[offset] = (fmt << 6) | 1;
  out.writeUInt16LE(csid - 64, offset + 1);
  return offset + 3;
}

/**
 * Splits a message into chunks (RTMP spec 5.3): a type 0 chunk, then type 3
 * continuations, each repeating the extended timestamp when the timestamp
 * needs one (RTMP spec 5.3.1.3). Returns one buffer holding every chunk.
 */
export function encodeChunks(message: OutgoingMessage, chunkSize: number): Buffer {
  const { csid, payload } = message;
  if (csid < 2 || csid > 65599) throw new RangeError(`chunk stream id ${csid} outside 2..65599`);
  if (payload.length > 0xffffff) throw new RangeError(`message of ${payload.length} bytes exceeds 24 bits`);
  const timestamp = message.timestamp >>> 0;
  const extended = timestamp >= EXTENDED;
  const basic = basicHeaderLength(csid);
  const chunks = Math.max(1, Math.ceil(payload.length / chunkSize));
  const size = basic + 11 + (extended ? 4 : 0) + payload.length + (chunks - 1) * (basic + (extended ? 4 : 0));
  const out = Buffer.allocUnsafe(size);
  let o = writeBasicHeader(out, 0, 0, csid);
  out.writeUIntBE(extended ? EXTENDED : timestamp, o, 3);
  out.writeUIntBE(payload.length, o + 3, 3);
  out[o + 6] = message.typeId;
  out.writeUInt32LE(message.streamId >>> 0, o + 7);
  o += 11;
  for (let sent = 0, i = 0; i < chunks; i++) {
    if (i > 0) o = writeBasicHeader(out, o, 3, csid);
    if (extended) o = out.writeUInt32BE(timestamp, o);
    const take = Math.min(chunkSize, payload.length - sent);
    payload.copy(out, o, sent, sent + take);
    o += take;
    sent += take;
  }
  return out;
}

/** Chunk encoder that remembers the chunk size we announced to the peer. */
export class ChunkEncoder {
  #chunkSize = DEFAULT_CHUNK_SIZE;

  get chunkSize(): number {
    return this.#chunkSize;
  }

  /** Call after sending Set Chunk Size: later messages use the new size (RTMP spec 5.4.1). */
  setChunkSize(size: number): void {
    if (!Number.isInteger(size) || size < 1 || size > 0x7fffffff) {
      throw new ChunkSizeError(`chunk size ${size} is outside 1..2147483647`);
    }
    this.#chunkSize = size;
  }

  encode(message: OutgoingMessage): Buffer {
    return encodeChunks(message, this.#chunkSize);
  }
}
