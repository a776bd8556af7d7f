/**
 * Which video encoder transcodes, decided once at start-up by test encodes.
 *
 * A candidate is an encoder family on one ffmpeg binary (and, for VAAPI, one
 * render node). It is proven only by a real ~1 s encode of a `testsrc2` source
 * through exactly the live run's device options, filter graph (upload, split,
 * hardware scaler) and per-rung encoder options (`buildTestEncodeArgs`, built
 * from the same pieces as the live arguments), never by listing encoders or
 * finding a device file.
 *
 * `auto` tries NVENC, QSV, VAAPI (each render node), each on the chosen binary
 * first and then on the alternatives (a system ffmpeg may have NVENC where the
 * carried static one does not), then x264 on the chosen binary. The first
 * success decides the encoder and the binary. A forced encoder tries only that
 * family; when it fails, start-up fails with ffmpeg's message.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { EncoderUnavailableError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { buildTestEncodeArgs, type EncoderKind } from '../transcode/ffmpeg-args.ts';
import { planLadder, type Rung } from '../transcode/ladder.ts';

/** `ffmpeg.encoder`: `auto` or one forced family. */
export type EncoderMode = 'auto' | EncoderKind;

/** What detection needs of an ffmpeg binary (a located `FfmpegBinary` satisfies it). */
export interface EncoderBinary {
  readonly path: string;
  readonly source: string;
}

/** The binaries to try: the chosen one first, then the alternatives (an `FfmpegLocation` satisfies it). */
export interface EncoderBinaries<B extends EncoderBinary> {
  readonly chosen: B;
  readonly alternatives: readonly B[];
}

/** Hardware families in the order `auto` tries them. */
export const HARDWARE_ORDER: readonly EncoderKind[] = ['nvenc', 'qsv', 'vaapi'];

/** Frames of a test encode (~1 s at 30 fps). */
export const TEST_ENCODE_FRAMES = 30;
/** The test encode's source: 720p, so a ladder's 720p and 480p rungs are both scaled to. */
export const TEST_ENCODE_SOURCE = Object.freeze({ width: 1280, height: 720 });

/** Where VAAPI render nodes are looked for when `ffmpeg.vaapiDevice` is ''. */
export const DRI_DIR = '/dev/dri';

/** One encoder family on one binary (and one render node for VAAPI). */
export interface EncoderCandidate<B extends EncoderBinary = EncoderBinary> {
  readonly encoder: EncoderKind;
  readonly ffmpeg: B;
  readonly vaapiDevice?: string;
  /** Set when the candidate cannot even be tried (no render node): the rejection reason. */
  readonly unavailable?: string;
}

/** A candidate and how its test encode went. */
export interface EncoderAttempt<B extends EncoderBinary = EncoderBinary> extends EncoderCandidate<B> {
  readonly ok: boolean;
  /** Why it was rejected (ffmpeg's meaningful stderr lines); '' when ok. */
  readonly reason: string;
  readonly elapsedMs: number;
}

/** The result of {@link detectEncoder}. */
export interface EncoderDetection<B extends EncoderBinary = EncoderBinary> {
  readonly mode: EncoderMode;
  /** The encoder (and binary, render node) that runs; undefined when not even x264 works. */
  readonly chosen: EncoderCandidate<B> | undefined;
  /** Every candidate tried, in order; the chosen one is the last. */
  readonly attempts: readonly EncoderAttempt<B>[];
  readonly elapsedMs: number;
}

/** The result of one test encode. */
export interface TestEncodeResult {
  readonly ok: boolean;
  readonly reason: string;
  readonly elapsedMs: number;
}

/**
 * The candidates for `mode`, in the order they are tried. VAAPI gets one per
 * render node; with none, one `unavailable` candidate records why.
 */
export function encoderCandidates<B extends EncoderBinary>(
  mode: EncoderMode,
  binaries: EncoderBinaries<B>,
  renderNodes: readonly string[],
): EncoderCandidate<B>[] {
  const all = [binaries.chosen, ...binaries.alternatives.filter((b) => b.path !== binaries.chosen.path)];
  const family = (encoder: EncoderKind): EncoderCandidate<B>[] => {
    if (encoder === 'x264') return [{ encoder, ffmpeg: binaries.chosen }];
    if (encoder !== 'vaapi') return all.map((ffmpeg) => ({ encoder, ffmpeg }));
    if (renderNodes.length === 0) {
      return [{ encoder, ffmpeg: binaries.chosen, unavailable: `no VAAPI render node (${DRI_DIR}/renderD*)` }];
    }
    return all.flatMap((ffmpeg) => renderNodes.map((vaapiDevice) => ({ encoder, ffmpeg, vaapiDevice })));
  };
  if (mode !== 'auto') return family(mode);
  return [...HARDWARE_ORDER.flatMap(family), ...family('x264')];
}

/** The render nodes to try: the configured one, else every `renderD<n>` under `dir` in numeric order. */
export async function renderNodes(configured: string, dir = DRI_DIR): Promise<string[]> {
  if (configured !== '') return [configured];
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((n) => /^renderD\d+$/.test(n))
    .sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)))
    .map((n) => `${dir}/${n}`);
}

/** stderr lines that only restate a failure already explained above them. */
const GENERIC_LINES: readonly RegExp[] = [
  /^Conversion failed!?$/,
  /^Error initializing (?:complex filters|output stream|filtergraph)/i,
  /^Error while opening encoder for output stream/,
  /^Error (?:parsing global options|opening output files?|reinitializing filters|while filtering|while processing the decoded data|sending frames to consumers)/i,
  /^Failed to inject frame into filter network/,
  /^Nothing was written into output file/,
  /^Last message repeated \d+ times?$/,
  /^(?:Operation not permitted|Invalid argument|Generic error in an external library|Function not implemented|Input\/output error|Unknown error occurred|Immediate exit requested|Error number -?\d+ occurred)\.?$/,
];

/** `[h264_nvenc @ 0x55d0c8] ` and the like. */
const CONTEXT_PREFIX = /^(?:\[[^\]]*\]\s*)+/;

/** Lines of a reason at most, and its length. */
const REASON_LINES = 3;
const REASON_MAX_CHARS = 400;

/**
 * The meaningful part of ffmpeg's stderr (or of FfmpegProcess's `a | b | c`
 * tail): context prefixes stripped, generic follow-up lines ("Conversion
 * failed!", bare error names) and repeats dropped, the last three kept and
 * joined with "; ". Falls back to the last line when every line is generic.
 */
export function meaningfulReason(stderr: string): string {
  const lines = stderr
    .split(/\r?\n| \| /)
    .map((l) => l.replace(CONTEXT_PREFIX, '').trim().replace(/\.$/, ''))
    .filter((l) => l.length > 0);
  const kept: string[] = [];
  for (const line of lines) {
    if (GENERIC_LINES.some((re) => re.test(line)) || kept.includes(line)) continue;
    kept.push(line);
  }
  const chosen = kept.length > 0 ? kept.slice(-REASON_LINES) : lines.slice(-1);
  const reason = chosen.join('; ');
  return reason.length > REASON_MAX_CHARS ? `${reason.slice(0, REASON_MAX_CHARS - 1)}…` : reason;
}

/** stderr kept per test encode (its tail). */
const STDERR_CAP = 64 * 1024;

/**
 * Runs one test encode: `binary args`, stdout ignored, stderr kept; ok when
 * it exits 0. Killed (SIGKILL) and rejected after `timeoutMs`, or at once when
 * `abort` fires (the server stops while it probes).
 */
export function runTestEncode(binary: string, args: readonly string[], timeoutMs: number, abort?: AbortSignal): Promise<TestEncodeResult> {
  const t0 = performance.now();
  const elapsed = () => Math.round(performance.now() - t0);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (ok: boolean, reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      abort?.removeEventListener('abort', onAbort);
      resolve({ ok, reason, elapsedMs: elapsed() });
    };
    const child = spawn(binary, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const kill = (reason: string) => {
      child.kill('SIGKILL');
      // Not waiting for 'close': a wrapper's grandchild may hold stderr open.
      child.stderr!.destroy();
      settle(false, reason);
    };
    const onAbort = () => kill('test encode stopped: the server is stopping');
    abort?.addEventListener('abort', onAbort, { once: true });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      if (stderr.length > STDERR_CAP) stderr = stderr.slice(-STDERR_CAP / 2);
    });
    const timer = setTimeout(() => kill(`test encode timed out after ${timeoutMs} ms`), timeoutMs);
    if (abort?.aborted === true) onAbort();
    child.once('error', (err) => settle(false, `cannot start ${binary}: ${err.message}`));
    // 'close', not 'exit': stderr has been read to the end by then.
    child.once('close', (code, signal) => {
      if (code === 0) settle(true, '');
      else settle(false, meaningfulReason(stderr) || (signal ? `killed by ${signal}` : `exit code ${code}`));
    });
  });
}

/** Inputs of {@link detectEncoder}. */
export interface DetectOptions<B extends EncoderBinary> {
  readonly mode: EncoderMode;
  readonly binaries: EncoderBinaries<B>;
  /** The configured ladder; the test encode uses its first two rungs planned for a 720p source. */
  readonly ladder: readonly Rung[];
  /** Tallest rung allowed (RTMP_MAX_RESOLUTION). */
  readonly maxHeight: number;
  /** The x264 preset (hardware encoders use their own default, as the live run does). */
  readonly preset: string;
  readonly segmentSeconds: number;
  /** `ffmpeg.vaapiDevice`: '' tries every render node. */
  readonly vaapiDevice: string;
  /** Time allowed for each test encode. */
  readonly timeoutMs: number;
  /** Where render nodes are listed; default /dev/dri (tests pass their own). */
  readonly driDir?: string;
  readonly log?: Logger;
  /** Stops the detection (the server stops while it probes): the running test encode is killed and detectEncoder rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** The test-encode arguments of `candidate` for the options' ladder. */
export function testEncodeArgs(candidate: EncoderCandidate, o: Pick<DetectOptions<EncoderBinary>, 'ladder' | 'maxHeight' | 'preset' | 'segmentSeconds'>): string[] {
  const fps = Math.max(...o.ladder.map((r) => r.fps));
  const source = { ...TEST_ENCODE_SOURCE, fps };
  const rungs = planLadder(o.ladder, source, o.maxHeight).slice(0, 2);
  return buildTestEncodeArgs({
    rungs,
    encoder: candidate.encoder,
    ...(candidate.encoder === 'x264' ? { preset: o.preset } : {}),
    segmentSeconds: o.segmentSeconds,
    ...(candidate.vaapiDevice === undefined ? {} : { vaapiDevice: candidate.vaapiDevice }),
    source,
    frames: TEST_ENCODE_FRAMES,
  });
}

/** "nvenc", "vaapi /dev/dri/renderD129", "qsv (path /usr/bin/ffmpeg)": a candidate for logs and messages. */
export function candidateLabel(c: EncoderCandidate, withBinary: boolean): string {
  const device = c.vaapiDevice === undefined ? '' : ` ${c.vaapiDevice}`;
  return `${c.encoder}${device}${withBinary ? ` (${c.ffmpeg.source} ${c.ffmpeg.path})` : ''}`;
}

/**
 * Tries the candidates of `o.mode` one after another (sequentially: they share
 * the device) and returns the first that encodes. Logs `encoder rejected` per
 * failed candidate and `encoder chosen` (or that none works).
 *
 * @throws EncoderUnavailableError when a forced encoder fails every test encode;
 *   the message carries ffmpeg's.
 */
export async function detectEncoder<B extends EncoderBinary>(o: DetectOptions<B>): Promise<EncoderDetection<B>> {
  const t0 = performance.now();
  const nodes = o.mode === 'auto' || o.mode === 'vaapi' ? await renderNodes(o.vaapiDevice, o.driDir) : [];
  const candidates = encoderCandidates(o.mode, o.binaries, nodes);
  const withBinary = o.binaries.alternatives.some((b) => b.path !== o.binaries.chosen.path);
  const attempts: EncoderAttempt<B>[] = [];
  let chosen: EncoderCandidate<B> | undefined;
  for (const candidate of candidates) {
    o.signal?.throwIfAborted();
    const result: TestEncodeResult =
      candidate.unavailable !== undefined
        ? { ok: false, reason: candidate.unavailable, elapsedMs: 0 }
        : await runTestEncode(candidate.ffmpeg.path, testEncodeArgs(candidate, o), o.timeoutMs, o.signal);
    o.signal?.throwIfAborted();
    attempts.push({ ...candidate, ...result });
    if (result.ok) {
      chosen = candidate;
      break;
    }
    o.log?.info(
      { encoder: candidate.encoder, vaapiDevice: candidate.vaapiDevice, ffmpeg: candidate.ffmpeg.path, from: candidate.ffmpeg.source, reason: result.reason, ms: result.elapsedMs },
      'encoder rejected',
    );
  }
  const detection: EncoderDetection<B> = { mode: o.mode, chosen, attempts, elapsedMs: Math.round(performance.now() - t0) };
  if (chosen !== undefined) {
    o.log?.info(
      { encoder: chosen.encoder, vaapiDevice: chosen.vaapiDevice, ffmpeg: chosen.ffmpeg.path, from: chosen.ffmpeg.source, mode: o.mode, ms: detection.elapsedMs },
      'encoder chosen',
    );
    return detection;
  }
  const reasons = attempts.map((a) => `${candidateLabel(a, withBinary)}: ${a.reason}`).join(' | ');
  if (o.mode !== 'auto') {
    throw new EncoderUnavailableError(`ffmpeg.encoder is ${o.mode} (RTMP_ENCODER), but its test encode failed: ${reasons}`);
  }
  o.log?.error({ mode: o.mode, ms: detection.elapsedMs, reasons }, 'no encoder works, not even x264: streams are ingested but not transcoded');
  return detection;
}

/**
 * One line for health messages and logs: "encoder nvenc", or with the
 * rejected candidates "encoder x264 (nvenc: Cannot load libcuda.so.1 | qsv: …)",
 * or "no working encoder (… | x264: …)".
 */
export function describeDetection(d: EncoderDetection): string {
  const binaries = new Set(d.attempts.map((a) => a.ffmpeg.path));
  const rejected = d.attempts.filter((a) => !a.ok).map((a) => `${candidateLabel(a, binaries.size > 1)}: ${a.reason}`);
  const why = rejected.length === 0 ? '' : ` (${rejected.join(' | ')})`;
  if (d.chosen === undefined) return `no working encoder${why}`;
  return `encoder ${candidateLabel(d.chosen, binaries.size > 1)}${why}`;
}
