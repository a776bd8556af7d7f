/** Figures from one ffmpeg `-progress` block (ffmpeg fftools: print_report). */
export interface FfmpegProgress {
  frame: number;
  fps: number;
  /** Output bitrate in kbit/s, when ffmpeg knows it. */
  bitrateKbps: number;
  totalSize: number;
  /** Output time in seconds. */
  outTimeSeconds: number;
  dupFrames: number;
  dropFrames: number;
  /** Encoding speed as a multiple of realtime (1 = realtime). */
  speed: number;
  /** 'continue' while running, 'end' on the last block. */
  progress: string;
}

const EMPTY: FfmpegProgress = {
  frame: 0,
  fps: 0,
  bitrateKbps: 0,
  totalSize: 0,
  outTimeSeconds: 0,
  dupFrames: 0,
  dropFrames: 0,
  speed: 0,
  progress: 'continue',
};

function num(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number.parseFloat(value);
  return Number.isFinite(n) ? n : fallback;
}

/**
 * Incremental parser for ffmpeg's `-progress` output: `key=value` lines, each
 * block closed by a `progress=continue|end` line. `push(text)` returns the
 * blocks completed by that text; partial lines wait for the next push. Lines
 * longer than 1 KiB are dropped (ffmpeg never writes such lines).
 */
export class ProgressParser {
  #pending = '';
  #block = new Map<string, string>();

  push(text: string): FfmpegProgress[] {
    const out: FfmpegProgress[] = [];
    const lines = (this.#pending + text).split('\n');
    this.#pending = lines.pop() ?? '';
    if (this.#pending.length > 1024) this.#pending = '';
    for (const raw of lines) {
      const line = raw.trim();
      const eq = line.indexOf('=');
      if (eq <= 0 || line.length > 1024) continue;
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1);
      this.#block.set(key, value);
      if (key === 'progress') {
        out.push(this.#finish());
        this.#block = new Map();
      }
    }
    return out;
  }

  #finish(): FfmpegProgress {
    const b = this.#block;
    const outTimeUs = b.get('out_time_us') ?? b.get('out_time_ms'); // out_time_ms is in µs too (ffmpeg quirk)
    return {
      frame: num(b.get('frame'), EMPTY.frame),
      fps: num(b.get('fps'), EMPTY.fps),
      bitrateKbps: num(b.get('bitrate')?.replace(/kbits\/s$/, ''), EMPTY.bitrateKbps),
      totalSize: num(b.get('total_size'), EMPTY.totalSize),
      outTimeSeconds: num(outTimeUs, 0) / 1e6,
      dupFrames: num(b.get('dup_frames'), EMPTY.dupFrames),
      dropFrames: num(b.get('drop_frames'), EMPTY.dropFrames),
      speed: num(b.get('speed')?.replace(/x$/, ''), EMPTY.speed),
      progress: b.get('progress') ?? 'continue',
    };
  }
}
