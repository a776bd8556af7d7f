/**
 * The ffmpeg command line for one published stream: FLV on stdin, decoded once,
 * scaled to every rung (x264: each rung from the one above), every rung
 * encoded, audio encoded once, and one set
 * of CMAF (fMP4) segments written by the `dash` muxer with `-hls_playlist 1`, so
 * `manifest.mpd`, `master.m3u8` and the media playlists share the segments.
 *
 * Pure: builds an argument array, spawns nothing. Every option used exists in
 * ffmpeg 4.2 except `-stats_period` (4.4), which is opt-in via `statsPeriod`.
 * See ffmpeg-formats "dash" and ffmpeg-filters "split", "fps", "scale",
 * "scale_cuda", "scale_qsv", "scale_vaapi", "hwupload".
 */
import { isAbsolute } from 'node:path';
import { ProxyRtmpError } from '../errors.ts';
import type { Rung } from './ladder.ts';

/** Which video encoder family encodes every rung. `x264` = software (libx264 / libx265). */
export type EncoderKind = 'x264' | 'nvenc' | 'qsv' | 'vaapi';

/** Everything `buildFfmpegArgs` needs; see `TRANSCODE_DEFAULTS` for the usual values. */
export interface TranscodePlan {
  /** From `planLadder`, high → low. */
  rungs: readonly Rung[];
  encoder: EncoderKind;
  /**
   * Encoder preset. Defaults: x264 `veryfast`, nvenc `fast` (the p1–p7 names need
   * ffmpeg ≥ 4.3; newer ffmpeg still maps `fast`), qsv `veryfast`. VAAPI has no
   * presets, so it is ignored there.
   */
  preset?: string;
  segmentSeconds: number;
  windowSegments: number;
  /** The source has audio. */
  audio: boolean;
  audioKbps: number;
  /** Absolute; the muxer writes `manifest.mpd` and `master.m3u8` here. */
  outputDir: string;
  /** VAAPI render node; default `/dev/dri/renderD128`. */
  vaapiDevice?: string;
  /** `-progress` target, e.g. `pipe:3`. */
  progressUrl?: string;
  /**
   * Name for ffmpeg's own master playlist (`-hls_master_name`, ffmpeg ≥ 4.3), when
   * the caller publishes an augmented `master.m3u8` from it; default: ffmpeg writes `master.m3u8`.
   */
  hlsMasterName?: string;
  /** Add `-stats_period 1` to `-progress` (ffmpeg ≥ 4.4 only; older ones report every ~0.5 s anyway). */
  statsPeriod?: boolean;
}

/** The usual plan values. */
export const TRANSCODE_DEFAULTS = Object.freeze({
  segmentSeconds: 2,
  windowSegments: 6,
  audioKbps: 128,
  vaapiDevice: '/dev/dri/renderD128',
});

const DEFAULT_PRESET: Readonly<Record<EncoderKind, string | undefined>> = {
  x264: 'veryfast',
  nvenc: 'fast',
  qsv: 'veryfast',
  vaapi: undefined,
};

const ENCODERS: Readonly<Record<EncoderKind, Readonly<Record<Rung['codec'], string>>>> = {
  x264: { h264: 'libx264', h265: 'libx265' },
  nvenc: { h264: 'h264_nvenc', h265: 'hevc_nvenc' },
  qsv: { h264: 'h264_qsv', h265: 'hevc_qsv' },
  vaapi: { h264: 'h264_vaapi', h265: 'hevc_vaapi' },
};

/** Segments kept on disk after leaving the manifest window, for slow clients. */
const EXTRA_WINDOW_SEGMENTS = 2;
/**
 * Input probing: 500 kB / 1 s is enough for the FLV header, onMetaData and both
 * sequence headers we send first, and starts fast. (`-fflags nobuffer` is not
 * used: it would drop the packets read while probing, i.e. the first keyframe.)
 */
const PROBE_SIZE = '500000';
const ANALYZE_DURATION_US = '1000000';

function invalid(message: string): ProxyRtmpError {
  return new ProxyRtmpError('ERR_TRANSCODE_PLAN_INVALID', message);
}

/** An fps for the `fps` filter: NTSC rates as exact rationals (29.97 → 30000/1001). */
export function formatFps(fps: number): string {
  if (Number.isInteger(fps)) return String(fps);
  const ntsc = fps * 1.001;
  if (Math.abs(ntsc - Math.round(ntsc)) < 0.005) return `${Math.round(ntsc) * 1000}/1001`;
  return String(fps);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Filter graph: x264 chains the scalers (see chainGraph); hardware uploads and splits once, then fps + scale + setdar per rung. */
function filterGraph(plan: Pick<TranscodePlan, 'rungs' | 'encoder'>): string {
  const n = plan.rungs.length;
  const head: Record<EncoderKind, string> = {
    x264: '',
    nvenc: 'format=yuv420p,hwupload_cuda',
    qsv: 'format=nv12,hwupload=extra_hw_frames=64,format=qsv',
    vaapi: 'format=nv12,hwupload',
  };
  const scale = (r: Rung): string => {
    switch (plan.encoder) {
      case 'x264':
        return `scale=${r.width}:${r.height}`;
      case 'nvenc':
        return `scale_cuda=${r.width}:${r.height}`;
      case 'qsv':
        return `scale_qsv=w=${r.width}:h=${r.height}`;
      case 'vaapi':
        return `scale_vaapi=w=${r.width}:h=${r.height}`;
    }
  };
  // The dash muxer refuses to start when the representations of one adaptation
  // set differ in display aspect ratio (854x480 is not exactly 16:9), and the
  // hardware scalers do not all adjust the SAR. So every rung gets the top
  // rung's display aspect ratio.
  const top = plan.rungs[0]!;
  const g = gcd(top.width, top.height);
  const [num, den] = [top.width / g, top.height / g];
  // setdar approximates ratios with terms above `max` (default 100).
  const dar = num > 100 || den > 100 ? `setdar=dar=${num}/${den}:max=10000` : `setdar=${num}/${den}`;
  const branch = (r: Rung): string => `fps=${formatFps(r.fps)},${scale(r)},${dar}`;
  const prefix = head[plan.encoder];
  if (n === 1) {
    return `[0:v:0]${prefix ? `${prefix},` : ''}${branch(plan.rungs[0]!)}[v0]`;
  }
  if (plan.encoder === 'x264') return chainGraph(plan.rungs, scale, dar);
  const labels = plan.rungs.map((_, i) => `[s${i}]`).join('');
  const parts = [`[0:v:0]${prefix ? `${prefix},` : ''}split=${n}${labels}`];
  plan.rungs.forEach((r, i) => parts.push(`[s${i}]${branch(r)}[v${i}]`));
  return parts.join(';');
}

/**
 * The x264 graph: each rung is scaled from the rung above it (1080p → 720p →
 * 480p → 360p) instead of every rung from the decoded source, so every scaler
 * after the first reads a smaller picture (bench/README.md: up to a fifth
 * less scaling CPU for a 720p source, depending on the ffmpeg build; about 1%
 * of the whole ladder, the encoders being most of it). The fps filter runs once at the head when the rungs share
 * a frame rate. A rung with a higher frame rate than the rung above cannot be
 * derived from it and is scaled from the source instead.
 */
function chainGraph(rungs: readonly Rung[], scale: (r: Rung) => string, dar: string): string {
  const n = rungs.length;
  const fromAbove = rungs.map((r, i) => i > 0 && r.fps <= rungs[i - 1]!.fps);
  const roots = rungs.map((_, i) => i).filter((i) => !fromAbove[i]);
  const parts: string[] = [];
  if (roots.length > 1) parts.push(`[0:v:0]split=${roots.length}${roots.map((i) => `[s${i}]`).join('')}`);
  rungs.forEach((r, i) => {
    const input = fromAbove[i] ? `[c${i - 1}]` : roots.length > 1 ? `[s${i}]` : '[0:v:0]';
    const fps = fromAbove[i] && r.fps === rungs[i - 1]!.fps ? '' : `fps=${formatFps(r.fps)},`;
    const tap = i + 1 < n && fromAbove[i + 1] === true;
    parts.push(`${input}${fps}${scale(r)},${dar}${tap ? `,split=2[v${i}][c${i}]` : `[v${i}]`}`);
  });
  return parts.join(';');
}

/**
 * x264 without its frame look-ahead and with slice threads: a segment can
 * close ~0.5 s sooner after its last frame (publish → playable within the
 * segment duration + 0.3 s) and the ladder costs ~8% less CPU, for ~0.15 dB
 * PSNR (bench/README.md, section 3). B-frames are kept.
 */
export const X264_LIVE_PARAMS = 'sliced-threads=1:rc-lookahead=0';

/** Encoder options for rung `i` (filter output `[v<i>]`), the output's video stream `stream` (default `i`: one output for all). */
function videoOptions(plan: Pick<TranscodePlan, 'segmentSeconds' | 'preset' | 'encoder'> & Pick<PipePlan, 'sourceKeyframes'>, r: Rung, i: number, stream = i): string[] {
  const s = `:v:${stream}`;
  const seg = plan.segmentSeconds;
  const keys = plan.sourceKeyframes;
  // Keyframes on segment boundaries in every rung, so segments align across renditions; with a source
  // passed through, at the source's own keyframes (its regular GOP, half a frame early for ms timestamps).
  const forced = keys === undefined ? `expr:gte(t,n_forced*${seg})` : `expr:gte(t,n_forced*${keys.gopSeconds}-${(0.5 / keys.fps).toFixed(4)})`;
  const gop = String(Math.max(1, Math.round(r.fps * seg)));
  const preset = plan.preset ?? DEFAULT_PRESET[plan.encoder];
  const software = plan.encoder === 'x264';
  const profile = r.codec === 'h265' ? 'main' : r.height >= 720 && r.width >= 720 ? 'high' : 'main';
  const args = [
    '-map', `[v${i}]`,
    `-c${s}`, ENCODERS[plan.encoder][r.codec],
    `-b${s}`, `${r.bitrateKbps}k`,
    `-maxrate${s}`, `${Math.round(r.bitrateKbps * 1.07)}k`,
    `-bufsize${s}`, `${Math.round(r.bitrateKbps * 1.5)}k`,
    `-g${s}`, gop,
    `-force_key_frames${s}`, forced,
    `-profile${s}`, profile,
  ];
  if (preset !== undefined && plan.encoder !== 'vaapi') args.push(`-preset${s}`, preset);
  if (software) {
    args.push(`-keyint_min${s}`, gop, `-pix_fmt${s}`, 'yuv420p');
    if (r.codec === 'h264') args.push(`-sc_threshold${s}`, '0', `-x264-params${s}`, X264_LIVE_PARAMS);
    else args.push(`-x265-params${s}`, 'scenecut=0:open-gop=0', `-tag${s}`, 'hvc1');
  } else if (r.codec === 'h265') {
    args.push(`-tag${s}`, 'hvc1');
  }
  // NVENC turns forced keyframes into plain I frames unless asked for IDR.
  if (plan.encoder === 'nvenc') args.push(`-forced-idr${s}`, '1');
  return args;
}

/** Global options that open the hardware device the filter graph uploads to (none for x264 and NVENC). */
function hardwareDeviceArgs(plan: Pick<TranscodePlan, 'encoder' | 'vaapiDevice'>): string[] {
  if (plan.encoder === 'vaapi') return ['-vaapi_device', plan.vaapiDevice ?? TRANSCODE_DEFAULTS.vaapiDevice];
  if (plan.encoder === 'qsv') return ['-init_hw_device', 'qsv=hw', '-filter_hw_device', 'hw'];
  return [];
}

/** What a start-up test encode needs: the live run's video settings, a synthetic source and a length. */
export interface TestEncodePlan extends Pick<TranscodePlan, 'rungs' | 'encoder' | 'preset' | 'segmentSeconds' | 'vaapiDevice'> {
  /** Size and rate of the `testsrc2` source. */
  source: { width: number; height: number; fps: number };
  /** Frames to encode (`-frames:v`). */
  frames: number;
}

/**
 * The arguments of a test encode that proves `plan.encoder` works: a `testsrc2`
 * source through exactly the live run's device options, filter graph (upload,
 * split, fps, hardware scaler) and per-rung encoder options, into `-f null`.
 * Built from the same pieces as {@link buildFfmpegArgs}, so the two cannot diverge.
 */
export function buildTestEncodeArgs(plan: TestEncodePlan): string[] {
  if (plan.rungs.length === 0) throw invalid('the plan has no rungs');
  const full: TranscodePlan = { ...plan, windowSegments: 1, audio: false, audioKbps: 0, outputDir: '/' };
  const { width, height, fps } = plan.source;
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats', ...hardwareDeviceArgs(plan)];
  args.push('-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${formatFps(fps)}`, '-filter_complex', filterGraph(full));
  plan.rungs.forEach((r, i) => args.push(...videoOptions(full, r, i)));
  args.push('-frames:v', String(plan.frames), '-f', 'null', '-');
  return args;
}

/**
 * What every live run starts with: quiet logging, `-progress`, the hardware
 * device, the FLV input on stdin (probed briefly) and the ladder's filter graph.
 */
function liveInputArgs(plan: Pick<TranscodePlan, 'rungs' | 'encoder' | 'vaapiDevice' | 'progressUrl' | 'statsPeriod'>, overwrite: boolean): string[] {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-nostats'];
  if (plan.progressUrl !== undefined) {
    args.push('-progress', plan.progressUrl);
    if (plan.statsPeriod) args.push('-stats_period', '1');
  }
  if (overwrite) args.push('-y');
  args.push(...hardwareDeviceArgs(plan));
  args.push(
    '-fflags', '+genpts',
    '-probesize', PROBE_SIZE,
    '-analyzeduration', ANALYZE_DURATION_US,
    '-f', 'flv', '-i', 'pipe:0',
    '-filter_complex', filterGraph(plan),
  );
  return args;
}

/**
 * Builds the ffmpeg arguments (without the `ffmpeg` itself) for `plan`.
 * Output stream order: one video stream per rung (high → low), then audio.
 *
 * @throws ProxyRtmpError `ERR_TRANSCODE_PLAN_INVALID` for no rungs, a relative
 *   `outputDir`, or a non-positive segment duration / window / audio bitrate.
 */
export function buildFfmpegArgs(plan: TranscodePlan): string[] {
  if (plan.rungs.length === 0) throw invalid('the plan has no rungs');
  if (!isAbsolute(plan.outputDir)) throw invalid(`outputDir ${JSON.stringify(plan.outputDir)} is not absolute`);
  if (!(plan.segmentSeconds > 0)) throw invalid(`segmentSeconds ${plan.segmentSeconds} is not positive`);
  if (!Number.isInteger(plan.windowSegments) || plan.windowSegments < 1) {
    throw invalid(`windowSegments ${plan.windowSegments} is not a positive integer`);
  }
  if (plan.audio && !(plan.audioKbps > 0)) throw invalid(`audioKbps ${plan.audioKbps} is not positive`);

  // A restarted process must overwrite the previous manifest rather than prompt.
  const args = liveInputArgs(plan, true);
  plan.rungs.forEach((r, i) => args.push(...videoOptions(plan, r, i)));
  if (plan.audio) {
    // FLV timestamps are whole milliseconds; without async resampling the AAC
    // packets come out with jittered, sometimes negative durations in the mp4 muxer.
    args.push('-map', '0:a:0?', '-af', 'aresample=async=1', '-c:a', 'aac', '-b:a', `${plan.audioKbps}k`, '-ac', '2', '-ar', '48000');
  }

  const dir = plan.outputDir.replace(/\/+$/, '');
  args.push(
    '-max_muxing_queue_size', '1024',
    '-f', 'dash',
    '-seg_duration', String(plan.segmentSeconds),
    '-window_size', String(plan.windowSegments),
    '-extra_window_size', String(EXTRA_WINDOW_SEGMENTS),
    '-remove_at_exit', '0',
    '-use_template', '1',
    '-use_timeline', '1',
    '-hls_playlist', '1',
    ...(plan.hlsMasterName === undefined ? [] : ['-hls_master_name', plan.hlsMasterName]),
    '-adaptation_sets', plan.audio ? 'id=0,streams=v id=1,streams=a' : 'id=0,streams=v',
    '-init_seg_name', 'init-$RepresentationID$.m4s',
    '-media_seg_name', 'chunk-$RepresentationID$-$Number%05d$.m4s',
    '-streaming', '1',
    '-dash_segment_type', 'mp4',
    `${dir}/manifest.mpd`,
  );
  return args;
}

/** What {@link buildCmafPipeArgs} needs. */
export interface PipePlan extends Pick<TranscodePlan, 'rungs' | 'encoder' | 'preset' | 'segmentSeconds' | 'audio' | 'audioKbps' | 'vaapiDevice' | 'progressUrl' | 'statsPeriod'> {
  /** Fragment (CMAF chunk, LL-HLS part) duration in seconds; fragments also cut at every keyframe. */
  partSeconds: number;
  /** File descriptor of the first output; the rungs follow high → low, then audio. */
  firstFd: number;
  /**
   * When the source is passed through as the top rung: its measured regular
   * GOP and frame rate, so every encoded rung puts its keyframes where the
   * source has them (`-force_key_frames source` adds or misplaces some by a
   * frame or two with B-frames in both 4.2.1 and 5.1; an expression on the
   * frame time, half a frame early for ms timestamps, does not).
   */
  sourceKeyframes?: { gopSeconds: number; fps: number };
}

/** The output file descriptors of a pipe plan: one per rung (high → low), then one for audio. */
export function pipeOutputFds(plan: Pick<PipePlan, 'rungs' | 'audio' | 'firstFd'>): { video: number[]; audio: number | undefined } {
  const video = plan.rungs.map((_, i) => plan.firstFd + i);
  return { video, audio: plan.audio ? plan.firstFd + plan.rungs.length : undefined };
}

/** Video timescale of every rung: 90 kHz whatever the frame rate, so a new run never changes it. */
export const VIDEO_TIMESCALE = 90_000;

/**
 * Fragmented-MP4 muxer options (ffmpeg-formats "mov, mp4, ismv"): an init
 * segment with no samples (`empty_moov`), then one moof+mdat per
 * `-frag_duration` and at every keyframe, and tfdt-relative offsets
 * (`default_base_moof`, as CMAF requires). Not `negative_cts_offsets`: with
 * x264's B-frames, ffmpeg 4.2.1 then writes every frame after the first two
 * frames late (decode times 0, 9000, 12000… at 30 fps), so its segments
 * started 2 frames after the source's keyframes and the other rungs'; 5.1
 * writes the same times with or without it, and neither writes an edit list.
 */
function cmafMuxerArgs(partSeconds: number, fd: number): string[] {
  return [
    '-f', 'mp4',
    '-movflags', '+empty_moov+default_base_moof+frag_keyframe',
    '-frag_duration', String(Math.round(partSeconds * 1e6)),
    `pipe:${fd}`,
  ];
}

/**
 * The ffmpeg arguments for `plan` when proxy-rtmp packages the output itself:
 * FLV on stdin, decoded once, every rung encoded as for {@link buildFfmpegArgs},
 * but each rung, and the audio, written as fragmented MP4 (CMAF) to its own
 * pipe ({@link pipeOutputFds}). Audio has an output of its own because
 * muxing it with a video rung would hold fragments back for interleaving.
 */
export function buildCmafPipeArgs(plan: PipePlan): string[] {
  if (plan.rungs.length === 0) throw invalid('the plan has no rungs');
  if (!(plan.segmentSeconds > 0)) throw invalid(`segmentSeconds ${plan.segmentSeconds} is not positive`);
  if (!(plan.partSeconds > 0) || plan.partSeconds > plan.segmentSeconds) {
    throw invalid(`partSeconds ${plan.partSeconds} is not between 0 and segmentSeconds`);
  }
  if (plan.audio && !(plan.audioKbps > 0)) throw invalid(`audioKbps ${plan.audioKbps} is not positive`);
  if (!Number.isInteger(plan.firstFd) || plan.firstFd < 3) throw invalid(`firstFd ${plan.firstFd} is not an extra file descriptor`);

  const args = liveInputArgs(plan, false);
  const fds = pipeOutputFds(plan);
  plan.rungs.forEach((r, i) => {
    args.push(...videoOptions(plan, r, i, 0), '-video_track_timescale', String(VIDEO_TIMESCALE), ...cmafMuxerArgs(plan.partSeconds, fds.video[i]!));
  });
  if (fds.audio !== undefined) {
    // FLV timestamps are whole milliseconds; without async resampling the AAC
    // packets come out with jittered, sometimes negative durations in the mp4 muxer.
    args.push('-map', '0:a:0', '-af', 'aresample=async=1', '-c:a', 'aac', '-b:a', `${plan.audioKbps}k`, '-ac', '2', '-ar', '48000');
    args.push(...cmafMuxerArgs(plan.partSeconds, fds.audio));
  }
  return args;
}
