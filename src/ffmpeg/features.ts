/**
 * Which of the options our command line uses a given ffmpeg has. Our
 * arguments were written against ffmpeg 5.1; the static build the single
 * executable carries is 4.2.1, whose dash muxer lacks `-hls_master_name`
 * (added in 4.3), and which lacks the global `-stats_period` (4.4). Learned
 * from the binary's own help (`-h muxer=dash`, `-h long`) rather than from its
 * version string, which git builds do not carry.
 */
import { execFile } from 'node:child_process';

/** Options that not every ffmpeg we may run has. */
export interface FfmpegFeatures {
  /** The dash muxer takes `-hls_master_name` (ffmpeg ≥ 4.3). */
  readonly hlsMasterName: boolean;
  /** The global `-stats_period` exists (ffmpeg ≥ 4.4). */
  readonly statsPeriod: boolean;
}

/** What ffmpeg 4.2 has: safe for any ffmpeg we run, the assumption when the probe fails. */
export const OLDEST_FFMPEG: FfmpegFeatures = Object.freeze({ hlsMasterName: false, statsPeriod: false });

/**
 * The option names (without the dash) listed in ffmpeg help output: lines
 * of the form `  -name <type> ...` or `-name value  description`.
 */
export function parseHelpOptions(help: string): Set<string> {
  const names = new Set<string>();
  for (const line of help.split('\n')) {
    const m = /^\s*-([A-Za-z0-9_:]+)(?:\s|$)/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

/** The features, from the help texts of `-h muxer=dash` and `-h long`. */
export function featuresFromHelp(dashHelp: string, longHelp: string): FfmpegFeatures {
  const dash = parseHelpOptions(dashHelp);
  const global = parseHelpOptions(longHelp);
  return { hlsMasterName: dash.has('hls_master_name'), statsPeriod: global.has('stats_period') };
}

function help(binary: string, topic: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['-hide_banner', '-h', topic], { timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(stdout);
    });
  });
}

/** Asks `binary` which of the optional options it has (two `-h` runs, tens of ms). */
export async function probeFeatures(binary: string, timeoutMs = 5000): Promise<FfmpegFeatures> {
  const [dashHelp, longHelp] = await Promise.all([help(binary, 'muxer=dash', timeoutMs), help(binary, 'long', timeoutMs)]);
  return featuresFromHelp(dashHelp, longHelp);
}
