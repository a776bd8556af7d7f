/**
 * The packaging figures of issue 13, for the current build and, with
 * `--old <bundle.cjs>`, a build of the ffmpeg-muxer design before it
 * (`git worktree add /tmp/old e70bd28 && cd /tmp/old && ln -s <repo>/node_modules
 * && node --import tsx build/bundle.ts` makes /tmp/old/dist/proxy-rtmp.cjs),
 * measured the same way in the same run:
 *
 * - publish → first playable: NetStream.Publish.Start to a master playlist
 *   whose first variant lists a segment (median of RUNS runs);
 * - the server process's own CPU (ingest, feeding ffmpeg, packaging; not
 *   ffmpeg) per media-second over a paced 720p publish through the 3-rung ladder;
 * - memory one live stream holds: the server's RSS growth plus, for the old
 *   design, its output directory (under systemd a tmpfs, i.e. memory too).
 *
 * `node --import tsx bench/packaging.ts [--old path]`. A printed figure, never a test.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { input, LADDER_SOURCE } from './lib/inputs.ts';
import { publishPaced, readFlvTags } from './lib/flv-publisher.ts';
import { descendants, ownCpuSeconds } from './lib/proc.ts';
import { buildBundle, startOurs, type Server } from './lib/servers.ts';
import { fmt, median, waitFor } from './lib/util.ts';

const RUNS = 3;

function ownRssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function dirBytes(dir: string | undefined): number {
  if (dir === undefined) return 0;
  let total = 0;
  const walk = (d: string): void => {
    for (const name of (() => { try { return readdirSync(d); } catch { return []; } })()) {
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(p);
      else total += st?.size ?? 0;
    }
  };
  walk(dir);
  return total;
}

async function playable(url: string): Promise<boolean> {
  const master = await fetch(url).then((r) => (r.ok ? r.text() : ''), () => '');
  const variant = master.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'));
  if (variant === undefined) return false;
  const media = await fetch(new URL(variant, url)).then((r) => (r.ok ? r.text() : ''), () => '');
  return media.includes('#EXTINF');
}

async function measure(name: string, bundle: string, tags: ReturnType<typeof readFlvTags>): Promise<{ playable: number; cpu: number; memory: number }> {
  const server: Server = await startOurs(bundle, { transcode: true, env: { RTMP_LOG_LEVEL: 'error' } });
  try {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const pub = await publishPaced(server.rtmpPort, `p${i}`, tags.filter((t) => t.timestamp < 6000));
      await waitFor(() => playable(server.playlistUrl!(`p${i}`)), `${name}: p${i} playable`, 30_000, 10);
      times.push((performance.now() - pub.publishedAt) / 1000);
      pub.stop();
      await waitFor(() => descendants(server.pid, 'ffmpeg').length === 0, 'ffmpeg to finish', 60_000, 50).catch(() => {});
    }
    await sleep(1000);
    const idleRss = ownRssBytes(server.pid);
    const pub = await publishPaced(server.rtmpPort, 'steady', tags);
    await sleep(6000); // past start-up
    const cpu0 = ownCpuSeconds(server.pid);
    const t0 = performance.now();
    let peak = 0;
    while (performance.now() - t0 < 14_000) {
      peak = Math.max(peak, ownRssBytes(server.pid) - idleRss + dirBytes(server.outputDir));
      await sleep(500);
    }
    const cpu = (ownCpuSeconds(server.pid) - cpu0) / ((performance.now() - t0) / 1000);
    pub.stop();
    return { playable: median(times), cpu, memory: peak };
  } finally {
    await server.stop();
  }
}

const log = (line: string) => process.stdout.write(`${line}\n`);
const oldAt = process.argv.indexOf('--old');
const source = await input(LADDER_SOURCE, log);
const tags = readFlvTags(source.path);
const rows: [string, Awaited<ReturnType<typeof measure>>][] = [];
rows.push(['proxy-rtmp, in-memory packager (this build)', await measure('new', await buildBundle(), tags)]);
if (oldAt !== -1) rows.push(['proxy-rtmp, ffmpeg dash muxer to files (e70bd28)', await measure('old', process.argv[oldAt + 1]!, tags)]);
log('');
log(`720p30 4 Mbit/s source, paced, 3-rung x264 ladder (veryfast); ${RUNS} runs for publish → playable, 14 s steady state for CPU and memory`);
log('');
log('| design | publish → playable s (median) | server CPU s per media-s (not ffmpeg) | memory per live stream MiB (RSS growth + output files) |');
log('| --- | --- | --- | --- |');
for (const [name, r] of rows) log(`| ${name} | ${fmt(r.playable, 2)} | ${fmt(r.cpu, 4)} | ${fmt(r.memory / 1048576, 1)} |`);
