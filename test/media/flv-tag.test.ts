import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAudioSpecificConfig } from '../../src/media/aac.ts';
import { parseAv1CodecConfig } from '../../src/media/av1.ts';
import { parseAvcDecoderConfig } from '../../src/media/avc.ts';
import { parseAudioTag, parseVideoTag, type VideoTag } from '../../src/media/flv-tag.ts';
import { parseHevcDecoderConfig } from '../../src/media/hevc.ts';

function fixture(name: string): Buffer {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
}

/** Concatenates byte values, hex strings ('hex:…') and ASCII strings. */
function bytes(...parts: (number | string | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.map((p) =>
      typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? (p.startsWith('hex:') ? Buffer.from(p.slice(4), 'hex') : Buffer.from(p, 'latin1')) : p,
    ),
  );
}

/** True when `part` is a view into `whole` starting at `offset` (no copy). */
function isViewAt(part: Buffer, whole: Buffer, offset: number): boolean {
  return part.buffer === whole.buffer && part.byteOffset === whole.byteOffset + offset;
}

const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

function summary(tag: VideoTag): Omit<VideoTag, 'payload'> & { payload: string } {
  return { ...tag, payload: tag.payload.toString('hex') };
}

describe('parseVideoTag: legacy FLV VIDEODATA (FLV spec E.4.3.1)', () => {
  it('libx264 sequence header: a view of the AVCDecoderConfigurationRecord', () => {
    const body = fixture('avc-high-320x240.tag.bin');
    const tag = parseVideoTag(body);
    assert.deepEqual({ ...tag, payload: undefined }, {
      codec: 'h264',
      enhanced: false,
      frameType: 'key',
      packet: 'sequence-start',
      compositionTimeMs: 0,
      payload: undefined,
    });
    assert.ok(isViewAt(tag.payload, body, 5));
    assert.equal(parseAvcDecoderConfig(tag.payload).codecString, 'avc1.64000d');
  });

  it('libx264 key frame: NAL units with a positive composition time', () => {
    const body = fixture('avc-high-320x240-key.tag.bin');
    const tag = parseVideoTag(body);
    assert.equal(tag.frameType, 'key');
    assert.equal(tag.packet, 'coded-frames');
    assert.equal(tag.compositionTimeMs, 67);
    assert.equal(tag.payload.length, body.length - 5);
    assert.equal(tag.payload.readUInt32BE(0) + 4 <= tag.payload.length, true);
  });

  it('signed 24-bit composition time', () => {
    assert.equal(parseVideoTag(bytes(0x27, 1, 'hex:fffff6', 'hex:0000')).compositionTimeMs, -10);
    assert.equal(parseVideoTag(bytes(0x27, 1, 'hex:800000')).compositionTimeMs, -8388608);
    assert.equal(parseVideoTag(bytes(0x27, 1, 'hex:7fffff')).compositionTimeMs, 8388607);
  });

  const table: [string, Buffer, Partial<VideoTag> & { payload?: Buffer }][] = [
    ['AVC end of sequence', bytes(0x17, 2, 'hex:000000'), { codec: 'h264', packet: 'sequence-end', payload: Buffer.alloc(0) }],
    ['AVC inter frame', bytes(0x27, 1, 'hex:000000', 'hex:aa'), { frameType: 'inter', packet: 'coded-frames', payload: bytes('hex:aa') }],
    ['legacy HEVC (CodecID 12)', bytes(0x1c, 0, 'hex:000000', 'hex:01'), { codec: 'hevc', packet: 'sequence-start', payload: bytes(1) }],
    ['Sorenson H.263', bytes(0x22, 'hex:0084'), { codec: 'sorenson', frameType: 'inter', packet: 'coded-frames', payload: bytes('hex:0084') }],
    ['VP6 disposable', bytes(0x34, 'hex:00'), { codec: 'vp6', frameType: 'disposable', packet: 'coded-frames' }],
    ['VP6 alpha', bytes(0x15, 'hex:00'), { codec: 'vp6', frameType: 'key' }],
    ['screen video v2', bytes(0x16), { codec: 'screen', payload: Buffer.alloc(0) }],
    ['generated key frame', bytes(0x47, 1, 'hex:000000'), { frameType: 'generated-key', packet: 'coded-frames' }],
    ['command frame (start of seek)', bytes(0x57, 0), { codec: 'h264', frameType: 'command', packet: 'other', payload: bytes(0) }],
    ['reserved CodecID 9 → unknown', bytes(0x19, 'hex:0102'), { codec: 'unknown', packet: 'other', payload: bytes('hex:0102') }],
  ];
  for (const [name, body, expected] of table) {
    it(name, () => {
      const tag = parseVideoTag(body);
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(tag[key as keyof VideoTag], value, key);
      assert.equal(tag.enhanced, false);
    });
  }

  it('errors: empty, short AVC header, reserved AVCPacketType and frame types', () => {
    assert.throws(() => parseVideoTag(Buffer.alloc(0)), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseVideoTag(bytes(0x17, 1, 0, 0)), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseVideoTag(bytes(0x17, 3, 'hex:000000')), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseVideoTag(bytes(0x07, 0, 'hex:000000')), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseVideoTag(bytes(0x67, 0, 'hex:000000')), isCode('ERR_MEDIA_INVALID'));
  });
});

describe('parseVideoTag: Enhanced RTMP ExVideoTagHeader', () => {
  const ex = (frameType: number, packetType: number) => 0x80 | (frameType << 4) | packetType;

  it('hvc1 SequenceStart carries the real HEVCDecoderConfigurationRecord', () => {
    const record = fixture('hevc-main-854x480.hvcC.bin');
    const body = bytes(ex(1, 0), 'hvc1', record);
    const tag = parseVideoTag(body);
    assert.deepEqual(summary({ ...tag, payload: Buffer.alloc(0) }), {
      codec: 'hevc',
      enhanced: true,
      fourCc: 'hvc1',
      frameType: 'key',
      packet: 'sequence-start',
      compositionTimeMs: 0,
      payload: '',
    });
    assert.ok(isViewAt(tag.payload, body, 5));
    assert.equal(parseHevcDecoderConfig(tag.payload).width, 854);
  });

  it('av01 and avc1 SequenceStart carry their records', () => {
    const av1 = parseVideoTag(bytes(ex(1, 0), 'av01', fixture('av1-main-1280x720.av1C.bin')));
    assert.equal(av1.codec, 'av1');
    assert.equal(parseAv1CodecConfig(av1.payload).codecString, 'av01.0.05M.08');
    const avc = parseVideoTag(bytes(ex(1, 0), 'avc1', fixture('avc-main-854x480.tag.bin').subarray(5)));
    assert.equal(avc.codec, 'h264');
    assert.equal(parseAvcDecoderConfig(avc.payload).width, 854);
  });

  const table: [string, Buffer, Partial<Record<keyof VideoTag, unknown>>][] = [
    [
      'hvc1 CodedFrames: SI24 composition time (negative)',
      bytes(ex(2, 1), 'hvc1', 'hex:fffffe', 'hex:00000001aa'),
      { codec: 'hevc', frameType: 'inter', packet: 'coded-frames', compositionTimeMs: -2, payload: 'hex:00000001aa' },
    ],
    [
      'avc1 CodedFrames: SI24 composition time',
      bytes(ex(1, 1), 'avc1', 'hex:000021', 'hex:bb'),
      { codec: 'h264', packet: 'coded-frames', compositionTimeMs: 33, payload: 'hex:bb' },
    ],
    [
      'hvc1 CodedFramesX: no composition time field',
      bytes(ex(2, 3), 'hvc1', 'hex:00000001aa'),
      { codec: 'hevc', packet: 'coded-frames', compositionTimeMs: 0, payload: 'hex:00000001aa' },
    ],
    [
      'av01 CodedFrames: AV1 has no composition time',
      bytes(ex(1, 1), 'av01', 'hex:12000a0b'),
      { codec: 'av1', packet: 'coded-frames', compositionTimeMs: 0, payload: 'hex:12000a0b' },
    ],
    ['vp09 CodedFrames', bytes(ex(2, 1), 'vp09', 'hex:8249'), { codec: 'vp9', packet: 'coded-frames', payload: 'hex:8249' }],
    ['hvc1 SequenceEnd', bytes(ex(1, 2), 'hvc1'), { codec: 'hevc', packet: 'sequence-end', payload: '' }],
    [
      'Metadata with a reserved frame type (ignored per spec)',
      bytes(ex(0, 4), 'hvc1', 'hex:02000963'),
      { codec: 'hevc', packet: 'metadata', frameType: 'command', payload: 'hex:02000963' },
    ],
    ['Metadata with frame type Command', bytes(ex(5, 4), 'av01', 'hex:02'), { codec: 'av1', packet: 'metadata', frameType: 'command' }],
    ['MPEG2TSSequenceStart', bytes(ex(1, 5), 'av01', 'hex:80'), { codec: 'av1', packet: 'mpeg2ts-sequence-start', payload: 'hex:80' }],
    [
      'Command frame: a UI8 command, no FourCC',
      bytes(ex(5, 1), 1),
      { codec: 'unknown', fourCc: undefined, frameType: 'command', packet: 'other', payload: 'hex:01' },
    ],
    [
      'unknown FourCC → codec unknown, not an error',
      bytes(ex(1, 0), 'xyz1', 'hex:0102'),
      { codec: 'unknown', fourCc: 'xyz1', packet: 'sequence-start', payload: 'hex:0102' },
    ],
    ['vp08 is not a codec we name', bytes(ex(1, 1), 'vp08', 'hex:00'), { codec: 'unknown', fourCc: 'vp08', compositionTimeMs: 0 }],
    ['reserved packet type 9 → other', bytes(ex(1, 9), 'hvc1', 'hex:00'), { codec: 'hevc', packet: 'other', payload: 'hex:00' }],
    [
      'Multitrack OneTrack: FourCC, then the track entries',
      bytes(ex(1, 6), (0 << 4) | 3, 'av01', 0, 'hex:12000a'),
      { codec: 'av1', fourCc: 'av01', packet: 'multitrack', payload: 'hex:0012000a' },
    ],
    [
      'Multitrack ManyTracksManyCodecs: no shared FourCC',
      bytes(ex(1, 6), (2 << 4) | 1, 'hvc1', 0, 'hex:000003'),
      { codec: 'unknown', fourCc: undefined, packet: 'multitrack', payload: 'hex:6876633100000003' },
    ],
    [
      'ModEx (TimestampOffsetNano, 3 bytes) before CodedFrames',
      bytes(ex(1, 7), 2, 'hex:0f4240', (0 << 4) | 1, 'hvc1', 'hex:000005', 'hex:cc'),
      { codec: 'hevc', packet: 'coded-frames', compositionTimeMs: 5, payload: 'hex:cc' },
    ],
    [
      'ModEx with a 16-bit size, twice',
      bytes(ex(2, 7), 255, 'hex:012b', Buffer.alloc(300), (1 << 4) | 7, 0, 'hex:00', (0 << 4) | 3, 'avc1', 'hex:dd'),
      { codec: 'h264', frameType: 'inter', packet: 'coded-frames', compositionTimeMs: 0, payload: 'hex:dd' },
    ],
  ];
  for (const [name, body, expected] of table) {
    it(name, () => {
      const tag = parseVideoTag(body);
      assert.equal(tag.enhanced, true);
      for (const [key, value] of Object.entries(expected)) {
        const actual = tag[key as keyof VideoTag];
        if (key === 'payload') assert.equal(`hex:${(actual as Buffer).toString('hex')}`, value === '' ? 'hex:' : value, key);
        else assert.deepEqual(actual, value, key);
      }
    });
  }

  it('errors: truncated FourCC, missing composition time, bad multitrack, truncated ModEx, reserved frame type', () => {
    assert.throws(() => parseVideoTag(bytes(ex(1, 0), 'hv')), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseVideoTag(bytes(ex(1, 1), 'hvc1', 'hex:0000')), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseVideoTag(bytes(ex(1, 6))), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseVideoTag(bytes(ex(1, 6), 0x06, 'hvc1')), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseVideoTag(bytes(ex(1, 6), 0x31, 'hvc1')), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseVideoTag(bytes(ex(1, 7), 4, 'hex:0000')), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseVideoTag(bytes(ex(1, 7), 255, 'hex:01')), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseVideoTag(bytes(ex(0, 1), 'hvc1', 'hex:000000')), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseVideoTag(bytes(ex(6, 1), 'hvc1', 'hex:000000')), isCode('ERR_MEDIA_INVALID'));
  });
});

describe('parseAudioTag: legacy FLV AUDIODATA (FLV spec E.4.2.1)', () => {
  it('ffmpeg AAC sequence header and raw frame', () => {
    const header = fixture('aac-lc-44100-stereo.tag.bin');
    const tag = parseAudioTag(header);
    assert.deepEqual({ ...tag, payload: tag.payload.toString('hex') }, {
      codec: 'aac',
      enhanced: false,
      packet: 'sequence-header',
      payload: '121056e500',
    });
    assert.ok(isViewAt(tag.payload, header, 2));
    assert.equal(parseAudioSpecificConfig(tag.payload).codecString, 'mp4a.40.2');
    const raw = parseAudioTag(fixture('aac-lc-44100-stereo-raw.tag.bin'));
    assert.deepEqual([raw.packet, raw.payload.length], ['raw', 338]);
  });

  const formats: [number, string][] = [
    [0, 'pcm'],
    [1, 'unknown'],
    [2, 'mp3'],
    [3, 'pcm'],
    [4, 'nellymoser'],
    [5, 'nellymoser'],
    [6, 'nellymoser'],
    [7, 'g711a'],
    [8, 'g711u'],
    [11, 'speex'],
    [12, 'unknown'],
    [13, 'unknown'],
    [14, 'mp3'],
    [15, 'unknown'],
  ];
  for (const [soundFormat, codec] of formats) {
    it(`SoundFormat ${soundFormat} → ${codec}, raw after the first byte`, () => {
      const tag = parseAudioTag(bytes((soundFormat << 4) | 0x0e, 'hex:abcd'));
      assert.deepEqual({ ...tag, payload: tag.payload.toString('hex') }, { codec, enhanced: false, packet: 'raw', payload: 'abcd' });
    });
  }

  it('errors: empty (the RTMP silence message), AAC without AACPacketType, reserved AACPacketType', () => {
    assert.throws(() => parseAudioTag(Buffer.alloc(0)), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseAudioTag(bytes(0xaf)), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseAudioTag(bytes(0xaf, 2)), isCode('ERR_MEDIA_INVALID'));
  });
});

describe('parseAudioTag: Enhanced RTMP v2 ExAudioTagHeader', () => {
  const ex = (packetType: number) => 0x90 | packetType;
  const table: [string, Buffer, { codec: string; fourCc?: string; packet: string; payload: string }][] = [
    ['Opus SequenceStart', bytes(ex(0), 'Opus', 'OpusHead'), { codec: 'opus', fourCc: 'Opus', packet: 'sequence-header', payload: 'OpusHead' }],
    ['mp4a CodedFrames', bytes(ex(1), 'mp4a', 'xy'), { codec: 'aac', fourCc: 'mp4a', packet: 'raw', payload: 'xy' }],
    ['ac-3', bytes(ex(1), 'ac-3', 'z'), { codec: 'ac3', fourCc: 'ac-3', packet: 'raw', payload: 'z' }],
    ['ec-3', bytes(ex(0), 'ec-3'), { codec: 'eac3', fourCc: 'ec-3', packet: 'sequence-header', payload: '' }],
    ['fLaC', bytes(ex(0), 'fLaC', 'fLaC'), { codec: 'flac', fourCc: 'fLaC', packet: 'sequence-header', payload: 'fLaC' }],
    ['.mp3', bytes(ex(1), '.mp3', 'm'), { codec: 'mp3', fourCc: '.mp3', packet: 'raw', payload: 'm' }],
    ['SequenceEnd → other', bytes(ex(2), 'Opus'), { codec: 'opus', fourCc: 'Opus', packet: 'other', payload: '' }],
    ['MultichannelConfig → other', bytes(ex(4), 'Opus', 'c'), { codec: 'opus', fourCc: 'Opus', packet: 'other', payload: 'c' }],
    ['unknown FourCC → unknown', bytes(ex(1), 'abcd', 'q'), { codec: 'unknown', fourCc: 'abcd', packet: 'raw', payload: 'q' }],
    ['Multitrack OneTrack', bytes(ex(5), 0x01, 'Opus', 0, 'p'), { codec: 'opus', fourCc: 'Opus', packet: 'other', payload: '\x00p' }],
    ['Multitrack ManyTracksManyCodecs', bytes(ex(5), 0x21, 'Opus'), { codec: 'unknown', packet: 'other', payload: 'Opus' }],
    ['ModEx then CodedFrames', bytes(ex(7), 2, 'hex:000001', 0x01, 'mp4a', 'r'), { codec: 'aac', fourCc: 'mp4a', packet: 'raw', payload: 'r' }],
  ];
  for (const [name, body, expected] of table) {
    it(name, () => {
      const tag = parseAudioTag(body);
      const { payload, ...rest } = tag;
      assert.deepEqual({ ...rest, payload: payload.toString('latin1') }, { enhanced: true, ...expected });
    });
  }

  it('errors: truncated FourCC, nested multitrack, reserved multitrack type, truncated ModEx', () => {
    assert.throws(() => parseAudioTag(bytes(ex(0), 'Op')), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseAudioTag(bytes(ex(5), 0x05, 'Opus')), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseAudioTag(bytes(ex(5), 0x31, 'Opus')), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseAudioTag(bytes(ex(7), 9, 'hex:00')), isCode('ERR_MEDIA_TRUNCATED'));
  });
});
