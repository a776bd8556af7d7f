/**
 * Adaptive-bitrate ladder planning: which renditions to encode for one source.
 *
 * Pure: no ffmpeg, no I/O. `planLadder` turns a configured ladder and what we
 * measured about the published stream into the rungs the transcoder encodes.
 */
import { ProxyRtmpError } from '../errors.ts';

/** One rendition of the ladder. `height` is the short side (see `planLadder`). */
export interface Rung {
  name: string;
  width: number;
  height: number;
  bitrateKbps: number;
  fps: number;
  codec: 'h264' | 'h265';
}

/** The built-in 16:9 H.264 ladder, high → low. */
export const DEFAULT_LADDER: readonly Rung[] = Object.freeze([
  Object.freeze({ name: '1080p', width: 1920, height: 1080, bitrateKbps: 5000, fps: 30, codec: 'h264' as const }),
  Object.freeze({ name: '720p', width: 1280, height: 720, bitrateKbps: 3000, fps: 30, codec: 'h264' as const }),
  Object.freeze({ name: '480p', width: 854, height: 480, bitrateKbps: 1500, fps: 30, codec: 'h264' as const }),
  Object.freeze({ name: '360p', width: 640, height: 360, bitrateKbps: 800, fps: 30, codec: 'h264' as const }),
]);

/** What we know about the published video (from its sequence header and measured stats). */
export interface SourceInfo {
  width: number;
  height: number;
  fps?: number;
  /** The bitrate cap (the measured source bitrate, else the one onMetaData declares). */
  bitrateKbps?: number;
  /**
   * Fraction of each rung's configured bitrate below which the cap does not
   * take it (default 0: no floor). See CAP_FLOOR.
   */
  capFloor?: number;
}

/**
 * The floor the transcoder puts under a rung's capped bitrate: a fifth of the
 * rung's configured bitrate (1000k for the default 1080p rung, 600k for 720p,
 * 300k for 480p, 160k for 360p). The cap is measured once, over the first
 * seconds; a source that starts on black frames or a still slide measures
 * far below what it sends later, and a rung capped at that would stay starved
 * for the whole stream. A cap at or above the floor applies as it is.
 */
export const CAP_FLOOR = 0.2;

/** Aspect ratios within this relative distance of 16:9 count as 16:9 (853x480, 1918x1080). */
const WIDESCREEN_TOLERANCE = 0.01;
/**
 * A rung counts as "not an upscale" when the source short side is at least this
 * fraction of the rung height; it is then clamped to the source size. This keeps
 * e.g. a 853x479 source from losing its 480p rung to a one-pixel shortfall.
 */
const SNAP_TOLERANCE = 0.98;

function evenFloor(n: number): number {
  return Math.max(2, Math.floor(n / 2) * 2);
}

function evenRound(n: number): number {
  return Math.max(2, Math.round(n / 2) * 2);
}

function invalid(message: string): ProxyRtmpError {
  return new ProxyRtmpError('ERR_TRANSCODE_LADDER_INVALID', message);
}

function positive(n: number | undefined): n is number {
  return n !== undefined && Number.isFinite(n) && n > 0;
}

/**
 * Plans the renditions for one source.
 *
 * - Orientation: a rung's `height` is the short side. Landscape sources get
 *   `width × height`; portrait sources (height > width) get the rung transposed,
 *   so the "720p" rung of a 720x1280 phone stream is 720x1280. `maxHeight` and
 *   the no-upscale rule also compare short sides.
 * - Never upscale: rungs taller than the source short side (or its width) are
 *   dropped; a rung within 2% of the source is kept and clamped to the source.
 * - Aspect: near-16:9 sources use the rung's own width; other sources keep their
 *   aspect ratio (width = round-to-even(height × srcW / srcH)).
 * - A source below every rung (or every rung above `maxHeight`) gets exactly one
 *   rung at its own size (capped at `maxHeight`), named after its short side
 *   (e.g. "240p"), with the lowest rung's bitrate, fps and codec.
 * - Bitrate is capped at the source bitrate (but not below `capFloor` of the
 *   rung's own); fps at the source fps
 *   (non-integer rates such as 29.97 are kept). Bitrate is not rescaled for
 *   aspect changes.
 * - All dimensions even; output sorted high → low; duplicate short sides removed
 *   (the first, higher-bitrate rung wins).
 *
 * @throws ProxyRtmpError `ERR_TRANSCODE_LADDER_INVALID` for an empty ladder, a
 *   non-positive source size or a non-positive `maxHeight`.
 */
export function planLadder(ladder: readonly Rung[], source: SourceInfo, maxHeight: number): Rung[] {
  if (ladder.length === 0) throw invalid('the ladder has no rungs');
  if (!positive(source.width) || !positive(source.height)) {
    throw invalid(`source size ${source.width}x${source.height} is not positive`);
  }
  if (!positive(maxHeight)) throw invalid(`maxHeight ${maxHeight} is not positive`);

  const portrait = source.height > source.width;
  const srcShort = portrait ? source.width : source.height;
  const srcLong = portrait ? source.height : source.width;
  const widescreen = Math.abs(srcLong / srcShort / (16 / 9) - 1) <= WIDESCREEN_TOLERANCE;

  const fit = (rung: Rung, short: number, long: number, name: string): Rung => {
    const fps = positive(source.fps) && source.fps < rung.fps ? source.fps : rung.fps;
    const floor = positive(source.capFloor) ? Math.round(rung.bitrateKbps * Math.min(1, source.capFloor)) : 0;
    const bitrateKbps = positive(source.bitrateKbps)
      ? Math.max(1, Math.min(rung.bitrateKbps, Math.max(floor, Math.floor(source.bitrateKbps))))
      : rung.bitrateKbps;
    return portrait
      ? { name, width: short, height: long, bitrateKbps, fps, codec: rung.codec }
      : { name, width: long, height: short, bitrateKbps, fps, codec: rung.codec };
  };

  const longFor = (short: number, preferred: number | undefined): number =>
    Math.min(evenRound(preferred ?? (short * srcLong) / srcShort), evenFloor(srcLong));

  const planned: Rung[] = [];
  for (const rung of ladder) {
    if (rung.height > maxHeight) continue;
    if (srcShort < rung.height * SNAP_TOLERANCE) continue;
    const short = Math.min(rung.height, evenFloor(srcShort));
    const long = longFor(short, widescreen && short === rung.height ? rung.width : undefined);
    planned.push(fit(rung, short, long, rung.name));
  }

  if (planned.length === 0) {
    const lowest = ladder.reduce((a, b) => (b.height < a.height ? b : a));
    const short = evenFloor(Math.min(srcShort, maxHeight));
    planned.push(fit(lowest, short, longFor(short, undefined), `${short}p`));
  }

  const shortSide = (r: Rung): number => Math.min(r.width, r.height);
  planned.sort((a, b) => shortSide(b) - shortSide(a) || b.bitrateKbps - a.bitrateKbps);
  return planned.filter((r, i) => i === 0 || shortSide(planned[i - 1]!) !== shortSide(r));
}
