/**
 * Figure 6, glass to glass (issue 14): from the moment a frame is made at the
 * publisher to the moment Chromium shows it, in hls.js and dash.js, each in
 * its low-latency mode, on one stream that proxy-rtmp transcodes and packages.
 *
 * Measured so that the server cannot flatter it: the publisher (a real-time
 * ffmpeg, lavfi testsrc2 640x360 30 fps, paced by the `realtime` filter) burns
 * the wall clock of each frame's making into the picture as two identical rows
 * of 24 black/white blocks (milliseconds modulo 2^24, drawn by `drawbox` filters
 * enabled by the frame's time, which `setpts=RTCTIME` has made the wall
 * clock). The page reads each displayed frame back (requestVideoFrameCallback,
 * drawImage to a canvas), decodes the blocks, and takes now − burnt time.
 * Publisher, server and browser share this machine's clock.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BrowserPlayer, type Playback } from '../test/support/player.ts';
import type { BenchContext, SectionResult } from './lib/context.ts';
import { startOurs, type Server } from './lib/servers.ts';
import { fmt, median, quantile, start, waitFor, type Child } from './lib/util.ts';

const BITS = 24;
const BLOCK = 26;

/** The publisher's lavfi graph: testsrc2 paced to real time, its wall clock (ms) burnt in as BITS blocks along the top. */
export function burntClockSource(width = 640, height = 360, fps = 30): string {
  // Two identical rows: the reader keeps a frame only when both agree (a high bit blurred by the encoders shows as a mismatch).
  const boxes = [0, BLOCK].flatMap((y) => Array.from({ length: BITS }, (_, i) =>
    `drawbox=x=${i * BLOCK}:y=${y}:w=${BLOCK}:h=${BLOCK}:color=white:t=fill:enable='mod(floor(t*1000/${2 ** i}),2)'`));
  return [
    `testsrc2=size=${width}x${height}:rate=${fps}`, 'realtime', 'settb=1/1000', 'setpts=RTCTIME/1000',
    `drawbox=x=0:y=0:w=${BITS * BLOCK}:h=${2 * BLOCK}:color=black:t=fill`, ...boxes, 'setpts=PTS-STARTPTS',
  ].join(',');
}

/**
 * The page side, as source (functions compiled by tsx carry helpers the page
 * lacks): reads the blocks of every displayed frame into `__g2g.samples` as
 * [wall ms, latency ms].
 */
const READER = `(() => {
  const bits = ${BITS}, block = ${BLOCK};
  const v = document.getElementById('v');
  const canvas = document.createElement('canvas');
  canvas.width = bits * block; canvas.height = 2 * block;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  const m = window.__g2g = { samples: [], firstFrameAt: 0, unreadable: 0 };
  const modulus = 2 ** bits;
  const onFrame = () => {
    const now = Date.now();
    const scale = v.videoWidth / 640;
    g.drawImage(v, 0, 0, bits * block * scale, 2 * block * scale, 0, 0, bits * block, 2 * block);
    const read = (y) => {
      const row = g.getImageData(0, y, bits * block, 1).data;
      let value = 0;
      for (let i = 0; i < bits; i++) if (row[(i * block + (block >> 1)) * 4] > 128) value += 2 ** i;
      return value;
    };
    const value = read(block >> 1);
    const latency = (((now - value) % modulus) + modulus) % modulus;
    // The low bits change every frame and the encoders blur some of them (an error under 64 ms);
    // a frame whose rows disagree above that is misread, and left out.
    const same = Math.floor(value / 64) === Math.floor(read(block + (block >> 1)) / 64);
    if (!same || latency > 60000) m.unreadable++; else m.samples.push([now, latency]);
    m.firstFrameAt = m.firstFrameAt || now;
    v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
})()`;

interface Reading {
  samples: [number, number][];
  firstFrameAt: number;
  unreadable: number;
}

async function reading(p: Playback): Promise<Reading> {
  return p.page.evaluate(() => (globalThis as unknown as { __g2g: Reading }).__g2g);
}

/** One player's figures over its measured window. */
interface PlayerFigures {
  player: string;
  /** The player's own latency figure at the end, and its target (s): what it measures against the stream's clock. */
  own: number;
  target: number;
  median: number;
  p95: number;
  max: number;
  frames: number;
  stalls: number;
  /** Each stall: seconds after the first frame played, and seconds buffered ahead then. */
  stallTimes: [number, number][];
  errors: string[];
  firstFrameSeconds: number;
}

/** The publisher: a real-time ffmpeg, x264 ultrafast zerolatency, 1 s GOP, AAC, to rtmp. */
function publish(ffmpeg: string, url: string, seconds: number): Child {
  return start(ffmpeg, [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-f', 'lavfi', '-i', burntClockSource(),
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p', '-b:v', '1500k',
    '-c:a', 'aac', '-b:a', '96k', '-f', 'flv', url,
  ]);
}

/** The players measured: hls.js in its low-latency mode (PART-HOLD-BACK, blocking reloads), as is and allowed to catch up; dash.js takes its low-latency mode from the MPD. */
export const PLAYERS: readonly { name: string; kind: 'hls' | 'dash'; config: object }[] = [
  { name: 'hls.js 1.7.4 `{ lowLatencyMode: true }`', kind: 'hls', config: { lowLatencyMode: true } },
  { name: 'hls.js 1.7.4 `{ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 }`', kind: 'hls', config: { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 } },
  { name: 'dash.js 5.2.1 (low latency from the MPD)', kind: 'dash', config: {} },
];

/** What the player itself says of its latency and its target, in s. */
async function ownLatency(p: Playback): Promise<[number, number]> {
  return p.page.evaluate(() => {
    const w = globalThis as unknown as { __player: Record<string, unknown> };
    const player = w.__player;
    if (typeof player['getCurrentLiveLatency'] === 'function') {
      return [(player['getCurrentLiveLatency'] as () => number)(), (player['getTargetLiveDelay'] as () => number)()] as [number, number];
    }
    return [player['latency'] as number, player['targetLatency'] as number] as [number, number];
  });
}

/** One player on the stream at `base` until it has shown `seconds` of frames (or 30 s more have passed). */
async function watch(browser: BrowserPlayer, player: (typeof PLAYERS)[number], base: string, seconds: number): Promise<PlayerFigures> {
  const openedAt = Date.now();
  const page = await browser.play(player.kind, player.kind === 'hls' ? `${base}/master.m3u8` : `${base}/dash/manifest.mpd`, player.config);
  try {
    await page.page.evaluate(READER);
    const deadline = Date.now() + (seconds + 30) * 1000;
    for (let r = await reading(page); !(r.firstFrameAt > 0 && Date.now() - r.firstFrameAt >= seconds * 1000); r = await reading(page)) {
      if (Date.now() > deadline) break;
      await sleep(1000);
    }
    const r = await reading(page);
    const s = await page.state();
    const latencies = r.samples.map(([, l]) => l / 1000);
    const [own, target] = await ownLatency(page).catch(() => [NaN, NaN]);
    return {
      player: player.name,
      own,
      target,
      median: median(latencies),
      p95: quantile(latencies, 0.95),
      max: Math.max(...latencies),
      frames: latencies.length,
      stalls: s.stalls,
      stallTimes: s.stallTimes,
      errors: [...s.errors, ...(r.unreadable > 0 ? [`${r.unreadable} frames unreadable`] : [])],
      firstFrameSeconds: r.firstFrameAt > 0 ? (r.firstFrameAt - openedAt) / 1000 : NaN,
    };
  } finally {
    await page.close();
  }
}

/** One stream with `partSeconds`; the players one after the other on it (one at a time: the machine has 2 cores). */
async function measure(ctx: BenchContext, browser: BrowserPlayer, partSeconds: number, seconds: number): Promise<{ figures: PlayerFigures[]; firstPartSeconds: number }> {
  const ours: Server = await startOurs(ctx.bundlePath, { transcode: true, ffmpegPath: ctx.ffmpeg.path, env: { RTMP_PART_SECONDS: String(partSeconds) } });
  const key = `g2g${Math.round(partSeconds * 1000)}`;
  const base = `http://127.0.0.1:${ours.httpPort}/streams/${key}`;
  const startedAt = Date.now();
  const publisher = publish(ctx.ffmpeg.path, ours.url(key), PLAYERS.length * (seconds + 40) + 30);
  try {
    await waitFor(async () => {
      const master = await fetch(`${base}/master.m3u8`).then((r) => (r.ok ? r.text() : ''), () => '');
      const media = master.split('\n').find((l) => l.endsWith('.m3u8')) ?? '';
      if (media === '') return false;
      return (await fetch(`${base}/${media}`).then((r) => r.text(), () => '')).includes('#EXT-X-PART:');
    }, 'a media playlist with a part', 30_000, 10);
    const firstPartSeconds = (Date.now() - startedAt) / 1000;
    ctx.log(`  part ${partSeconds} s: first playlist with a part ${fmt(firstPartSeconds)} s after the publisher started`);
    const figures: PlayerFigures[] = [];
    for (const player of PLAYERS.filter((p) => ctx.players === undefined || ctx.players.includes(p.kind))) figures.push(await watch(browser, player, base, seconds));
    return { figures, firstPartSeconds };
  } finally {
    await publisher.stop('SIGKILL');
    await ours.stop();
  }
}

/** The stalls column: how many, and when (s after the first frame) with what was buffered ahead then. */
function stallText(f: PlayerFigures): string {
  if (f.stalls === 0) return '0';
  return `${f.stalls} (${f.stallTimes.map(([ms, ahead]) => `${fmt(ms / 1000)} s: ${ahead < 0 ? 'none' : fmt(ahead)} ahead`).join(', ')})`;
}

/** Runs figure 6. */
export async function benchGlassToGlass(ctx: BenchContext): Promise<SectionResult> {
  const seconds = ctx.quick ? 20 : 60;
  const table = [['player', 'part s', 'median s', 'p95 s', 'max s', 'player says s (target)', 'frames', 'stalls', 'publish → first part listed s', 'page → first frame s', 'errors']];
  const browser = await BrowserPlayer.launch();
  try {
    for (const part of ctx.parts ?? [0.5, 0.333]) {
      const { figures, firstPartSeconds } = await measure(ctx, browser, part, seconds);
      for (const f of figures) {
        ctx.log(`  ${f.player} part ${part}: median ${fmt(f.median)} s, p95 ${fmt(f.p95)} s, stalls ${f.stalls}, player says ${fmt(f.own)} s (target ${fmt(f.target)})`);
        table.push([f.player, String(part), fmt(f.median), fmt(f.p95), fmt(f.max), `${fmt(f.own)} (${fmt(f.target)})`, String(f.frames), stallText(f), fmt(firstPartSeconds), fmt(f.firstFrameSeconds), f.errors.join('; ') || '–']);
      }
    }
  } finally {
    await browser.close();
  }
  return {
    title: '6. Glass to glass, low latency (publisher clock burnt into the picture, read back from the displayed frame)',
    table,
    notes: [
      `Each row: ${seconds} s of displayed frames after the first. One proxy-rtmp per part duration (RTMP_PART_SECONDS), default ladder (one 360p rung for the 640x360 source), the players one after the other on the same stream, in one headless Chromium. "publish → first part listed": from the publisher's start to the first media playlist with an EXT-X-PART (proxy-rtmp serves playlists once every track has a complete segment). "page → first frame": the player's start-up, from opening its page.`,
      'Publisher: ffmpeg lavfi testsrc2 640x360 30 fps through `realtime`, x264 ultrafast zerolatency, 1 s GOP, AAC; each frame carries its wall clock in ms as 24 blocks (see bench/glass-to-glass.ts).',
      'Targets (issue 14): ≤ 2.0 s in both players with no stalls; aim 1.5 s.',
    ],
  };
}
