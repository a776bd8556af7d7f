/**
 * The measuring window (issue 15): from a stream's first video keyframe, its
 * media messages are held while a SourceMeter (passthrough-fit.ts) measures
 * the source, then handed back, in order, once the window closes, so that the
 * transcoder plans the ladder from what was measured and starts ffmpeg on
 * them: nothing is lost, the first segment only comes that much later.
 *
 * Two lengths, by what the plan needs:
 * - `passthrough` (a source that may be packaged as the top rung): MEASURE_GOPS
 *   whole GOPs, at most (MEASURE_GOPS + 1) segment durations;
 * - `cap` (every other stream with video): the next keyframe or CAP_WINDOW_MS
 *   (1 s) of source time, whichever comes first; only the bitrate that caps
 *   the rungs is read of it.
 *
 * The window also closes early, with nothing measured, when what it holds
 * would pass `maxHeldBytes`, or when the caller cuts it (the stream ended).
 * Pure: no timers, no I/O; fed media messages.
 */
import type { MediaMessage } from '../media/media-message.ts';
import { SourceMeter, type MeterSpan, type SourceMeasurement } from './passthrough-fit.ts';

/** How a window closed: what it held, and what it measured (undefined when `cut` says why it closed early). */
export interface WindowClose {
  /** The messages held, in the order they came, each a copy that owns its payload. */
  readonly held: MediaMessage[];
  readonly measurement: SourceMeasurement | undefined;
  readonly cut: string | undefined;
}

/** One stream's measuring window; see the module comment. */
export class MeasuringWindow {
  /** What the window measures for: passthrough's decision, or the bitrate cap alone. */
  readonly span: MeterSpan;
  readonly #meter: SourceMeter;
  readonly #maxHeldBytes: number;
  #held: MediaMessage[] = [];
  #heldBytes = 0;
  #closed = false;

  constructor(span: MeterSpan, segmentSeconds: number, maxHeldBytes: number) {
    this.span = span;
    this.#meter = new SourceMeter(segmentSeconds, span);
    this.#maxHeldBytes = maxHeldBytes;
  }

  /**
   * Takes one message: holds it (undefined), or closes the window and returns
   * what it held. The message that closes it is not held: the caller passes
   * it on after the held ones.
   */
  push(message: MediaMessage): WindowClose | undefined {
    if (this.#closed) throw new Error('the measuring window is closed');
    const complete = this.#meter.push(message);
    if (complete) return this.#close(undefined);
    if (this.#heldBytes + message.payload.length > this.#maxHeldBytes) {
      return this.#close(`over ${this.#maxHeldBytes} bytes in the measuring window`);
    }
    // The payload may be a view of a socket buffer that is reused.
    this.#held.push({ ...message, payload: Buffer.from(message.payload) });
    this.#heldBytes += message.payload.length;
    return undefined;
  }

  /** Closes the window before it is complete (`why`): what it held, nothing measured. */
  cut(why: string): WindowClose {
    if (this.#closed) throw new Error('the measuring window is closed');
    return this.#close(why);
  }

  /** Messages held so far. */
  get heldCount(): number {
    return this.#held.length;
  }

  #close(cut: string | undefined): WindowClose {
    this.#closed = true;
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    return { held, measurement: cut === undefined ? this.#meter.measurement : undefined, cut };
  }
}
