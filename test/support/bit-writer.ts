/** MSB-first bit writer for hand-built bitstreams in tests: u(n), ue(v), se(v). */
export class BitWriter {
  #bits: number[] = [];

  u(n: number, v: number): this {
    for (let i = n - 1; i >= 0; i--) this.#bits.push(Math.floor(v / 2 ** i) % 2);
    return this;
  }

  /** Unsigned exp-Golomb (H.264 9.1). */
  ue(v: number): this {
    const len = Math.floor(Math.log2(v + 1));
    return this.u(len, 0).u(len + 1, v + 1);
  }

  /** Signed exp-Golomb (H.264 9.1.1). */
  se(v: number): this {
    return this.ue(v > 0 ? 2 * v - 1 : -2 * v);
  }

  /** The bits, zero-padded to whole bytes. */
  bytes(): Buffer {
    return pack(this.#bits);
  }

  /** The bits with an rbsp_stop_one_bit, then zero-padded (H.264 7.3.2.11). */
  rbsp(): Buffer {
    return pack([...this.#bits, 1]);
  }
}

function pack(bits: number[]): Buffer {
  const out = Buffer.alloc(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => (out[i >> 3]! |= b << (7 - (i & 7))));
  return out;
}
