import { Mp4InvalidError } from '../errors.ts';
import { Mp4Splitter } from './mp4/splitter.ts';
import type { StreamPackager } from './stream-packager.ts';

/**
 * One encoder output (an ffmpeg pipe carrying one track as fragmented MP4)
 * feeding a track of the packager: bytes in as they arrive, split into the init
 * segment and moof+mdat fragments, each handed over with what its boxes say.
 * Pure: the caller passes the wall clock with every push.
 */
export class TrackInput {
  readonly track: string;
  readonly #packager: StreamPackager;
  readonly #splitter: Mp4Splitter;
  readonly #run: number;

  /** Feeds `track` of `packager` for run `run` (what beginRun returned). */
  constructor(packager: StreamPackager, track: string, run: number, maxBoxSize?: number) {
    this.#packager = packager;
    this.track = track;
    this.#run = run;
    this.#splitter = new Mp4Splitter(maxBoxSize === undefined ? {} : { maxBoxSize });
  }

  /** Bytes from the pipe; throws the splitter's typed errors (ERR_MP4_*) on a malformed stream. */
  push(bytes: Buffer, now: number): void {
    for (const item of this.#splitter.push(bytes)) {
      if (item.kind === 'init') {
        const t = item.info.tracks[0];
        if (t === undefined) continue;
        this.#packager.init(this.track, {
          // The splitter's items are views into the pushed chunks: the packager keeps them, so copy.
          bytes: Buffer.from(item.bytes),
          codecs: t.codec ?? t.sampleEntry,
          timescale: t.timescale,
          ...(t.width !== undefined ? { width: t.width } : {}),
          ...(t.height !== undefined ? { height: t.height } : {}),
          ...(t.sampleRate !== undefined ? { sampleRate: t.sampleRate } : {}),
          ...(t.channels !== undefined ? { channels: t.channels } : {}),
        }, this.#run);
      } else {
        const t = item.info.tracks[0];
        // ffmpeg always writes a tfdt; a fragment without one has no place on the timeline.
        if (t === undefined || t.baseDecodeTime === undefined) throw new Mp4InvalidError(`track ${this.track}: a fragment without tfdt`);
        this.#packager.fragment(this.track, {
          bytes: item.bytes,
          baseDecodeTime: t.baseDecodeTime,
          duration: t.duration,
          independent: t.firstSampleIsSync,
        }, now, this.#run);
      }
    }
  }
}
