import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AmfDepthError, AmfInvalidError, AmfTruncatedError, AmfUnsupportedError, ProxyRtmpError } from '../../src/errors.ts';
import { decodeAmf0, decodeAmf0Value, encodeAmf0, type AmfObject, type AmfValue } from '../../src/rtmp/amf0.ts';

/** Hex with optional whitespace → Buffer. */
function h(hex: string): Buffer {
  return Buffer.from(hex.replace(/\s+/g, ''), 'hex');
}

/** Rebuilds `v` with null-prototype objects, the shape the decoder produces. */
function np(v: AmfValue): AmfValue {
  if (Array.isArray(v)) return v.map(np);
  if (v === null || typeof v !== 'object' || v instanceof Date) return v;
  const out = Object.create(null) as AmfObject;
  for (const key of Object.keys(v)) out[key] = np(v[key]);
  return out;
}

function isAmfError(err: unknown): boolean {
  return err instanceof ProxyRtmpError && err.code.startsWith('ERR_AMF0_');
}

const CONNECT_HEX = `
  02 0007 636f6e6e656374
  00 3ff0000000000000
  03
    0003 617070 02 0004 6c697665
    0004 74797065 02 000a 6e6f6e70726976617465
    0008 666c617368566572 02 001f 464d4c452f332e302028636f6d70617469626c653b20464d53632f312e3029
    0005 746355726c 02 001a 72746d703a2f2f3132372e302e302e313a313933352f6c697665
  000009`;

const CONNECT_VALUES: AmfValue[] = [
  'connect',
  1,
  {
    app: 'live',
    type: 'nonprivate',
    flashVer: 'FMLE/3.0 (compatible; FMSc/1.0)',
    tcUrl: 'rtmp://127.0.0.1:1935/live',
  },
];

/** Values whose encoding is exactly `hex`, and which decode back to themselves. */
const ROUND_TRIP: Array<{ name: string; value: AmfValue; hex: string }> = [
  { name: 'number 0', value: 0, hex: '00 0000000000000000' },
  { name: 'number 1', value: 1, hex: '00 3ff0000000000000' },
  { name: 'number -2.5', value: -2.5, hex: '00 c004000000000000' },
  { name: 'number -0', value: -0, hex: '00 8000000000000000' },
  { name: 'number Infinity', value: Infinity, hex: '00 7ff0000000000000' },
  { name: 'boolean true', value: true, hex: '01 01' },
  { name: 'boolean false', value: false, hex: '01 00' },
  { name: 'empty string', value: '', hex: '02 0000' },
  { name: 'string', value: 'live', hex: '02 0004 6c697665' },
  { name: 'UTF-8 string', value: 'é€', hex: '02 0005 c3a9 e282ac' },
  { name: 'null', value: null, hex: '05' },
  { name: 'undefined', value: undefined, hex: '06' },
  { name: 'date', value: new Date(1700000000000), hex: '0b 4278bcfe56800000 0000' },
  { name: 'empty object', value: {}, hex: '03 000009' },
  { name: 'object', value: { app: 'live' }, hex: '03 0003 617070 02 0004 6c697665 000009' },
  { name: 'object with empty key', value: { '': 1 }, hex: '03 0000 00 3ff0000000000000 000009' },
  { name: 'empty strict array', value: [], hex: '0a 00000000' },
  {
    name: 'strict array',
    value: [1, 'live', null, [true]],
    hex: '0a 00000004 00 3ff0000000000000 02 0004 6c697665 05 0a 00000001 01 01',
  },
  {
    name: 'nested object',
    value: { app: { app: [] } },
    hex: '03 0003 617070 03 0003 617070 0a 00000000 000009 000009',
  },
];

/** Decode-only fixtures: inputs our encoder never produces. */
const DECODE_ONLY: Array<{ name: string; hex: string; value: AmfValue }> = [
  { name: 'boolean with a non-zero non-one byte', hex: '01 7f', value: true },
  { name: 'date with a non-zero time zone (ignored)', hex: '0b 0000000000000000 ff88', value: new Date(0) },
  { name: 'long string', hex: '0c 00000004 6c697665', value: 'live' },
  { name: 'XML document', hex: '0f 00000003 3c612f', value: '<a/' },
  { name: 'unsupported', hex: '0d', value: undefined },
  {
    name: 'ECMA array',
    hex: '08 00000002 0005 7769647468 00 4094000000000000 0006 686569676874 00 4086800000000000 000009',
    value: { width: 1280, height: 720 },
  },
  {
    name: 'ECMA array whose count hint is wrong',
    hex: '08 ffffffff 0005 7769647468 00 4094000000000000 000009',
    value: { width: 1280 },
  },
  {
    name: 'typed object (class name dropped)',
    hex: '10 0004 61766331 0003 617070 02 0004 6c697665 000009',
    value: { app: 'live' },
  },
  { name: 'object with a repeated key (last wins)', hex: '03 0001 61 00 3ff0000000000000 0001 61 05 000009', value: { a: null } },
  { name: 'invalid UTF-8 becomes U+FFFD', hex: '02 0002 c328', value: '\ufffd(' },
];

/** onMetaData as ffmpeg sends it in @setDataFrame. */
const METADATA_HEX = `
  02 000d 40736574446174614672616d65
  02 000a 6f6e4d65746144617461
  08 00000005
    0008 6475726174696f6e 00 0000000000000000
    0005 7769647468 00 4094000000000000
    0006 686569676874 00 4086800000000000
    0009 6672616d6572617465 00 403e000000000000
    0007 656e636f646572 02 000d 4c61766636302e31362e313030
  000009`;

describe('AMF0 encode fixtures', () => {
  for (const f of ROUND_TRIP) {
    it(`encodes ${f.name}`, () => {
      assert.equal(encodeAmf0(f.value).toString('hex'), h(f.hex).toString('hex'));
    });
    it(`decodes ${f.name}`, () => {
      const buf = h(f.hex);
      assert.deepStrictEqual(decodeAmf0(buf), [np(f.value)]);
      assert.deepStrictEqual(decodeAmf0Value(buf, 0), { value: np(f.value), offset: buf.length });
    });
  }

  it('encodes the ffmpeg connect command byte for byte and decodes it back', () => {
    const buf = encodeAmf0(...CONNECT_VALUES);
    assert.equal(buf.toString('hex'), h(CONNECT_HEX).toString('hex'));
    assert.deepStrictEqual(decodeAmf0(buf), CONNECT_VALUES.map(np));
  });

  it('encodes several values back to back', () => {
    assert.equal(encodeAmf0('live', null, true).toString('hex'), h('02 0004 6c697665 05 01 01').toString('hex'));
    assert.equal(encodeAmf0().length, 0);
  });

  it('switches to long string above 65535 UTF-8 bytes', () => {
    const atLimit = 'a'.repeat(0xffff);
    const a = encodeAmf0(atLimit);
    assert.equal(a.subarray(0, 3).toString('hex'), '02ffff');
    assert.equal(a.length, 3 + 0xffff);
    assert.deepStrictEqual(decodeAmf0(a), [atLimit]);

    const over = 'a'.repeat(0xfffe) + 'é'; // 65536 UTF-8 bytes, 65535 UTF-16 units
    const b = encodeAmf0(over);
    assert.equal(b.subarray(0, 5).toString('hex'), '0c00010000');
    assert.equal(b.length, 5 + 0x10000);
    assert.deepStrictEqual(decodeAmf0(b), [over]);
  });

  it('encodes sparse array holes as undefined', () => {
    const sparse: AmfValue[] = [];
    sparse[1] = 1;
    assert.equal(encodeAmf0(sparse).toString('hex'), h('0a 00000002 06 00 3ff0000000000000').toString('hex'));
  });

  it('encodes objects in insertion order, including a __proto__ own key', () => {
    const obj = Object.create(null) as AmfObject;
    obj['b'] = 1;
    obj['__proto__'] = 'x';
    obj['a'] = null;
    const buf = encodeAmf0(obj);
    assert.equal(
      buf.toString('hex'),
      h('03 0001 62 00 3ff0000000000000 0009 5f5f70726f746f5f5f 02 0001 78 0001 61 05 000009').toString('hex'),
    );
    assert.deepStrictEqual(decodeAmf0(buf), [obj]);
  });

  it('throws TypeError for a property name over 65535 bytes', () => {
    assert.throws(() => encodeAmf0({ ['k'.repeat(0x10000)]: 1 }), TypeError);
    assert.equal(encodeAmf0({ ['k'.repeat(0xffff)]: 1 }).length, 1 + 2 + 0xffff + 9 + 3);
  });

  it('throws TypeError for circular structures and non-AMF values', () => {
    const obj: AmfObject = {};
    obj['self'] = obj;
    assert.throws(() => encodeAmf0(obj), TypeError);
    const arr: AmfValue[] = [];
    arr.push(arr);
    assert.throws(() => encodeAmf0(arr), TypeError);
    assert.throws(() => encodeAmf0((() => 1) as unknown as AmfValue), TypeError);
    assert.throws(() => encodeAmf0(1n as unknown as AmfValue), TypeError);
    // The same object twice (not a cycle) is fine; AMF0 references are not emitted.
    const shared = { a: 1 };
    assert.deepStrictEqual(decodeAmf0(encodeAmf0([shared, shared])), [[np(shared), np(shared)]]);
  });
});

describe('AMF0 decode fixtures', () => {
  for (const f of DECODE_ONLY) {
    it(`decodes ${f.name}`, () => {
      assert.deepStrictEqual(decodeAmf0(h(f.hex)), [np(f.value)]);
    });
  }

  it('decodes onMetaData from @setDataFrame as an ECMA array', () => {
    const values = decodeAmf0(h(METADATA_HEX));
    assert.deepStrictEqual(values, [
      '@setDataFrame',
      'onMetaData',
      np({ duration: 0, width: 1280, height: 720, framerate: 30, encoder: 'Lavf60.16.100' }),
    ]);
  });

  it('decodes the connect command as a type 17 body after the caller strips 0x00', () => {
    const body = Buffer.concat([h('00'), h(CONNECT_HEX)]);
    assert.deepStrictEqual(decodeAmf0(body.subarray(1)), CONNECT_VALUES.map(np));
  });

  it('returns the offset past one value and starts at the given offset', () => {
    const buf = h('ff 02 0001 61 05');
    assert.deepStrictEqual(decodeAmf0Value(buf, 1), { value: 'a', offset: 5 });
    assert.deepStrictEqual(decodeAmf0Value(buf, 5), { value: null, offset: 6 });
    assert.throws(() => decodeAmf0Value(buf, 6), AmfTruncatedError);
    assert.throws(() => decodeAmf0Value(buf, 7), RangeError);
    assert.throws(() => decodeAmf0Value(buf, -1), RangeError);
  });

  it('decodes an empty buffer to no values', () => {
    assert.deepStrictEqual(decodeAmf0(Buffer.alloc(0)), []);
  });

  it('decodes objects with a null prototype so __proto__ and constructor are plain data', () => {
    // {"__proto__": {"polluted": true}, "constructor": "x"}
    const buf = h(`03
      0009 5f5f70726f746f5f5f 03 0008 706f6c6c75746564 01 01 000009
      000b 636f6e7374727563746f72 02 0001 78
      000009`);
    const [obj] = decodeAmf0(buf) as [AmfObject];
    assert.equal(Object.getPrototypeOf(obj), null);
    assert.ok(Object.hasOwn(obj, '__proto__'));
    assert.equal(obj['constructor'], 'x');
    const inner = obj['__proto__'] as AmfObject;
    assert.equal(Object.getPrototypeOf(inner), null);
    assert.equal(inner['polluted'], true);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.deepStrictEqual(Object.keys(obj), ['__proto__', 'constructor']);
  });

  it('decodes ECMA arrays and typed objects with a null prototype too', () => {
    for (const hex of ['08 00000000 000009', '10 0001 43 000009']) {
      const [obj] = decodeAmf0(h(hex));
      assert.equal(Object.getPrototypeOf(obj), null);
    }
  });
});

describe('AMF0 references', () => {
  it('resolves a reference to an earlier complete object to the same instance', () => {
    // [ {a: null}, ref 1 ]: index 0 is the outer array, index 1 the object.
    const [arr] = decodeAmf0(h('0a 00000002 03 0001 61 05 000009 07 0001')) as [AmfValue[]];
    assert.equal(arr.length, 2);
    assert.equal(arr[0], arr[1]);
    assert.deepStrictEqual(arr[0], np({ a: null }));
  });

  it('shares the reference table across the values of one buffer', () => {
    const values = decodeAmf0(h('03 0001 61 05 000009 07 0000'));
    assert.equal(values.length, 2);
    assert.equal(values[0], values[1]);
  });

  it('counts ECMA arrays and typed objects in the reference table, not dates', () => {
    const values = decodeAmf0(h('0b 0000000000000000 0000 08 00000000 000009 10 0001 43 000009 07 0001 07 0000'));
    assert.equal(values[3], values[2]);
    assert.equal(values[4], values[1]);
  });

  it('rejects a reference to a value still being built', () => {
    assert.throws(() => decodeAmf0(h('0a 00000001 07 0000')), AmfInvalidError);
    assert.throws(() => decodeAmf0(h('03 0001 61 07 0000 000009')), AmfInvalidError);
  });

  it('rejects references out of range', () => {
    assert.throws(() => decodeAmf0(h('07 0000')), AmfInvalidError);
    assert.throws(() => decodeAmf0(h('03 000009 07 0001')), AmfInvalidError);
    assert.throws(() => decodeAmf0(h('07 ffff')), AmfInvalidError);
  });

  it('does not see references from before the offset in decodeAmf0Value', () => {
    const buf = h('03 000009 07 0000');
    assert.throws(() => decodeAmf0Value(buf, 4), AmfInvalidError);
  });
});

describe('AMF0 invalid and unsupported input', () => {
  const unsupported: Array<[string, string]> = [
    ['movieclip', '04'],
    ['recordset', '0e'],
    ['AVM+ switch', '11'],
    ['unknown 0x12', '12'],
    ['unknown 0xff', 'ff'],
  ];
  for (const [name, hex] of unsupported) {
    it(`rejects ${name} with AmfUnsupportedError naming the marker`, () => {
      assert.throws(
        () => decodeAmf0(h(hex)),
        (err: unknown) => err instanceof AmfUnsupportedError && err.message.includes(`0x${hex}`),
      );
      assert.throws(() => decodeAmf0(h(`03 0001 61 ${hex} 000009`)), AmfUnsupportedError);
    });
  }

  it('rejects an object-end marker out of place', () => {
    assert.throws(() => decodeAmf0(h('09')), AmfInvalidError);
    assert.throws(() => decodeAmf0(h('05 09')), AmfInvalidError);
  });

  it('rejects an object-end marker as a property value or array element', () => {
    assert.throws(() => decodeAmf0(h('03 0001 61 09')), AmfInvalidError);
    assert.throws(() => decodeAmf0(h('0a 00000001 09')), AmfInvalidError);
    assert.throws(() => decodeAmf0(h('02 0000 09')), AmfInvalidError);
  });

  it('rejects a strict array claiming 0xFFFFFFFF entries in a 10-byte buffer without allocating', () => {
    const buf = h('0a ffffffff 00 00 00 00 00');
    assert.equal(buf.length, 10);
    assert.throws(() => decodeAmf0(buf), AmfInvalidError);
    // Even with the entry cap lifted, the length is checked against the bytes left.
    assert.throws(() => decodeAmf0(buf, { maxEntries: Number.MAX_SAFE_INTEGER }), AmfTruncatedError);
  });

  it('enforces maxEntries on strict arrays, objects and ECMA arrays', () => {
    const opts = { maxEntries: 2 };
    assert.deepStrictEqual(decodeAmf0(h('0a 00000002 05 05'), opts), [[null, null]]);
    assert.throws(() => decodeAmf0(h('0a 00000003 05 05 05'), opts), AmfInvalidError);
    const three = '0001 61 05 0001 62 05 0001 63 05 000009';
    assert.throws(() => decodeAmf0(h(`03 ${three}`), opts), AmfInvalidError);
    assert.throws(() => decodeAmf0(h(`08 00000001 ${three}`), opts), AmfInvalidError);
    assert.deepStrictEqual(decodeAmf0(h('03 0001 61 05 0001 62 05 000009'), opts), [np({ a: null, b: null })]);
  });

  it('rejects invalid options with RangeError', () => {
    assert.throws(() => decodeAmf0(h('05'), { maxDepth: -1 }), RangeError);
    assert.throws(() => decodeAmf0(h('05'), { maxEntries: 1.5 }), RangeError);
  });
});

describe('AMF0 nesting depth', () => {
  const DEEP = 5000;
  const deepObjects = Buffer.concat([
    Buffer.concat(Array.from({ length: DEEP }, () => h('03 0001 61'))),
    h('05'),
    Buffer.concat(Array.from({ length: DEEP }, () => h('000009'))),
  ]);
  const deepArrays = Buffer.concat([Buffer.concat(Array.from({ length: DEEP }, () => h('0a 00000001'))), h('05')]);
  const deepEcma = Buffer.concat([
    Buffer.concat(Array.from({ length: DEEP }, () => h('08 00000001 0001 61'))),
    h('05'),
    Buffer.concat(Array.from({ length: DEEP }, () => h('000009'))),
  ]);

  for (const [name, buf] of [
    ['objects', deepObjects],
    ['strict arrays', deepArrays],
    ['ECMA arrays', deepEcma],
  ] as const) {
    it(`rejects ${DEEP}-deep nested ${name} with AmfDepthError`, () => {
      assert.throws(() => decodeAmf0(buf), AmfDepthError);
    });

    it(`decodes ${DEEP}-deep nested ${name} without recursion when maxDepth allows it`, () => {
      const [root] = decodeAmf0(buf, { maxDepth: DEEP });
      let v: AmfValue = root;
      let depth = 0;
      while (v !== null) {
        depth++;
        v = Array.isArray(v) ? v[0] : (v as AmfObject)['a'];
      }
      assert.equal(depth, DEEP);
      assert.throws(() => decodeAmf0(buf, { maxDepth: DEEP - 1 }), AmfDepthError);
    });
  }

  it('allows exactly maxDepth levels', () => {
    assert.deepStrictEqual(decodeAmf0(h('0a 00000001 0a 00000000'), { maxDepth: 2 }), [[[]]]);
    assert.throws(() => decodeAmf0(h('0a 00000001 0a 00000000'), { maxDepth: 1 }), AmfDepthError);
    assert.throws(() => decodeAmf0(h('03 000009'), { maxDepth: 0 }), AmfDepthError);
    assert.deepStrictEqual(decodeAmf0(h('05'), { maxDepth: 0 }), [null]);
  });
});

describe('AMF0 truncation', () => {
  const everything: AmfValue = {
    n: 1.5,
    b: true,
    s: 'str',
    z: null,
    u: undefined,
    d: new Date(1700000000000),
    a: [1, 'x', { k: [] }],
    o: { '': 'empty key', nested: {} },
  };
  const singles: Array<[string, Buffer]> = [
    ['object with every type', encodeAmf0(everything)],
    ['strict array', encodeAmf0([everything, [null]])],
    ['long string', encodeAmf0('é'.repeat(40000))],
    ['date', encodeAmf0(new Date(0))],
    ['ECMA array', h(DECODE_ONLY.find((f) => f.name === 'ECMA array')!.hex)],
    ['typed object', h('10 0004 61766331 0003 617070 02 0004 6c697665 000009')],
    ['XML document', h('0f 00000003 3c612f')],
    ['reference inside an array', h('0a 00000002 03 0001 61 05 000009 07 0001')],
  ];
  for (const [name, buf] of singles) {
    it(`throws AmfTruncatedError at every byte offset of ${name}`, () => {
      assert.deepStrictEqual(decodeAmf0Value(buf, 0).offset, buf.length);
      for (let i = 0; i < buf.length; i++) {
        const prefix = buf.subarray(0, i);
        assert.throws(() => decodeAmf0Value(prefix, 0), AmfTruncatedError, `prefix of ${i} bytes`);
        if (i > 0) assert.throws(() => decodeAmf0(prefix), AmfTruncatedError, `prefix of ${i} bytes`);
      }
    });
  }

  it('throws AmfTruncatedError inside the connect and onMetaData payloads, never anything else', () => {
    for (const hex of [CONNECT_HEX, METADATA_HEX]) {
      const buf = h(hex);
      // Cutting at a value boundary leaves valid values; every other cut is truncation.
      const boundaries = new Set<number>([0]);
      for (let off = 0; off < buf.length; ) boundaries.add((off = decodeAmf0Value(buf, off).offset));
      for (let i = 0; i < buf.length; i++) {
        const prefix = buf.subarray(0, i);
        if (boundaries.has(i)) assert.doesNotThrow(() => decodeAmf0(prefix));
        else assert.throws(() => decodeAmf0(prefix), AmfTruncatedError, `prefix of ${i} bytes`);
      }
    }
  });
});

const amfArbitrary = fc.letrec<{ value: AmfValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.double(),
    fc.boolean(),
    fc.string({ unit: 'binary' }),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 6 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), tie('value'), { maxKeys: 6 }),
  ),
})).value;

describe('AMF0 properties', () => {
  it('round-trips arbitrary AMF values (Object.is semantics for -0 and NaN)', () => {
    fc.assert(
      fc.property(fc.array(amfArbitrary, { maxLength: 4 }), (values) => {
        assert.deepStrictEqual(decodeAmf0(encodeAmf0(...values)), values.map(np));
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (json) => {
        const value = json as AmfValue;
        assert.deepStrictEqual(decodeAmf0(encodeAmf0(value)), [np(value)]);
      }),
      { numRuns: 1000 },
    );
  });

  it('decodeAmf0Value walks an encoding value by value', () => {
    fc.assert(
      fc.property(fc.array(amfArbitrary, { maxLength: 4 }), (values) => {
        const buf = encodeAmf0(...values);
        let offset = 0;
        for (const v of values) {
          const r = decodeAmf0Value(buf, offset);
          assert.deepStrictEqual(r.value, np(v));
          assert.equal(r.offset, offset + encodeAmf0(v).length);
          offset = r.offset;
        }
        assert.equal(offset, buf.length);
      }),
      { numRuns: 500 },
    );
  });
});

describe('AMF0 fuzzing', () => {
  function decodesOrThrowsAmfError(bytes: Uint8Array): void {
    try {
      decodeAmf0(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (err) {
      if (!isAmfError(err)) throw err;
    }
  }

  it('arbitrary bytes decode or throw ERR_AMF0_* only', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), decodesOrThrowsAmfError), { numRuns: 20000 });
  });

  it('bytes biased towards AMF0 markers and small lengths decode or throw ERR_AMF0_* only', () => {
    const byte = fc.oneof(fc.integer({ min: 0, max: 0x11 }), fc.constantFrom(0x00, 0x09, 0xff), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 256 }), (arr) => decodesOrThrowsAmfError(Uint8Array.from(arr))),
      { numRuns: 20000 },
    );
  });

  it('mutated valid encodings decode or throw ERR_AMF0_* only', () => {
    const seeds = [h(CONNECT_HEX), h(METADATA_HEX), encodeAmf0([{ a: [1, null, new Date(0)] }, 'x', { b: {} }])];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: seeds.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (seedIndex, edits, cut) => {
          const bytes = Uint8Array.from(seeds[seedIndex]!);
          for (const [pos, b] of edits) bytes[pos % bytes.length] = b;
          decodesOrThrowsAmfError(bytes.subarray(0, bytes.length - (cut % 4)));
        },
      ),
      { numRuns: 20000 },
    );
  });
});
