import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { installedFfmpegStatic } from '../../../src/ffmpeg/locate.ts';
import { ProxyRtmpError } from '../../../src/errors.ts';

/** The two ffmpeg builds the product meets: ffmpeg-static's 4.2.1 and Debian's 5.1. */
export const FFMPEGS: readonly { readonly name: string; readonly path: string }[] = [
  { name: 'ffmpeg-static 4.2.1', path: installedFfmpegStatic() ?? 'ffmpeg-static is not installed' },
  { name: 'debian /usr/bin/ffmpeg', path: '/usr/bin/ffmpeg' },
];
export const FFPROBE = '/usr/bin/ffprobe';

/** Fails loudly, never skips, when a binary the tests need is missing. */
export function requireBinary(path: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: these tests need real ffmpeg/ffprobe binaries`);
}

/** The movflags the product gives ffmpeg for its CMAF pipes. */
export function cmafArgs(fragDurationUs: number): string[] {
  return ['-f', 'mp4', '-movflags', '+empty_moov+default_base_moof+frag_keyframe+negative_cts_offsets', '-frag_duration', String(fragDurationUs), 'pipe:1'];
}

/** Runs a command, feeding `input` on stdin, and collects stdout; rejects on a non-zero exit with its stderr. */
export function run(cmd: string, args: readonly string[], input?: Buffer, timeoutMs = 60_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 20_000) err += d.toString();
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}: ${err.slice(-2000)}`));
    });
    child.stdin.on('error', () => {}); // ffmpeg may close stdin early
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

/** ffmpeg's CMAF output for one rendition: video-only or audio-only, from the same lavfi sources the product's tests use. */
export function makeCmaf(ffmpeg: string, kind: 'video' | 'audio', seconds = 2, fragDurationUs = 500_000): Promise<Buffer> {
  const inputs = ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'];
  const codec =
    kind === 'video'
      ? ['-map', '0:v', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '30', '-pix_fmt', 'yuv420p']
      : ['-map', '1:a', '-c:a', 'aac', '-b:a', '96k'];
  return run(ffmpeg, ['-hide_banner', '-loglevel', 'error', ...inputs, '-t', String(seconds), ...codec, ...cmafArgs(fragDurationUs)]);
}

export interface ProbePacket {
  pts: number;
  dts: number;
  duration: number;
  size: number;
  flags: string;
  pts_time: string;
  dts_time: string;
}
export interface ProbeStream {
  codec_name: string;
  codec_tag_string: string;
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  time_base: string;
  extradata_size?: number;
}

/** ffprobe's view of a file given on stdin. */
export async function probe(bytes: Buffer): Promise<{ packets: ProbePacket[]; streams: ProbeStream[] }> {
  const json = await run(FFPROBE, ['-v', 'error', '-show_packets', '-show_streams', '-of', 'json', '-i', 'pipe:0'], bytes);
  const parsed = JSON.parse(json.toString()) as { packets?: Record<string, unknown>[]; streams?: ProbeStream[] };
  const packets = (parsed.packets ?? []).map((p) => ({
    pts: Number(p['pts']),
    dts: Number(p['dts']),
    duration: Number(p['duration']),
    size: Number(p['size']),
    flags: String(p['flags']),
    pts_time: String(p['pts_time']),
    dts_time: String(p['dts_time']),
  }));
  return { packets, streams: parsed.streams ?? [] };
}

/** The MD5 of every decoded frame of the `map`ped stream, in order (ffmpeg's framemd5 muxer, hash column only): equal lists mean identical decodes. */
export async function frameHashes(ffmpeg: string, bytes: Buffer, map = '0'): Promise<string[]> {
  const out = await run(ffmpeg, ['-v', 'error', '-i', 'pipe:0', '-map', map, '-f', 'framemd5', '-'], bytes);
  return out
    .toString()
    .split('\n')
    .filter((l) => l.length > 0 && !l.startsWith('#'))
    .map((l) => l.split(',').at(-1)!.trim());
}

/** A committed fixture. */
export function fixture(name: string): Buffer {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
}

/** True for our MP4 errors, the only thing the parsers may throw. */
export function isMp4Error(err: unknown): boolean {
  return err instanceof ProxyRtmpError && err.code.startsWith('ERR_MP4_');
}

/** FLV tags of a file (FLV spec v10.1 E.2–E.3): type, timestamp in ms, body. */
export function flvTags(flv: Buffer): { type: number; ms: number; body: Buffer }[] {
  if (flv.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV file');
  const tags: { type: number; ms: number; body: Buffer }[] = [];
  let off = flv.readUInt32BE(5) + 4;
  while (off + 11 <= flv.length) {
    const size = flv.readUIntBE(off + 1, 3);
    const ms = flv.readUIntBE(off + 4, 3) + flv[off + 7]! * 0x1000000;
    tags.push({ type: flv[off]!, ms, body: flv.subarray(off + 11, off + 11 + size) });
    off += 11 + size + 4;
  }
  return tags;
}
