/**
 * Which ffmpeg binary transcodes. The order is:
 *
 * 1. `config`: `ffmpeg.path` (RTMP_FFMPEG_PATH);
 * 2. `env`: FFMPEG_PATH;
 * 3. `carried`: the static ffmpeg inside the single executable, unpacked into
 *    the cache directory (see carried.ts);
 * 4. `ffmpeg-static`: the npm package's binary, when running from a checkout;
 * 5. `path`: `ffmpeg` on the PATH.
 *
 * A binary is usable when `<bin> -hide_banner -version` exits 0 and prints
 * `ffmpeg version`. A path the operator named (1 or 2) is final: when it does
 * not work, locateFfmpeg throws FfmpegUnusableError naming the key or variable
 * instead of silently running another binary, and nothing further down is
 * looked at. Otherwise the first usable of 3–5 is chosen and the usable ones
 * after it are kept as alternatives (a system ffmpeg may have hardware
 * encoders the static one lacks; the encoder probe decides).
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { FfmpegNotFoundError, FfmpegUnusableError } from '../errors.ts';
import { extractCarried, isSea, seaCarried, type CarriedSource } from './carried.ts';

/** Where a binary came from, in search order. */
export type FfmpegSource = 'config' | 'env' | 'carried' | 'ffmpeg-static' | 'path';

/** A usable ffmpeg. */
export interface FfmpegBinary {
  readonly path: string;
  readonly source: FfmpegSource;
  /** First line of -version, e.g. "ffmpeg version 5.1.6-0+deb12u1 Copyright …". */
  readonly version: string;
}

/** One place looked at, and what was found there. */
export interface LocateAttempt {
  readonly source: FfmpegSource;
  readonly path: string | undefined;
  /** `chosen`: the binary that runs; `usable`: works, kept as an alternative (or the same file as one already found); `missing`: nothing there; `failed`: something there that does not work. */
  readonly outcome: 'chosen' | 'usable' | 'missing' | 'failed';
  readonly reason: string;
}

/** The result of {@link locateFfmpeg}. */
export interface FfmpegLocation {
  /** The first usable binary in the order config, FFMPEG_PATH, carried, ffmpeg-static, PATH. */
  readonly chosen: FfmpegBinary;
  /** Every usable binary further down the order (deduplicated by real path), e.g. a system ffmpeg on PATH that may have hardware encoders the chosen one lacks. */
  readonly alternatives: readonly FfmpegBinary[];
  /** Every place looked at, in order, with what was found: for the log and the error. */
  readonly attempts: readonly LocateAttempt[];
}

/** Inputs of {@link locateFfmpeg}. */
export interface LocateOptions {
  /** `ffmpeg.path` from the config; '' when not set. */
  readonly configPath: string;
  /** Where the carried binary is unpacked (see {@link defaultCacheDir}). */
  readonly cacheDir: string;
  /** FFMPEG_PATH and PATH are read from here; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Time allowed for each `-version`; default 5000 ms. */
  readonly timeoutMs?: number;
  /**
   * The carried binary; default: this executable's SEA asset (none outside a
   * SEA). `null` means none. Tests pass their own.
   */
  readonly carried?: CarriedSource | null;
  /**
   * Resolves the ffmpeg-static package's binary; default: the installed
   * package, none inside a SEA. Returns undefined when not installed.
   */
  readonly ffmpegStatic?: () => string | undefined;
}

/** What `<bin> -hide_banner -version` said. */
export interface VersionProbe {
  readonly ok: boolean;
  /** First line of the output when ok. */
  readonly version?: string;
  readonly error?: string;
}

/** Runs `<binary> -hide_banner -version`; usable when it exits 0 and prints `ffmpeg version`. */
export function probeVersion(binary: string, timeoutMs = 5000): Promise<VersionProbe> {
  return new Promise((resolve) => {
    execFile(binary, ['-hide_banner', '-version'], { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) {
        resolve({ ok: false, error: err.message.split('\n')[0] ?? err.message });
        return;
      }
      const version = stdout.split('\n')[0]?.trim() ?? '';
      resolve(version.startsWith('ffmpeg version') ? { ok: true, version } : { ok: false, error: `unexpected -version output: ${JSON.stringify(version.slice(0, 80))}` });
    });
  });
}

/**
 * The cache directory used when `ffmpeg.cacheDir` is '': $CACHE_DIRECTORY
 * (systemd's CacheDirectory=; the first when it lists several), else
 * $XDG_CACHE_HOME/proxy-rtmp, else ~/.cache/proxy-rtmp. Relative values are
 * ignored, as the XDG base directory specification says.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  const systemd = env['CACHE_DIRECTORY']?.split(':')[0];
  if (systemd && isAbsolute(systemd)) return systemd;
  const xdg = env['XDG_CACHE_HOME'];
  if (xdg && isAbsolute(xdg)) return join(xdg, 'proxy-rtmp');
  const home = env['HOME'] && isAbsolute(env['HOME']) ? env['HOME'] : homedir();
  return join(home, '.cache', 'proxy-rtmp');
}

/** The ffmpeg-static package's binary, when the package is installed next to this code and its binary exists. */
export function installedFfmpegStatic(): string | undefined {
  if (isSea()) return undefined; // its path would point into a node_modules that is not there
  try {
    // import.meta.url is the bundle's own file in dist/ (build/bundle.ts defines it), else this module.
    const pkg = createRequire(import.meta.url).resolve('ffmpeg-static/package.json');
    return join(dirname(pkg), 'bin', process.platform, process.arch, process.platform === 'win32' ? 'ffmpeg.exe' : 'ffmpeg');
  } catch {
    return undefined;
  }
}

/** The first executable `name` in the PATH list, or undefined. */
export async function whichOnPath(name: string, pathList: string | undefined): Promise<string | undefined> {
  for (const dir of (pathList ?? '').split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue; // '' and relative entries mean the cwd: never trusted
    const candidate = join(dir, name);
    try {
      if ((await stat(candidate)).isFile()) {
        await access(candidate, fsConstants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Formats attempts for an error message or a log line: "config /x: failed (…); path: missing (…)". */
export function describeAttempts(attempts: readonly LocateAttempt[]): string {
  return attempts.map((a) => `${a.source}${a.path === undefined ? '' : ` ${a.path}`}: ${a.outcome} (${a.reason})`).join('; ');
}

/**
 * Finds the ffmpeg to run (see the module comment for the order and rules).
 * Throws FfmpegUnusableError when the configured path or FFMPEG_PATH does not
 * work, FfmpegNotFoundError naming every place tried when nothing is usable.
 */
export async function locateFfmpeg(options: LocateOptions): Promise<FfmpegLocation> {
  const env = options.env ?? process.env;
  const timeoutMs = options.timeoutMs ?? 5000;
  const attempts: LocateAttempt[] = [];
  const found: FfmpegBinary[] = [];
  const seen = new Map<string, FfmpegSource>(); // real path → first source that had it

  /** Probes one candidate and records the attempt; returns true when usable. */
  const consider = async (source: FfmpegSource, path: string, note = ''): Promise<boolean> => {
    const probe = await probeVersion(path, timeoutMs);
    if (!probe.ok) {
      attempts.push({ source, path, outcome: 'failed', reason: `${note}${probe.error ?? 'not usable'}` });
      return false;
    }
    const real = await realpath(path).catch(() => path);
    const earlier = seen.get(real);
    if (earlier !== undefined) {
      attempts.push({ source, path, outcome: 'usable', reason: `${note}same binary as ${earlier}` });
      return true;
    }
    seen.set(real, source);
    const chosen = found.length === 0;
    attempts.push({ source, path, outcome: chosen ? 'chosen' : 'usable', reason: `${note}${probe.version ?? ''}` });
    found.push({ path, source, version: probe.version ?? '' });
    return true;
  };

  // 1, 2: a path the operator named is final.
  const named: Array<[FfmpegSource, string, string]> = [
    ['config', options.configPath, 'ffmpeg.path (RTMP_FFMPEG_PATH)'],
    ['env', env['FFMPEG_PATH'] ?? '', 'FFMPEG_PATH'],
  ];
  for (const [source, path, key] of named) {
    if (path === '') {
      attempts.push({ source, path: undefined, outcome: 'missing', reason: `${key} not set` });
      continue;
    }
    if (await consider(source, path, `from ${key}: `)) {
      return { chosen: found[0]!, alternatives: [], attempts };
    }
    throw new FfmpegUnusableError(`${key} names ${path}, which is not a usable ffmpeg: ${attempts.at(-1)!.reason}`);
  }

  // 3: the carried binary.
  let carried: CarriedSource | undefined;
  try {
    carried = options.carried === undefined ? seaCarried() : (options.carried ?? undefined);
  } catch (err) {
    attempts.push({ source: 'carried', path: undefined, outcome: 'failed', reason: (err as Error).message });
  }
  if (carried !== undefined) {
    try {
      const result = await extractCarried(carried, options.cacheDir);
      const how = `${result.action === 'reused' ? 'reused, verified' : 'extracted'} in ${Math.round(result.ms)} ms; `;
      await consider('carried', result.path, how);
    } catch (err) {
      attempts.push({ source: 'carried', path: options.cacheDir, outcome: 'failed', reason: (err as Error).message });
    }
  } else if (attempts.at(-1)?.source !== 'carried') {
    attempts.push({ source: 'carried', path: undefined, outcome: 'missing', reason: isSea() ? 'this executable carries no ffmpeg' : 'not running as the single executable' });
  }

  // 4: ffmpeg-static.
  const staticPath = (options.ffmpegStatic ?? installedFfmpegStatic)();
  if (staticPath === undefined) {
    attempts.push({ source: 'ffmpeg-static', path: undefined, outcome: 'missing', reason: isSea() ? 'not available inside the single executable' : 'package not installed' });
  } else if (!(await exists(staticPath))) {
    attempts.push({ source: 'ffmpeg-static', path: staticPath, outcome: 'missing', reason: 'the package has no binary for this platform' });
  } else {
    await consider('ffmpeg-static', staticPath);
  }

  // 5: PATH.
  const onPath = await whichOnPath('ffmpeg', env['PATH']);
  if (onPath === undefined) attempts.push({ source: 'path', path: undefined, outcome: 'missing', reason: 'no ffmpeg on PATH' });
  else await consider('path', onPath);

  const [chosen, ...alternatives] = found;
  if (chosen === undefined) throw new FfmpegNotFoundError(`no usable ffmpeg: ${describeAttempts(attempts)}`);
  return { chosen, alternatives, attempts };
}
