/**
 * Whether a published H.264 source can be packaged as it is, as the top rung
 * of its ladder (issue 15), and what the first seconds of it measure. Pure: no
 * ffmpeg, no I/O, no clock; fed media messages, table-tested.
 *
 * The source fits when all of these hold, checked in this order (the first
 * that fails is the reason given):
 * 1. codec: H.264 (an AVC sequence header);
 * 2. profile: baseline (66), main (77) or high (100): what every player
 *    decodes (no 10-bit, 4:2:2 or 4:4:4 profiles);
 * 3. size: the source is the top planned rung's size (within the 2 pixels
 *    planLadder's even rounding takes off), or it lies between two configured
 *    rungs: it then is the top rung at its own size, named after its short
 *    side, with the budget of the rung just above it (never upscaled, and a
 *    source larger than every rung allowed is never passed through);
 * 4. frame rate: the measured rate at most the rung's (+5%);
 * 5. keyframes on the segment grid: at least MEASURE_GOPS whole GOPs measured,
 *    the mean GOP G is segmentSeconds / k for a whole k ≥ 1, and every
 *    keyframe in the window lies within half a frame of i·G after the first.
 *    Then every grid line of the packager has a source keyframe on it;
 * 6. bitrate: the video bitrate measured over the window (payload bytes of
 *    every coded frame from the first keyframe up to the window's last one,
 *    over that span) at most the budget + BITRATE_TOLERANCE (10%): a source
 *    within a tenth of its rung's budget is what an encoder at that budget
 *    would also send, give or take its rate control.
 */
import type { Rung } from './ladder.ts';

/** How far over its rung's budget a passed-through source may measure (fraction). */
export const BITRATE_TOLERANCE = 0.1;
/** Whole GOPs measured before the decision (when the GOP equals the segment: 2 × segmentSeconds). */
export const MEASURE_GOPS = 2;
/**
 * The longest a `cap` meter measures (ms of source time) when no keyframe
 * comes sooner. Every held millisecond is one the encoder later has to catch
 * up on instead of encoding it as it arrives: held over a whole 2 s GOP, the
 * first playlist of a 720p stream came 5.3 s after publish (2.6 and 3.1 s
 * unheld) on a shared 2-core box; held over 1 s, 3.0 and 3.1 s (`npm run
 * bench -- --only latency`). Over the first second of a longer GOP the keyframe weighs more,
 * so the cap reads high (+22% on the bench's 720p source with a 2 s GOP, +2%
 * on the e2e's 600k 704x396 one): a looser cap, never a starved rung.
 */
export const CAP_WINDOW_MS = 1000;
/** H.264 profile_idc values passed through: baseline, main, high. */
const PROFILES = new Set([66, 77, 100]);
/** Slack on the measured frame rate against the rung's (timestamps are whole ms). */
const FPS_SLACK = 1.05;
/** Pixels planLadder's even rounding may take off the source size. */
const SIZE_SLACK = 2;

/** What the first seconds of a source measured. */
export interface SourceMeasurement {
  /** Keyframe decode times in ms after the first keyframe, the first being 0, the last closing the window. */
  readonly keyframesMs: readonly number[];
  /** Video bitrate over the window, kbps. */
  readonly kbps: number;
  /** Video frames per second over the window. */
  readonly fps: number;
}

/** What the decision reads of the source and the plan. */
export interface FitInput {
  readonly video: { readonly codec: string; readonly profile?: number; readonly width: number; readonly height: number };
  readonly measured: SourceMeasurement;
  /** The configured ladder, high → low. */
  readonly ladder: readonly Rung[];
  /** planLadder's result for this source. */
  readonly planned: readonly Rung[];
  readonly maxHeight: number;
  readonly segmentSeconds: number;
}

/** The decision: the rung the source stands as, and which planned rung it replaces (none when it lies between two). */
export type FitDecision =
  | { readonly fits: true; readonly rung: Rung; readonly replaces: string | undefined; readonly gopSeconds: number }
  | { readonly fits: false; readonly reason: string };

const short = (r: { width: number; height: number }) => Math.min(r.width, r.height);
const kbpsText = (kbps: number) => (kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbps` : `${Math.round(kbps)} kbps`);
const seconds = (ms: number) => `${+(ms / 1000).toFixed(3)} s`;

/** The rung the source would stand as, from rules 1-3 (nothing measured), or why it cannot. */
export type RungFit =
  | { readonly fits: true; readonly rung: Rung; readonly replaces: string | undefined; readonly budget: number }
  | { readonly fits: false; readonly reason: string };

/** Rules 1-3 of the module comment: what the sequence header and the plan alone decide. */
export function fitRung(input: Omit<FitInput, 'measured'>): RungFit {
  const { video, planned } = input;
  const off = (reason: string): RungFit => ({ fits: false, reason });
  if (video.codec !== 'h264') return off(`codec ${video.codec} is not H.264`);
  if (video.profile === undefined || !PROFILES.has(video.profile)) {
    return off(`H.264 profile ${video.profile ?? 'unknown'} is not baseline, main or high`);
  }

  const top = planned[0];
  if (top === undefined) return off('no rung planned');
  let rung: Rung;
  let replaces: string | undefined;
  let budget: number;
  if (Math.abs(top.width - video.width) <= SIZE_SLACK && Math.abs(top.height - video.height) <= SIZE_SLACK) {
    const configured = input.ladder.find((r) => r.name === top.name);
    budget = configured?.bitrateKbps ?? top.bitrateKbps;
    rung = { ...top, width: video.width, height: video.height };
    replaces = top.name;
  } else {
    const srcShort = short(video);
    const above = input.ladder
      .filter((r) => r.height <= input.maxHeight && r.height > srcShort)
      .sort((a, b) => a.height - b.height)[0];
    if (above === undefined || srcShort < short(top)) {
      const tallest = input.ladder.filter((r) => r.height <= input.maxHeight).sort((a, b) => b.height - a.height)[0];
      return off(`source ${video.width}x${video.height} is larger than the top rung${tallest ? ` (${tallest.name})` : ''}`);
    }
    budget = above.bitrateKbps;
    rung = { name: `${srcShort}p`, width: video.width, height: video.height, bitrateKbps: budget, fps: above.fps, codec: 'h264' };
  }
  return { fits: true, rung, replaces, budget };
}

/** Decides whether the source passes through as the top rung; see the module comment for the rules. */
export function decidePassthrough(input: FitInput): FitDecision {
  const { measured } = input;
  const off = (reason: string): FitDecision => ({ fits: false, reason });
  const fit = fitRung(input);
  if (!fit.fits) return fit;
  const { rung, replaces, budget } = fit;

  if (measured.fps > rung.fps * FPS_SLACK) return off(`frame rate ${measured.fps.toFixed(2)} above the rung's ${rung.fps}`);

  const keys = measured.keyframesMs;
  const segMs = input.segmentSeconds * 1000;
  if (keys.length < MEASURE_GOPS + 1) {
    const gop = keys.length >= 2 ? keys[1]! - keys[0]! : undefined;
    return off(gop !== undefined ? `GOP ${seconds(gop)} is longer than the ${input.segmentSeconds} s segment` : `GOP longer than the ${input.segmentSeconds} s segment`);
  }
  const meanGop = (keys.at(-1)! - keys[0]!) / (keys.length - 1);
  const perSegment = Math.round(segMs / meanGop);
  if (perSegment < 1) return off(`GOP ${seconds(meanGop)} is longer than the ${input.segmentSeconds} s segment`);
  const period = segMs / perSegment;
  const halfFrame = 500 / (measured.fps > 0 ? measured.fps : rung.fps);
  if (Math.abs(meanGop - period) * (keys.length - 1) > halfFrame) {
    return off(`GOP ${seconds(meanGop)} does not divide the ${input.segmentSeconds} s segment`);
  }
  if (!keys.every((k, i) => Math.abs(k - keys[0]! - i * period) <= halfFrame)) {
    const gops = keys.slice(1).map((k, i) => k - keys[i]!);
    return off(`keyframes irregular (GOPs ${seconds(Math.min(...gops))} to ${seconds(Math.max(...gops))})`);
  }

  if (measured.kbps > budget * (1 + BITRATE_TOLERANCE)) return off(`bitrate ${kbpsText(measured.kbps)} over the ${budget}k budget`);
  return { fits: true, rung: { ...rung, bitrateKbps: Math.max(1, Math.round(measured.kbps)) }, replaces, gopSeconds: period / 1000 };
}

/** What the meter reads of a media message. */
export interface MeteredMessage {
  readonly typeId: number;
  readonly timestamp: number;
  readonly payload: { readonly length: number };
  readonly keyframe: boolean;
  readonly config: boolean;
  readonly frame: boolean;
}

/**
 * How long a meter measures: `passthrough`, what the decision needs (whole
 * GOPs on the segment grid); `cap`, only the bitrate that caps the rungs (one
 * GOP, or the start of a longer one).
 */
export type MeterSpan = 'passthrough' | 'cap';

/**
 * Measures the first seconds of a source: from its first video keyframe, the
 * video payload bytes, frames and keyframe times, until
 * - `passthrough`: the first keyframe at least MEASURE_GOPS × segmentSeconds
 *   after it (less a frame's slack), or, when none comes, until
 *   (MEASURE_GOPS + 1) × segmentSeconds have gone by (then the GOP is too
 *   long and the decision says so);
 * - `cap`: the next keyframe, or CAP_WINDOW_MS, whichever comes first: the
 *   bitrate over one GOP, or over the start of a longer one (which, with its
 *   keyframe, over-estimates the source: a cap only looser than it could be).
 * Times are source timestamps read as signed 32-bit steps.
 */
export class SourceMeter {
  readonly #windowMs: number;
  readonly #maxMs: number;
  #first: number | undefined;
  #keys: number[] = [];
  #bytes = 0;
  #frames = 0;
  #spanMs = 0;
  #done = false;

  constructor(segmentSeconds: number, span: MeterSpan = 'passthrough') {
    this.#windowMs = span === 'cap' ? 1 : MEASURE_GOPS * segmentSeconds * 1000 - 50;
    this.#maxMs = span === 'cap' ? CAP_WINDOW_MS : (MEASURE_GOPS + 1) * segmentSeconds * 1000;
  }

  /** Takes one message; returns true once the window is complete (the message that completes it is not counted). */
  push(message: MeteredMessage): boolean {
    if (this.#done) return true;
    if (message.typeId !== 9 || message.config || !message.frame) return false;
    if (this.#first === undefined) {
      if (!message.keyframe) return false;
      this.#first = message.timestamp;
    }
    const at = (message.timestamp - this.#first) | 0;
    if ((message.keyframe && at >= this.#windowMs) || at >= this.#maxMs) {
      if (message.keyframe) this.#keys.push(at);
      this.#spanMs = at;
      this.#done = true;
      return true;
    }
    if (message.keyframe) this.#keys.push(at);
    this.#bytes += message.payload.length;
    this.#frames++;
    return false;
  }

  get done(): boolean {
    return this.#done;
  }

  /** What the window measured (so far, before it is done). */
  get measurement(): SourceMeasurement {
    const span = this.#spanMs > 0 ? this.#spanMs : 1;
    return { keyframesMs: this.#keys.slice(), kbps: (this.#bytes * 8) / span, fps: (this.#frames * 1000) / span };
  }
}
