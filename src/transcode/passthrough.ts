import { AvcFragmenter } from '../package/avc-fragmenter.ts';
import type { StreamPackager } from '../package/stream-packager.ts';

export type { PassthroughState } from './transcode-state.ts';

/** The run timestamp (ms) of an FLV tag (FLV spec E.3: UI24 Timestamp, UI8 TimestampExtended). */
export function flvTagTime(tag: Buffer): number {
  return (tag[7]! * 0x1000000 + tag.readUIntBE(4, 3)) >>> 0;
}

/**
 * The passed-through top rung of one run: the source's video as the GopFeed
 * writes it to ffmpeg (same tags, same run clock), remuxed by AvcFragmenter
 * into the packager's track `track`, so its fragments share the run's
 * timeline with ffmpeg's rungs and audio.
 */
export class PassthroughTrack {
  readonly track: string;
  readonly #packager: StreamPackager;
  readonly #run: number;
  readonly #fragmenter: AvcFragmenter;

  /** Sends the init segment at once; throws Media* errors on a bad record. */
  constructor(packager: StreamPackager, track: string, run: number, avcC: Buffer, partSeconds: number) {
    this.#packager = packager;
    this.track = track;
    this.#run = run;
    this.#fragmenter = new AvcFragmenter(avcC, { partSeconds });
    packager.init(track, this.#fragmenter.init, run);
  }

  /** One video message body at `timeMs` on the run's clock (what the feed wrote to ffmpeg), at wall clock `now`. */
  push(timeMs: number, body: Buffer, now: number): void {
    const fragments = this.#fragmenter.push(timeMs, body);
    for (const f of fragments) this.#packager.fragment(this.track, f, now, this.#run);
  }

  /** The run ends: what is held goes out. */
  flush(now: number): void {
    for (const f of this.#fragmenter.flush()) this.#packager.fragment(this.track, f, now, this.#run);
  }
}
