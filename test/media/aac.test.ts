import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAudioSpecificConfig } from '../../src/media/aac.ts';
import { BitWriter } from '../support/bit-writer.ts';

/** Real AAC sequence header tags from ffmpeg 5.1's aac encoder (`-f flv`); the ASC follows the 2-byte header. */
function asc(name: string): Buffer {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url)).subarray(2);
}


const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

describe('parseAudioSpecificConfig on ffmpeg configs', () => {
  it('AAC LC 44.1 kHz stereo with a trailing SBR sync extension that says "no SBR"', () => {
    assert.equal(asc('aac-lc-44100-stereo.tag.bin').toString('hex'), '121056e500');
    assert.deepEqual(parseAudioSpecificConfig(asc('aac-lc-44100-stereo.tag.bin')), {
      codec: 'aac',
      codecString: 'mp4a.40.2',
      objectType: 2,
      sampleRate: 44100,
      channels: 2,
    });
  });

  it('AAC LC 48 kHz mono', () => {
    assert.deepEqual(parseAudioSpecificConfig(asc('aac-lc-48000-mono.tag.bin')), {
      codec: 'aac',
      codecString: 'mp4a.40.2',
      objectType: 2,
      sampleRate: 48000,
      channels: 1,
    });
  });

  it('the two-byte form without the extension', () => {
    assert.equal(parseAudioSpecificConfig(Buffer.from('1190', 'hex')).sampleRate, 48000);
  });
});

describe('parseAudioSpecificConfig on hand-built configs (ISO 14496-3 1.6.2.1)', () => {
  const table: { name: string; asc: Buffer; objectType: number; sampleRate: number; channels: number }[] = [
    {
      name: 'explicit HE-AAC: object type 5, extension frequency, then AAC LC',
      asc: new BitWriter().u(5, 5).u(4, 6).u(4, 2).u(4, 3).u(5, 2).u(3, 0).bytes(),
      objectType: 5,
      sampleRate: 48000,
      channels: 2,
    },
    {
      name: 'explicit HE-AACv2: object type 29 on mono core → stereo output',
      asc: new BitWriter().u(5, 29).u(4, 6).u(4, 1).u(4, 3).u(5, 2).u(3, 0).bytes(),
      objectType: 29,
      sampleRate: 48000,
      channels: 2,
    },
    {
      name: 'backward-compatible SBR + PS: sync extensions 0x2b7 and 0x548',
      asc: new BitWriter().u(5, 2).u(4, 6).u(4, 1).u(3, 0).u(11, 0x2b7).u(5, 5).u(1, 1).u(4, 3).u(11, 0x548).u(1, 1).bytes(),
      objectType: 29,
      sampleRate: 48000,
      channels: 2,
    },
    {
      name: 'explicit 24-bit sampling frequency (index 15)',
      asc: new BitWriter().u(5, 2).u(4, 15).u(24, 37800).u(4, 2).u(3, 0).bytes(),
      objectType: 2,
      sampleRate: 37800,
      channels: 2,
    },
    {
      name: 'escaped object type 31 + 6 bits (42, USAC) with channel configuration 6',
      asc: new BitWriter().u(5, 31).u(6, 42 - 32).u(4, 3).u(4, 6).u(8, 0).bytes(),
      objectType: 42,
      sampleRate: 48000,
      channels: 6,
    },
    {
      name: 'channel configuration 7 is 7.1 (8 channels)',
      asc: new BitWriter().u(5, 2).u(4, 3).u(4, 7).u(3, 0).bytes(),
      objectType: 2,
      sampleRate: 48000,
      channels: 8,
    },
    {
      name: 'channel configuration 0: 5.1 counted from the program_config_element',
      asc: new BitWriter()
        .u(5, 2).u(4, 4).u(4, 0).u(3, 0) // LC, 44.1 kHz, PCE follows GASpecificConfig
        .u(4, 0).u(2, 1).u(4, 4) // element_instance_tag, object_type, sampling_frequency_index
        .u(4, 2).u(4, 0).u(4, 1).u(2, 1).u(3, 0).u(4, 0) // 2 front, 0 side, 1 back, 1 LFE
        .u(1, 0).u(1, 0).u(1, 0) // no mixdowns
        .u(1, 0).u(4, 0).u(1, 1).u(4, 0) // front SCE + CPE
        .u(1, 1).u(4, 1) // back CPE
        .u(4, 0) // LFE tag
        .u(7, 0).u(8, 2).u(16, 0x4142) // byte_alignment, 2 comment bytes
        .bytes(),
      objectType: 2,
      sampleRate: 44100,
      channels: 6,
    },
  ];
  for (const c of table) {
    it(c.name, () => {
      assert.deepEqual(parseAudioSpecificConfig(c.asc), {
        codec: 'aac',
        codecString: `mp4a.40.${c.objectType}`,
        objectType: c.objectType,
        sampleRate: c.sampleRate,
        channels: c.channels,
      });
    });
  }
});

describe('parseAudioSpecificConfig errors', () => {
  it('rejects reserved values with MediaInvalidError', () => {
    assert.throws(() => parseAudioSpecificConfig(new BitWriter().u(5, 0).u(4, 3).u(4, 2).u(3, 0).bytes()), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseAudioSpecificConfig(new BitWriter().u(5, 2).u(4, 13).u(4, 2).u(3, 0).bytes()), isCode('ERR_MEDIA_INVALID'));
    assert.throws(() => parseAudioSpecificConfig(new BitWriter().u(5, 2).u(4, 3).u(4, 8).u(3, 0).bytes()), isCode('ERR_MEDIA_INVALID'));
  });

  it('rejects channel configuration 0 outside the GA object types', () => {
    const usac = new BitWriter().u(5, 31).u(6, 10).u(4, 3).u(4, 0).u(8, 0).bytes();
    assert.throws(() => parseAudioSpecificConfig(usac), isCode('ERR_MEDIA_UNSUPPORTED'));
  });

  it('throws MediaTruncatedError for short input', () => {
    assert.throws(() => parseAudioSpecificConfig(Buffer.alloc(0)), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseAudioSpecificConfig(Buffer.from([0x12])), isCode('ERR_MEDIA_TRUNCATED'));
    assert.throws(() => parseAudioSpecificConfig(new BitWriter().u(5, 2).u(4, 15).u(8, 0).bytes()), isCode('ERR_MEDIA_TRUNCATED'));
  });
});
