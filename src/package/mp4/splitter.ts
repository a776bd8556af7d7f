import { Mp4InvalidError, Mp4TooLargeError } from '../../errors.ts';
import { BOX_HEADER_SIZE, LARGE_BOX_HEADER_SIZE, printable, readBoxHeader } from './boxes.ts';
import { parseFragment, type FragmentInfo } from './fragment.ts';
import { parseInit, type InitInfo } from './init.ts';

/** An init segment: every top-level box before the first moof, ftyp and moov among them (ISO/IEC 14496-12 8.2, ISO/IEC 23000-19 7.3.1). */
export interface InitItem {
  readonly kind: 'init';
  readonly bytes: Buffer;
  readonly info: InitInfo;
}

/** One media fragment: a moof and its mdat, with whatever lay between them (ISO/IEC 14496-12 8.8.4, ISO/IEC 23000-19 7.3.2.3 CMAF chunk). */
export interface FragmentItem {
  readonly kind: 'fragment';
  /** From the moof's first byte to the mdat's last. */
  readonly bytes: Buffer;
  readonly info: FragmentInfo;
  /** Types of the top-level boxes skipped since the previous item (styp, sidx, prft, free, mfra, …). */
  readonly skipped: readonly string[];
}

/** What {@link Mp4Splitter.push} returns, in stream order. */
export type SplitItem = InitItem | FragmentItem;

/** Limits of a splitter, checked before anything is buffered. */
export interface Mp4SplitterOptions {
  /** Largest top-level box accepted (default 32 MiB). */
  readonly maxBoxSize?: number;
  /** Largest init segment or fragment being assembled, all its boxes together (default 2 × maxBoxSize). */
  readonly maxItemSize?: number;
}

const DEFAULT_MAX_BOX_SIZE = 32 * 1024 * 1024;

const enum State {
  /** Waiting for the 8 (or 16) bytes of a box header. */
  Header,
  /** Collecting the body of a box whose size is known. */
  Body,
  /** Collecting a size-0 box: it runs to the end of the stream. */
  ToEnd,
}

/** A top-level box kept for the item being assembled. */
interface Held {
  readonly type: string;
  readonly bytes: Buffer;
}

/**
 * Splits a fragmented MP4 byte stream (ISO/IEC 14496-12 4.2 boxes at the top
 * level; 8.8 movie fragments) into init segments and moof+mdat fragments as
 * the bytes arrive: `push(bytes) → items[]`. No I/O, no timers.
 *
 * Every top-level box before the first moof becomes the init item, emitted
 * when the first moof header arrives (parsed: a missing moov throws). A moof
 * is held until its mdat is complete, then both (and any boxes between) are
 * emitted as one fragment, parsed. Boxes between an mdat and the next moof
 * (styp, sidx, prft, free, mfra) are skipped and named in `skipped`. A moov
 * after fragments starts a new init segment (the boxes held since the last
 * mdat become its start).
 *
 * Box and item sizes are checked against the limits as soon as a header is
 * read, before the body is buffered (Mp4TooLargeError). Bytes are copied only
 * when a box spans pushes; a box wholly inside one push is a view of it, and
 * an item whose boxes are contiguous in one push is a single view. Items may
 * therefore share memory with pushed chunks: do not reuse a chunk's memory.
 */
export class Mp4Splitter {
  readonly #maxBoxSize: number;
  readonly #maxItemSize: number;

  #state = State.Header;
  /** Unconsumed input, oldest first, and its total length. */
  #queue: Buffer[] = [];
  #queued = 0;

  /** Header of the box whose body is being collected. */
  #type = '';
  #size = 0;

  /** Boxes of the item being assembled. */
  #held: Held[] = [];
  #heldBytes = 0;
  #skipped: string[] = [];
  #phase: 'init' | 'media' = 'init';
  /** In the media phase: index in #held of the moof, once seen. */
  #moofAt = -1;
  #init: InitInfo | undefined;
  #ended = false;

  constructor(options: Mp4SplitterOptions = {}) {
    this.#maxBoxSize = options.maxBoxSize ?? DEFAULT_MAX_BOX_SIZE;
    this.#maxItemSize = options.maxItemSize ?? 2 * this.#maxBoxSize;
    if (!(this.#maxBoxSize >= LARGE_BOX_HEADER_SIZE) || !(this.#maxItemSize >= this.#maxBoxSize)) {
      throw new RangeError(`Mp4Splitter limits: maxBoxSize ${this.#maxBoxSize} must be ≥ 16 and maxItemSize ${this.#maxItemSize} ≥ maxBoxSize`);
    }
  }

  /** The last init segment's parse, for fragment defaults (trex). */
  get init(): InitInfo | undefined {
    return this.#init;
  }

  /** Bytes buffered and not yet emitted: the unconsumed input plus the item being assembled. */
  get bufferedBytes(): number {
    return this.#queued + this.#heldBytes;
  }

  /**
   * Feeds bytes; returns the items they complete. Throws Mp4InvalidError /
   * Mp4TooLargeError (and Mp4UnsupportedError from the box parsers); after a
   * throw the splitter is unusable and the stream should be dropped.
   */
  push(chunk: Buffer): SplitItem[] {
    if (this.#ended) throw new Mp4InvalidError('push after end()');
    const items: SplitItem[] = [];
    if (chunk.length === 0) return items;
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    for (;;) {
      if (this.#state === State.Header) {
        if (this.#queued < BOX_HEADER_SIZE) break;
        const head = this.#peek(this.#queued >= LARGE_BOX_HEADER_SIZE ? LARGE_BOX_HEADER_SIZE : BOX_HEADER_SIZE);
        const h = readBoxHeader(head, 0);
        if (h === undefined) break; // largesize not here yet
        this.#type = h.type;
        if (h.size === undefined) {
          this.#state = State.ToEnd;
          continue;
        }
        this.#admit(h.type, h.size, items);
        this.#size = h.size;
        this.#state = State.Body;
      }
      if (this.#state === State.ToEnd) {
        if (this.#queued > this.#maxBoxSize) {
          throw new Mp4TooLargeError(`'${printable(this.#type)}' box running to the end of the stream exceeds the ${this.#maxBoxSize}-byte limit`);
        }
        this.#checkItemLimit(this.#queued);
        break;
      }
      if (this.#queued < this.#size) break;
      this.#box(this.#type, this.#consume(this.#size), items);
      this.#state = State.Header;
    }
    return items;
  }

  /**
   * Marks the end of the stream: a pending size-0 box ends here and is
   * handled like any other; returns the items that completes. Bytes left in
   * the middle of a box throw Mp4InvalidError. A moof without its mdat, or
   * init boxes with no fragment after them, are dropped without error.
   */
  end(): SplitItem[] {
    if (this.#ended) return [];
    this.#ended = true;
    const items: SplitItem[] = [];
    if (this.#state === State.ToEnd) {
      const size = this.#queued;
      this.#admit(this.#type, size, items);
      this.#box(this.#type, this.#consume(size), items);
      this.#state = State.Header;
    } else if (this.#queued > 0) {
      throw new Mp4InvalidError(
        this.#state === State.Body
          ? `stream ended inside '${printable(this.#type)}': ${this.#queued} of ${this.#size} bytes`
          : `stream ended inside a box header: ${this.#queued} bytes`,
      );
    }
    return items;
  }

  /** Checks a box about to be collected against the limits, and settles the init item when a moof begins. */
  #admit(type: string, size: number, items: SplitItem[]): void {
    if (size > this.#maxBoxSize) throw new Mp4TooLargeError(`'${printable(type)}' box of ${size} bytes exceeds the ${this.#maxBoxSize}-byte limit`);
    if (type === 'moof' && this.#phase === 'init') this.#emitInit(items);
    if (type === 'moov' && this.#phase === 'media' && this.#moofAt < 0) {
      // A new init segment mid-stream (ffmpeg started over on the same pipe): keep the boxes before it (ftyp).
      this.#phase = 'init';
      this.#skipped = [];
    }
    if (this.#phase === 'media' && this.#moofAt < 0 && type !== 'moof') {
      // A box between fragments is skipped, but it still must fit the limit while it passes through.
      return;
    }
    this.#checkItemLimit(size);
  }

  #checkItemLimit(size: number): void {
    if (this.#heldBytes + size > this.#maxItemSize) {
      throw new Mp4TooLargeError(`${this.#phase === 'init' ? 'init segment' : 'fragment'} of over ${this.#heldBytes + size} bytes exceeds the ${this.#maxItemSize}-byte limit`);
    }
  }

  /** A complete top-level box. */
  #box(type: string, bytes: Buffer, items: SplitItem[]): void {
    if (this.#phase === 'init') {
      if (type === 'mdat') throw new Mp4InvalidError('mdat before any moof: not a fragmented MP4 stream');
      if (type === 'moof') {
        this.#phase = 'media';
      } else {
        this.#hold(type, bytes);
        return;
      }
    }
    if (type === 'moof') {
      if (this.#moofAt >= 0) throw new Mp4InvalidError('moof followed by another moof without an mdat');
      this.#moofAt = this.#held.length;
      this.#hold(type, bytes);
      return;
    }
    if (this.#moofAt < 0) {
      // (A moov here has already switched the phase back to 'init' in #admit.)
      if (type === 'ftyp') this.#hold(type, bytes);
      else this.#skipped.push(type);
      return;
    }
    this.#hold(type, bytes);
    if (type === 'mdat') this.#emitFragment(items);
  }

  #hold(type: string, bytes: Buffer): void {
    this.#held.push({ type, bytes });
    this.#heldBytes += bytes.length;
  }

  #emitInit(items: SplitItem[]): void {
    const bytes = joined(this.#held.map((h) => h.bytes));
    this.#held = [];
    this.#heldBytes = 0;
    this.#skipped = [];
    const info = parseInit(bytes);
    this.#init = info;
    items.push({ kind: 'init', bytes, info });
  }

  #emitFragment(items: SplitItem[]): void {
    // Only a ftyp can sit before the moof here (a new init segment would have switched phase).
    const parts = this.#held.slice(this.#moofAt).map((h) => h.bytes);
    const bytes = joined(parts);
    const skipped = this.#skipped.concat(this.#held.slice(0, this.#moofAt).map((h) => h.type));
    this.#held = [];
    this.#heldBytes = 0;
    this.#skipped = [];
    this.#moofAt = -1;
    const info = parseFragment(bytes, this.#init?.tracks);
    items.push({ kind: 'fragment', bytes, info, skipped });
  }

  /** The first n queued bytes without consuming them; copies only the few header bytes when they span chunks. */
  #peek(n: number): Buffer {
    const first = this.#queue[0]!;
    if (first.length >= n) return first;
    return Buffer.concat(this.#queue, n);
  }

  /** Removes and returns the first n queued bytes: a view when they lie in one chunk, else one copy. */
  #consume(n: number): Buffer {
    this.#queued -= n;
    const first = this.#queue[0];
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.#queue.shift();
      else this.#queue[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const buf = this.#queue[0]!;
      const take = Math.min(buf.length, n - off);
      buf.copy(out, off, 0, take);
      off += take;
      if (take === buf.length) this.#queue.shift();
      else this.#queue[0] = buf.subarray(take);
    }
    return out;
  }
}

/** One buffer for consecutive boxes: a view when they are adjacent in memory, else a copy. */
function joined(parts: readonly Buffer[]): Buffer {
  if (parts.length === 1) return parts[0]!;
  let contiguous = parts.length > 0;
  for (let i = 1; i < parts.length && contiguous; i++) {
    const prev = parts[i - 1]!;
    const cur = parts[i]!;
    contiguous = cur.buffer === prev.buffer && cur.byteOffset === prev.byteOffset + prev.length;
  }
  if (!contiguous) return Buffer.concat(parts);
  const first = parts[0]!;
  const total = parts.reduce((n, p) => n + p.length, 0);
  return Buffer.from(first.buffer, first.byteOffset, total);
}
