import { meaningfulReason } from '../ffmpeg/encoders.ts';
import type { EncoderKind } from './ffmpeg-args.ts';
import type { FfmpegExitKind } from './ffmpeg-process.ts';

/** Pause before each restart after ffmpeg dies on its own: the n-th death in the window waits the n-th entry. */
export const RESTART_BACKOFF_MS = [500, 1000, 2000, 4000, 8000] as const;
/** Deaths within this window that mark the stream `error`. */
export const MAX_FAILURES = 5;
export const FAILURE_WINDOW_MS = 60_000;

/** ffmpeg messages that a restart cannot cure (ENOSPC, EACCES, EROFS). */
export const PERMANENT_FAILURE = /No space left on device|Permission denied|Read-only file system/;

/**
 * Hardware encoder failures a restart on the same encoder will not cure: an
 * NVENC session limit ("OpenEncodeSessionEx failed: out of memory (10)",
 * "incompatible client key (21)"), a missing or lost device, CUDA, VAAPI and
 * QSV (MFX) errors, a failed hardware upload. The stream falls back to x264.
 */
export const HARDWARE_FAILURES: readonly RegExp[] = [
  /OpenEncodeSessionEx failed|incompatible client key|No (?:NVENC )?capable devices found|nvenc API version|libnvidia-encode|NV_ENC_ERR_\w+|EncodePicture failed|Failed locking bitstream buffer/i,
  /libcuda|CUDA_ERROR_\w+|CUDA error|\bcu[A-Z]\w*\(.*\) failed|Could not dynamically load CUDA/,
  /VAAPI|VA_STATUS_ERROR|No VA display|vaInitialize|Failed to (?:create|map|sync|upload|download|export) surface|Failed to (?:begin|end|render) picture|libva\b/i,
  /\bMFX_ERR_\w+|MFX session|Error (?:initializing|during) (?:an internal |the )?MFX|Error during encoding: device failed|\bQSV\b|Quick ?Sync/i,
  /hwupload|hw_frames_ctx|hardware frames|Device creation failed|Failed to (?:set up|create|initiali[sz]e) (?:a |the )?(?:hardware|HW) device|Failed to (?:upload|transfer) (?:frame|data)/i,
];

/** Deaths within the failure window after which a hardware encoder is given up for x264, whatever ffmpeg said. */
export const HARDWARE_MAX_DEATHS = 3;

/** The line of an ffmpeg exit message that shows a hardware failure, or undefined. */
export function hardwareFailure(message: string): string | undefined {
  for (const part of message.split(/\r?\n| \| /)) {
    if (HARDWARE_FAILURES.some((re) => re.test(part))) return meaningfulReason(part);
  }
  return undefined;
}

/** One ffmpeg run that ended without being stopped by us (FfmpegExit less the `stopped` kind). */
export interface FfmpegDeath {
  kind: Exclude<FfmpegExitKind, 'stopped'>;
  /** The spawn error, or ffmpeg's last stderr lines. */
  message: string;
}

/** What to do after a death. */
export type RestartDecision =
  /** Run the same encoder again after `delayMs`. */
  | { action: 'restart'; delayMs: number }
  /** Run again at once on x264: the hardware encoder is given up for this stream. */
  | { action: 'fallback'; encoder: 'x264'; reason: string }
  /** Do not run again: the stream is marked `error` with `reason`. */
  | { action: 'give-up'; reason: string };

/**
 * When one stream's ffmpeg dies, whether and how to run it again. Pure: no
 * timers, no processes; the caller passes the time of each death and acts on
 * the answer.
 *
 * - A spawn failure or a message that a restart cannot cure (PERMANENT_FAILURE) gives up at once.
 * - A hardware encoder falls back to x264 on a HARDWARE_FAILURES message or on
 *   its HARDWARE_MAX_DEATHS-th death within FAILURE_WINDOW_MS; the window starts
 *   afresh on x264, and a stream falls back once at most.
 * - Otherwise the MAX_FAILURES-th death within the window gives up; earlier ones
 *   restart after RESTART_BACKOFF_MS (0.5, 1, 2, 4 s).
 */
export class RestartPolicy {
  /** Times (ms) of the deaths still inside the window. */
  #deaths: number[] = [];
  #fellBack = false;

  /** Deaths counted in the window as of the last decision (tests, logs). */
  get recentDeaths(): number {
    return this.#deaths.length;
  }

  /** Decides after a death of a run on `encoder` at `now` (ms, any monotonic-enough clock). */
  onDeath(death: FfmpegDeath, encoder: EncoderKind, now: number): RestartDecision {
    // A full disk or a refused write will fail the same way again: no restart loop.
    if (death.kind === 'spawn-failed' || PERMANENT_FAILURE.test(death.message)) {
      return { action: 'give-up', reason: death.message };
    }
    this.#deaths = this.#deaths.filter((t) => now - t < FAILURE_WINDOW_MS);
    this.#deaths.push(now);
    const deaths = this.#deaths.length;
    if (encoder !== 'x264' && !this.#fellBack) {
      const hardware = hardwareFailure(death.message);
      if (hardware !== undefined || deaths >= HARDWARE_MAX_DEATHS) {
        this.#fellBack = true;
        this.#deaths = [];
        const reason = hardware ?? `ffmpeg died ${deaths} times within ${FAILURE_WINDOW_MS / 1000} s; last: ${meaningfulReason(death.message)}`;
        return { action: 'fallback', encoder: 'x264', reason };
      }
    }
    if (deaths >= MAX_FAILURES) {
      return { action: 'give-up', reason: `ffmpeg failed ${deaths} times within ${FAILURE_WINDOW_MS / 1000} s; last: ${death.message}` };
    }
    return { action: 'restart', delayMs: RESTART_BACKOFF_MS[Math.min(deaths - 1, RESTART_BACKOFF_MS.length - 1)]! };
  }
}
