import { Mp4InvalidError, Mp4UnsupportedError } from '../../errors.ts';

/**
 * One box found in a buffer (ISO/IEC 14496-12 4.2 Object structure). All
 * offsets are into the buffer the box was read from; `payload` is a view, no
 * copy, of the bytes after the header (and after largesize when present).
 */
export interface Box {
  /** The four-character code as latin1, e.g. 'moof'. `uuid` boxes keep the type 'uuid'. */
  readonly type: string;
  /** Offset of the first byte of the size field. */
  readonly start: number;
  /** 8, or 16 with a 64-bit largesize. */
  readonly headerSize: number;
  /** Whole box size in bytes, header included. */
  readonly size: number;
  readonly payload: Buffer;
}

/** Box header as read from the wire, before the body is known to be there (ISO/IEC 14496-12 4.2). */
export interface BoxHeader {
  readonly type: string;
  /** 8 or 16. */
  readonly headerSize: number;
  /** Whole box size in bytes; undefined when size == 0 ("extends to the end of the file"). */
  readonly size: number | undefined;
}

/** Length of the header needed to know a box's size: 8, or 16 when the 32-bit size is 1 (ISO/IEC 14496-12 4.2). */
export const BOX_HEADER_SIZE = 8;
export const LARGE_BOX_HEADER_SIZE = 16;

/**
 * Reads a box header at `offset` (ISO/IEC 14496-12 4.2): 32-bit size and
 * type, then the 64-bit largesize when size is 1. Returns undefined when
 * fewer than the needed 8 or 16 bytes are available. Throws Mp4InvalidError
 * for a size smaller than its own header, Mp4UnsupportedError for a
 * largesize past 2^53.
 */
export function readBoxHeader(buf: Buffer, offset: number, end: number = buf.length): BoxHeader | undefined {
  if (end - offset < BOX_HEADER_SIZE) return undefined;
  const size32 = buf.readUInt32BE(offset);
  const type = buf.toString('latin1', offset + 4, offset + 8);
  if (size32 === 0) return { type, headerSize: BOX_HEADER_SIZE, size: undefined };
  if (size32 !== 1) {
    if (size32 < BOX_HEADER_SIZE) throw new Mp4InvalidError(`box '${printable(type)}' declares size ${size32}, below its 8-byte header`);
    return { type, headerSize: BOX_HEADER_SIZE, size: size32 };
  }
  if (end - offset < LARGE_BOX_HEADER_SIZE) return undefined;
  const large = buf.readBigUInt64BE(offset + 8);
  if (large > BigInt(Number.MAX_SAFE_INTEGER)) throw new Mp4UnsupportedError(`box '${printable(type)}' largesize ${large} is past 2^53`);
  const size = Number(large);
  if (size < LARGE_BOX_HEADER_SIZE) throw new Mp4InvalidError(`box '${printable(type)}' declares largesize ${size}, below its 16-byte header`);
  return { type, headerSize: LARGE_BOX_HEADER_SIZE, size };
}

/**
 * The boxes laid end to end in `buf[start, end)` (ISO/IEC 14496-12 4.2),
 * children of one parent or the top level of a file. Size 0 extends the last
 * box to `end`. Every box must fit: a header or body cut short throws
 * Mp4InvalidError.
 */
export function readBoxes(buf: Buffer, start = 0, end: number = buf.length): Box[] {
  const boxes: Box[] = [];
  let off = start;
  while (off < end) {
    const h = readBoxHeader(buf, off, end);
    if (h === undefined) throw new Mp4InvalidError(`box header at ${off} cut short: ${end - off} bytes left`);
    const size = h.size ?? end - off;
    if (size > end - off) throw new Mp4InvalidError(`box '${printable(h.type)}' of ${size} bytes at ${off} overruns its parent by ${size - (end - off)}`);
    boxes.push({ type: h.type, start: off, headerSize: h.headerSize, size, payload: buf.subarray(off + h.headerSize, off + size) });
    off += size;
  }
  return boxes;
}

/** The first child of `type` among `boxes`, or undefined. */
export function findBox(boxes: readonly Box[], type: string): Box | undefined {
  for (const b of boxes) if (b.type === type) return b;
  return undefined;
}

/** The first child of `type`, or Mp4InvalidError naming the parent. */
export function requireBox(boxes: readonly Box[], type: string, parent: string): Box {
  const b = findBox(boxes, type);
  if (b === undefined) throw new Mp4InvalidError(`'${parent}' has no '${type}' box`);
  return b;
}

/** Version and flags of a FullBox (ISO/IEC 14496-12 4.2), the first 4 bytes of its payload. */
export function fullBoxHeader(box: Box): { version: number; flags: number } {
  if (box.payload.length < 4) throw new Mp4InvalidError(`full box '${box.type}' has ${box.payload.length} payload bytes, needs 4 for version and flags`);
  return { version: box.payload[0]!, flags: box.payload.readUIntBE(1, 3) };
}

/**
 * A bounds-checked big-endian cursor over a box payload: every read past the
 * end throws Mp4InvalidError naming the box, never a RangeError.
 */
export class PayloadReader {
  readonly #buf: Buffer;
  readonly #what: string;
  offset: number;

  constructor(buf: Buffer, what: string, offset = 0) {
    this.#buf = buf;
    this.#what = what;
    this.offset = offset;
  }

  get remaining(): number {
    return this.#buf.length - this.offset;
  }

  #need(n: number): number {
    if (this.#buf.length - this.offset < n) {
      throw new Mp4InvalidError(`'${this.#what}' cut short: needs ${n} bytes at ${this.offset}, has ${Math.max(0, this.#buf.length - this.offset)}`);
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(): number {
    return this.#buf[this.#need(1)]!;
  }
  u16(): number {
    return this.#buf.readUInt16BE(this.#need(2));
  }
  u24(): number {
    return this.#buf.readUIntBE(this.#need(3), 3);
  }
  u32(): number {
    return this.#buf.readUInt32BE(this.#need(4));
  }
  i32(): number {
    return this.#buf.readInt32BE(this.#need(4));
  }
  /** A 64-bit unsigned value as a number; Mp4UnsupportedError past 2^53. */
  u64(): number {
    const v = this.#buf.readBigUInt64BE(this.#need(8));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Mp4UnsupportedError(`'${this.#what}' 64-bit value ${v} is past 2^53`);
    return Number(v);
  }
  bytes(n: number): Buffer {
    const at = this.#need(n);
    return this.#buf.subarray(at, at + n);
  }
  skip(n: number): void {
    this.#need(n);
  }
}

/** A box type safe to print in a message (latin1 control bytes escaped). */
export function printable(type: string): string {
  return type.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
