import { AmfDepthError, AmfInvalidError, AmfTruncatedError, AmfUnsupportedError } from '../errors.ts';

/**
 * A decoded AMF0 value (AMF0 spec 2.1). Objects, ECMA arrays and typed objects
 * all become {@link AmfObject}; strict arrays become JS arrays; XML documents
 * become strings; `unsupported` becomes `undefined`.
 */
export type AmfValue = number | boolean | string | null | undefined | Date | AmfValue[] | AmfObject;

/**
 * An AMF0 anonymous object, ECMA array or typed object (AMF0 spec 2.5, 2.10, 2.18).
 * Decoded objects have a null prototype, so keys such as `__proto__` are plain data.
 */
export interface AmfObject {
  [key: string]: AmfValue;
}

/** Limits applied while decoding untrusted AMF0 (AMF0 spec 2.5, 2.10, 2.12 containers). */
export interface Amf0DecodeOptions {
  /** Deepest nesting of objects/arrays; deeper input raises AmfDepthError. Default 32. */
  maxDepth?: number;
  /** Most properties per object / elements per strict array; more raises AmfInvalidError. Default 65536. */
  maxEntries?: number;
}

/** AMF0 type markers (AMF0 spec 2.1). */
const enum Marker {
  Number = 0x00,
  Boolean = 0x01,
  String = 0x02,
  Object = 0x03,
  MovieClip = 0x04,
  Null = 0x05,
  Undefined = 0x06,
  Reference = 0x07,
  EcmaArray = 0x08,
  ObjectEnd = 0x09,
  StrictArray = 0x0a,
  Date = 0x0b,
  LongString = 0x0c,
  Unsupported = 0x0d,
  RecordSet = 0x0e,
  XmlDocument = 0x0f,
  TypedObject = 0x10,
  AvmPlus = 0x11,
}

const DEFAULT_MAX_DEPTH = 32;
const DEFAULT_MAX_ENTRIES = 65536;

const UNSUPPORTED_NAMES: Readonly<Record<number, string>> = {
  [Marker.MovieClip]: 'movieclip',
  [Marker.RecordSet]: 'recordset',
  [Marker.AvmPlus]: 'AVM+ switch',
};

/** An object or ECMA array being filled: keys and values alternate on the wire. */
interface ObjectFrame {
  readonly isArray: false;
  readonly value: AmfObject;
  readonly ref: RefEntry;
  entries: number;
  key: string;
}

/** A strict array being filled: exactly `count` values follow. */
interface ArrayFrame {
  readonly isArray: true;
  readonly value: AmfValue[];
  readonly ref: RefEntry;
  readonly count: number;
}

type Frame = ObjectFrame | ArrayFrame;

/** One slot of the reference table (AMF0 spec 2.9); `complete` is false while it is being built. */
interface RefEntry {
  readonly value: AmfObject | AmfValue[];
  complete: boolean;
}

function hex(marker: number): string {
  return `0x${marker.toString(16).padStart(2, '0')}`;
}

function checkLimit(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`AMF0 decode option ${name} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Decoder state for one buffer. Containers are decoded with an explicit stack
 * (no recursion), so nesting depth is bounded only by `maxDepth`, never by the
 * JS call stack. The reference table spans every value decoded by this reader.
 */
class Amf0Reader {
  readonly #buf: Buffer;
  readonly #maxDepth: number;
  readonly #maxEntries: number;
  readonly #refs: RefEntry[] = [];
  pos: number;

  constructor(buf: Buffer, offset: number, options: Amf0DecodeOptions | undefined) {
    this.#buf = buf;
    this.pos = offset;
    this.#maxDepth = checkLimit('maxDepth', options?.maxDepth, DEFAULT_MAX_DEPTH);
    this.#maxEntries = checkLimit('maxEntries', options?.maxEntries, DEFAULT_MAX_ENTRIES);
  }

  get remaining(): number {
    return this.#buf.length - this.pos;
  }

  #need(n: number, what: string): void {
    if (n > this.#buf.length - this.pos) {
      throw new AmfTruncatedError(
        `AMF0 ${what} needs ${n} bytes at offset ${this.pos}, only ${this.#buf.length - this.pos} left`,
      );
    }
  }

  #u8(what: string): number {
    this.#need(1, what);
    return this.#buf[this.pos++]!;
  }

  #u16(what: string): number {
    this.#need(2, what);
    const v = this.#buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  #u32(what: string): number {
    this.#need(4, what);
    const v = this.#buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  #f64(what: string): number {
    this.#need(8, what);
    const v = this.#buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  #utf8(length: number, what: string): string {
    this.#need(length, what);
    const s = this.#buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length;
    return s;
  }

  /** UTF-8 with a 16-bit length (AMF0 spec 1.3.1). */
  #shortString(what: string): string {
    return this.#utf8(this.#u16(`${what} length`), what);
  }

  /** UTF-8-long with a 32-bit length (AMF0 spec 1.3.1). */
  #longString(what: string): string {
    return this.#utf8(this.#u32(`${what} length`), what);
  }

  #open(stack: Frame[], frame: Frame): void {
    if (stack.length >= this.#maxDepth) {
      throw new AmfDepthError(`AMF0 nesting deeper than ${this.#maxDepth} at offset ${this.pos}`);
    }
    stack.push(frame);
  }

  #newObject(stack: Frame[]): void {
    const value = Object.create(null) as AmfObject;
    const ref: RefEntry = { value, complete: false };
    this.#open(stack, { isArray: false, value, ref, entries: 0, key: '' });
    this.#refs.push(ref);
  }

  /** Decodes one complete value at `pos`, advancing past it. */
  readValue(): AmfValue {
    const stack: Frame[] = [];
    for (;;) {
      let value: AmfValue = undefined;
      let closed = false;
      const top = stack[stack.length - 1];
      if (top !== undefined) {
        if (top.isArray) {
          if (top.value.length === top.count) {
            stack.pop();
            top.ref.complete = true;
            value = top.value;
            closed = true;
          }
        } else {
          const keyStart = this.pos;
          const key = this.#shortString('property name');
          // An empty name followed by the object-end marker closes the object (AMF0 spec 2.5, 2.11).
          if (key === '' && this.#u8('value marker') === Marker.ObjectEnd) {
            stack.pop();
            top.ref.complete = true;
            value = top.value;
            closed = true;
          } else {
            if (key === '') this.pos--;
            if (++top.entries > this.#maxEntries) {
              throw new AmfInvalidError(
                `AMF0 object at offset ${keyStart} has more than ${this.#maxEntries} properties`,
              );
            }
            top.key = key;
          }
        }
      }

      if (!closed) {
        const markerAt = this.pos;
        const marker = this.#u8('value marker');
        switch (marker) {
          case Marker.Number:
            value = this.#f64('number');
            break;
          case Marker.Boolean:
            value = this.#u8('boolean') !== 0;
            break;
          case Marker.String:
            value = this.#shortString('string');
            break;
          case Marker.LongString:
            value = this.#longString('long string');
            break;
          case Marker.XmlDocument:
            value = this.#longString('XML document');
            break;
          case Marker.Null:
            value = null;
            break;
          case Marker.Undefined:
          case Marker.Unsupported:
            value = undefined;
            break;
          case Marker.Date: {
            const ms = this.#f64('date');
            this.#need(2, 'date time zone');
            this.pos += 2; // time-zone is reserved and ignored (AMF0 spec 2.13)
            value = new Date(ms);
            break;
          }
          case Marker.Reference: {
            const index = this.#u16('reference');
            const ref = this.#refs[index];
            if (ref === undefined) {
              throw new AmfInvalidError(
                `AMF0 reference ${index} at offset ${markerAt} is out of range (${this.#refs.length} complex values so far)`,
              );
            }
            if (!ref.complete) {
              throw new AmfInvalidError(`AMF0 reference ${index} at offset ${markerAt} points at an unfinished value`);
            }
            value = ref.value;
            break;
          }
          case Marker.Object:
            this.#newObject(stack);
            continue;
          case Marker.TypedObject:
            this.#shortString('class name'); // decoded to a plain object (AMF0 spec 2.18)
            this.#newObject(stack);
            continue;
          case Marker.EcmaArray:
            // The count is only a hint (AMF0 spec 2.10); the object-end marker is authoritative.
            this.#u32('ECMA array count');
            this.#newObject(stack);
            continue;
          case Marker.StrictArray: {
            const count = this.#u32('strict array count');
            if (count > this.#maxEntries) {
              throw new AmfInvalidError(
                `AMF0 strict array at offset ${markerAt} claims ${count} elements, limit ${this.#maxEntries}`,
              );
            }
            // Every element takes at least one byte; reject before allocating anything.
            this.#need(count, 'strict array elements');
            const arr: AmfValue[] = [];
            const ref: RefEntry = { value: arr, complete: false };
            this.#open(stack, { isArray: true, value: arr, ref, count });
            this.#refs.push(ref);
            continue;
          }
          case Marker.ObjectEnd:
            throw new AmfInvalidError(`AMF0 object-end marker out of place at offset ${markerAt}`);
          default:
            throw new AmfUnsupportedError(
              `AMF0 type marker ${hex(marker)}${UNSUPPORTED_NAMES[marker] ? ` (${UNSUPPORTED_NAMES[marker]})` : ''} at offset ${markerAt} is not supported`,
            );
        }
      }

      const parent = stack[stack.length - 1];
      if (parent === undefined) return value;
      if (parent.isArray) parent.value.push(value);
      else parent.value[parent.key] = value;
    }
  }
}

/**
 * Decodes every AMF0 value in `buf` up to its end (AMF0 spec 2), e.g. the body
 * of an RTMP command (type 20) or data message (type 18). One reference table
 * (AMF0 spec 2.9) spans all the values. Throws only AmfTruncatedError,
 * AmfDepthError, AmfUnsupportedError or AmfInvalidError for malformed input.
 */
export function decodeAmf0(buf: Buffer, options?: Amf0DecodeOptions): AmfValue[] {
  const reader = new Amf0Reader(buf, 0, options);
  const values: AmfValue[] = [];
  while (reader.remaining > 0) values.push(reader.readValue());
  return values;
}

/**
 * Decodes the single AMF0 value at `offset` (AMF0 spec 2) and returns it with
 * the offset just past it. References (AMF0 spec 2.9) may only point inside
 * this value. Throws the same typed errors as {@link decodeAmf0}.
 */
export function decodeAmf0Value(
  buf: Buffer,
  offset: number,
  options?: Amf0DecodeOptions,
): { value: AmfValue; offset: number } {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > buf.length) {
    throw new RangeError(`AMF0 offset ${String(offset)} is outside the buffer (length ${buf.length})`);
  }
  const reader = new Amf0Reader(buf, offset, options);
  const value = reader.readValue();
  return { value, offset: reader.pos };
}

const MAX_U16 = 0xffff;

/**
 * Computes the encoded size of `v`, recording every UTF-8 byte length in
 * `lens` (in write order) so the write pass never measures a string twice.
 */
function sizeOf(v: AmfValue, lens: number[], ancestors: Set<object>): number {
  switch (typeof v) {
    case 'number':
      return 9;
    case 'boolean':
      return 2;
    case 'undefined':
      return 1;
    case 'string': {
      const n = Buffer.byteLength(v, 'utf8');
      lens.push(n);
      return (n > MAX_U16 ? 5 : 3) + n;
    }
    case 'object': {
      if (v === null) return 1;
      if (v instanceof Date) return 11;
      if (ancestors.has(v)) throw new TypeError('AMF0 encode: circular structure');
      ancestors.add(v);
      let size: number;
      if (Array.isArray(v)) {
        size = 5;
        for (let i = 0; i < v.length; i++) size += sizeOf(v[i], lens, ancestors);
      } else {
        size = 4;
        for (const key of Object.keys(v)) {
          const n = Buffer.byteLength(key, 'utf8');
          if (n > MAX_U16) throw new TypeError(`AMF0 encode: property name of ${n} bytes exceeds 65535`);
          lens.push(n);
          size += 2 + n + sizeOf(v[key], lens, ancestors);
        }
      }
      ancestors.delete(v);
      return size;
    }
    default:
      throw new TypeError(`AMF0 encode: cannot encode a value of type ${typeof v}`);
  }
}

/** Writes values into a buffer sized by {@link sizeOf}, consuming the UTF-8 lengths it recorded. */
class Amf0Writer {
  readonly #buf: Buffer;
  readonly #lens: number[];
  #lenIndex = 0;
  pos = 0;

  constructor(buf: Buffer, lens: number[]) {
    this.#buf = buf;
    this.#lens = lens;
  }

  #utf8(s: string, n: number): void {
    if (n > 0) this.#buf.write(s, this.pos, n, 'utf8');
    this.pos += n;
  }

  write(v: AmfValue): void {
    const buf = this.#buf;
    switch (typeof v) {
      case 'number':
        buf[this.pos] = Marker.Number;
        buf.writeDoubleBE(v, this.pos + 1);
        this.pos += 9;
        return;
      case 'boolean':
        buf[this.pos] = Marker.Boolean;
        buf[this.pos + 1] = v ? 1 : 0;
        this.pos += 2;
        return;
      case 'undefined':
        buf[this.pos++] = Marker.Undefined;
        return;
      case 'string': {
        const n = this.#lens[this.#lenIndex++]!;
        if (n > MAX_U16) {
          buf[this.pos] = Marker.LongString;
          buf.writeUInt32BE(n, this.pos + 1);
          this.pos += 5;
        } else {
          buf[this.pos] = Marker.String;
          buf.writeUInt16BE(n, this.pos + 1);
          this.pos += 3;
        }
        this.#utf8(v, n);
        return;
      }
      default:
        break;
    }
    if (v === null) {
      buf[this.pos++] = Marker.Null;
    } else if (v instanceof Date) {
      buf[this.pos] = Marker.Date;
      buf.writeDoubleBE(v.getTime(), this.pos + 1);
      buf.writeInt16BE(0, this.pos + 9);
      this.pos += 11;
    } else if (Array.isArray(v)) {
      buf[this.pos] = Marker.StrictArray;
      buf.writeUInt32BE(v.length, this.pos + 1);
      this.pos += 5;
      for (let i = 0; i < v.length; i++) this.write(v[i]);
    } else {
      buf[this.pos++] = Marker.Object;
      for (const key of Object.keys(v)) {
        const n = this.#lens[this.#lenIndex++]!;
        buf.writeUInt16BE(n, this.pos);
        this.pos += 2;
        this.#utf8(key, n);
        this.write(v[key]);
      }
      buf[this.pos] = 0;
      buf[this.pos + 1] = 0;
      buf[this.pos + 2] = Marker.ObjectEnd;
      this.pos += 3;
    }
  }
}

/**
 * Encodes values back to back in AMF0 (AMF0 spec 2): numbers as number (2.2),
 * booleans (2.3), strings as string (2.4) or long string when over 65535 UTF-8
 * bytes (2.14), null (2.7), undefined (2.8), Date (2.13), arrays as strict
 * arrays (2.12) and other objects as anonymous objects (2.5) in key insertion
 * order. Property names over 65535 bytes and circular structures throw TypeError.
 */
export function encodeAmf0(...values: AmfValue[]): Buffer {
  const lens: number[] = [];
  const ancestors = new Set<object>();
  let size = 0;
  for (const v of values) size += sizeOf(v, lens, ancestors);
  const buf = Buffer.allocUnsafe(size);
  const writer = new Amf0Writer(buf, lens);
  for (const v of values) writer.write(v);
  return buf;
}
