import { MediaInvalidError, MediaTruncatedError } from '../errors.ts';

/** Most leading zero bits an exp-Golomb code may have: ue(v) stays within 0..2^32-2 (H.264 9.1, H.265 9.2). */
const MAX_EXP_GOLOMB_ZEROS = 31;

/**
 * An MSB-first bit reader over a Buffer, for the bit-oriented syntax of
 * parameter sets (H.264 7.2, H.265 7.2, AV1 4.10, ISO 14496-3 1.6.2.1).
 * Every read checks the remaining bits first and throws MediaTruncatedError
 * when the input runs out; malformed exp-Golomb codes throw MediaInvalidError.
 */
export class BitReader {
  readonly #buf: Buffer;
  readonly #end: number;
  #pos = 0;

  constructor(buf: Buffer) {
    this.#buf = buf;
    this.#end = buf.length * 8;
  }

  /** Bits not yet read. */
  get bitsLeft(): number {
    return this.#end - this.#pos;
  }

  /** Bits already read. */
  get bitPosition(): number {
    return this.#pos;
  }

  /** Reads `n` (0..32) bits as an unsigned number, most significant bit first. */
  readBits(n: number): number {
    if (!Number.isInteger(n) || n < 0 || n > 32) throw new RangeError(`readBits: n=${n} outside 0..32`);
    this.#need(n);
    let value = 0;
    for (let i = 0; i < n; i++) {
      const pos = this.#pos++;
      const bit = ((this.#buf[pos >>> 3] ?? 0) >>> (7 - (pos & 7))) & 1;
      value = value * 2 + bit;
    }
    return value;
  }

  /** Reads one bit as a boolean. */
  readFlag(): boolean {
    return this.readBits(1) === 1;
  }

  /** Skips `n` bits, checking they exist. */
  skipBits(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`skipBits: n=${n} is not a non-negative integer`);
    this.#need(n);
    this.#pos += n;
  }

  /** Skips to the next byte boundary (a no-op when already aligned). */
  byteAlign(): void {
    this.#pos = Math.min(this.#end, Math.ceil(this.#pos / 8) * 8);
  }

  /** Unsigned exp-Golomb code ue(v) (H.264 9.1, H.265 9.2). */
  readUe(): number {
    let zeros = 0;
    while (this.readBits(1) === 0) {
      zeros++;
      if (zeros > MAX_EXP_GOLOMB_ZEROS) throw new MediaInvalidError(`exp-Golomb code with more than ${MAX_EXP_GOLOMB_ZEROS} leading zero bits`);
    }
    return 2 ** zeros - 1 + this.readBits(zeros);
  }

  /** Signed exp-Golomb code se(v) (H.264 9.1.1, H.265 9.2.2). */
  readSe(): number {
    const k = this.readUe();
    if (k === 0) return 0;
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }

  #need(n: number): void {
    if (this.#end - this.#pos < n) {
      throw new MediaTruncatedError(`bitstream ended: needed ${n} bits at bit ${this.#pos}, ${this.#end - this.#pos} left`);
    }
  }
}

/**
 * Converts a NAL unit to its RBSP by dropping every emulation_prevention_three_byte
 * (the 0x03 in 0x00 0x00 0x03; H.264 7.3.1 / 7.4.1, H.265 7.3.1.1). Returns a copy.
 */
export function nalToRbsp(nal: Buffer): Buffer {
  const out = Buffer.allocUnsafe(nal.length);
  let n = 0;
  let zeros = 0;
  for (let i = 0; i < nal.length; i++) {
    const byte = nal[i]!;
    if (zeros >= 2 && byte === 0x03) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out[n++] = byte;
  }
  return out.subarray(0, n);
}
