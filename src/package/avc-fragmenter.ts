import { Mp4InvalidError } from '../errors.ts';
import { parseVideoTag } from '../media/flv-tag.ts';
import { avcTrack, writeFragment, writeInitSegment, type AvcTrack, type WriteSample } from './mp4/write.ts';
import type { FragmentIn, TrackInit } from './stream-packager.ts';

/** Fragmenter settings. */
export interface AvcFragmenterOptions {
  /** Fragment (CMAF chunk, LL-HLS part) duration in seconds; a fragment also starts at every keyframe. */
  readonly partSeconds: number;
  /** Track timescale; 90 kHz like every encoded rung, so all renditions share one clock. */
  readonly timescale?: number;
}

interface Pending {
  /** Decode time in the track's timescale. */
  readonly dts: number;
  readonly data: Buffer;
  readonly isSync: boolean;
  readonly compositionOffset: number;
}

/**
 * Remuxes an FLV H.264 stream (AVC sequence header, then AVC NALU tags with
 * their composition time; FLV spec v10.1 E.4.3.1) into CMAF without decoding
 * it: the AVCDecoderConfigurationRecord becomes the init segment's avcC, each
 * coded frame's length-prefixed NAL units become one sample as they are
 * (ISO/IEC 14496-15 5.3.2: the same AVCC framing), its FLV timestamp the
 * decode time and its CompositionTime the composition offset, both in ms
 * scaled to the timescale. Fragments cut like ffmpeg's `frag_keyframe` +
 * `frag_duration`: at every keyframe and once a fragment reaches the part
 * duration. A sample's duration is the gap to the next one, so each sample is
 * held until the next arrives; `flush()` writes the last with the previous
 * duration. Pure: no timers, sockets or logger.
 */
export class AvcFragmenter {
  readonly track: AvcTrack;
  readonly init: TrackInit;
  readonly #partTicks: number;
  readonly #msTicks: number;
  #pending: Pending | undefined;
  #fragment: WriteSample[] = [];
  #fragmentStart = 0;
  #fragmentDuration = 0;
  #lastDuration = 0;
  #sequence = 1;

  /** From the body of the AVC sequence header's record (throws Media* errors on a bad record). */
  constructor(avcC: Buffer, options: AvcFragmenterOptions) {
    const timescale = options.timescale ?? 90_000;
    this.track = avcTrack(1, Buffer.from(avcC), timescale);
    this.#partTicks = Math.round(options.partSeconds * timescale);
    this.#msTicks = timescale / 1000;
    const cfg = this.track;
    this.init = {
      bytes: writeInitSegment(cfg),
      codecs: codecString(cfg.avcC),
      timescale,
      width: cfg.width,
      height: cfg.height,
    };
  }

  /**
   * One FLV video tag body at decode time `timeMs` (the run's clock). Returns
   * the fragments it completes. Sequence headers and end-of-sequence tags are
   * the caller's business and return nothing; a frame whose decode time goes
   * back throws Mp4InvalidError.
   */
  push(timeMs: number, body: Buffer): FragmentIn[] {
    const tag = parseVideoTag(body);
    if (tag.codec !== 'h264' || tag.packet !== 'coded-frames') return [];
    const sample: Pending = {
      dts: Math.round(timeMs * this.#msTicks),
      data: Buffer.from(tag.payload), // the body may be a view of a socket buffer
      isSync: tag.frameType === 'key',
      compositionOffset: Math.round(tag.compositionTimeMs * this.#msTicks),
    };
    const out: FragmentIn[] = [];
    const previous = this.#pending;
    this.#pending = sample;
    if (previous === undefined) return out;
    const duration = sample.dts - previous.dts;
    if (duration < 0) throw new Mp4InvalidError(`video decode time went back from ${previous.dts} to ${sample.dts}`);
    this.#append(previous, duration, out);
    // The next sample starts a fragment when it is a keyframe or this one is full.
    if (sample.isSync || this.#fragmentDuration >= this.#partTicks) this.#close(out);
    return out;
  }

  /** Writes what is held (the last sample with the previous sample's duration) as a last fragment. */
  flush(): FragmentIn[] {
    const out: FragmentIn[] = [];
    const last = this.#pending;
    this.#pending = undefined;
    if (last !== undefined) this.#append(last, this.#lastDuration, out);
    this.#close(out);
    return out;
  }

  #append(sample: Pending, duration: number, out: FragmentIn[]): void {
    if (this.#fragment.length > 0 && sample.isSync) this.#close(out);
    if (this.#fragment.length === 0) this.#fragmentStart = sample.dts;
    this.#fragment.push({ duration, data: sample.data, isSync: sample.isSync, compositionOffset: sample.compositionOffset });
    this.#fragmentDuration += duration;
    this.#lastDuration = duration;
  }

  #close(out: FragmentIn[]): void {
    if (this.#fragment.length === 0) return;
    const samples = this.#fragment;
    out.push({
      bytes: writeFragment(this.track, this.#sequence++, this.#fragmentStart, samples),
      baseDecodeTime: this.#fragmentStart,
      duration: this.#fragmentDuration,
      independent: samples[0]!.isSync,
    });
    this.#fragment = [];
    this.#fragmentDuration = 0;
  }
}

/** RFC 6381 3.3 codec string from the record's profile, compatibility and level bytes. */
function codecString(avcC: Buffer): string {
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `avc1.${hex(avcC[1]!)}${hex(avcC[2]!)}${hex(avcC[3]!)}`;
}
