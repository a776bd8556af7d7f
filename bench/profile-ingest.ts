/**
 * Profiles the ingest path: runs the bundle under `node --cpu-prof` while
 * publishers push the ingest file without -re (transcoding off), or with
 * --realtime the 720p 4 Mbps file with `-re` for --seconds, then prints the
 * functions with the most self time. The .cpuprofile stays in
 * bench/.cache/prof/ for Chrome DevTools or speedscope.
 *
 *   node --import tsx bench/profile-ingest.ts [--publishers 8] [--mb 1000] [--runs 1] [--no-prof] [--bundle a.cjs,b.cjs]
 *   node --import tsx bench/profile-ingest.ts --sender [--chunk-size 4096] --publishers 1 --mb 3000   # the fast sender (bench/lib/flood-sender.ts), not ffmpeg
 *   node --import tsx bench/profile-ingest.ts --realtime [--seconds 20] [--publishers 8] [--node-args=--max-semi-space-size=1]
 *
 * With --no-prof it only measures (the best of --runs), for before/after
 * comparisons; --bundle takes other builds (e.g. of an older commit) and runs
 * them in turn with this one.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CACHE_DIR, input, INGEST_SOURCE, LADDER_SOURCE } from './lib/inputs.ts';
import { realtimeRun } from './ingest.ts';
import { floodPublish } from './lib/flood.ts';
import { treeCpuSeconds } from './lib/proc.ts';
import { publish } from './lib/publish.ts';
import { buildBundle, startOurs } from './lib/servers.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

const { values } = parseArgs({
  options: {
    publishers: { type: 'string', default: '8' },
    mb: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '1' },
    'no-prof': { type: 'boolean', default: false },
    bundle: { type: 'string' },
    realtime: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '20' },
    'node-args': { type: 'string' },
    sender: { type: 'boolean', default: false },
    'chunk-size': { type: 'string', default: '4096' },
  },
});
const n = Number(values.publishers);
const totalBytes = Number(values.mb) * 1e6;
const log = (line: string) => process.stderr.write(`${line}\n`);

const file = await input(INGEST_SOURCE, log);
const ladderSource = await input(LADDER_SOURCE, log);
const bundlePath = await buildBundle();
const dir = join(CACHE_DIR, 'prof');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const bundles = [bundlePath, ...(values.bundle?.split(',') ?? [])];
const best = new Map<string, number>();
for (let run = 0; run < Number(values.runs); run++) {
  for (const b of bundles) {
    const nodeArgs = [...(values['node-args']?.split(' ') ?? []), ...(values['no-prof'] ? [] : ['--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', dir])];
    if (values.realtime) {
      const ctx = { quick: false, log, bundlePath: b, ladderSource, ingestSource: file, ffmpeg: { path: 'ffmpeg', version: '' }, peers: { nginx: false, nms: false } };
      const r = await realtimeRun(ctx, () => startOurs(b, { transcode: false, nodeArgs }), n, Number(values.seconds));
      best.set(b, Math.min(best.get(b) ?? Infinity, r.cpuPerGb));
      continue;
    }
    const server = await startOurs(b, { transcode: false, nodeArgs });
    await sleep(300);
    const cpu0 = treeCpuSeconds(server.pid);
    const loops = Math.max(0, Math.ceil(totalBytes / n / file.bytes) - 1);
    const t0 = performance.now();
    const results = values.sender
      ? await Promise.all(Array.from({ length: n }, (_, i) => floodPublish(server.rtmpPort, `prof_${i}`, file.path, totalBytes / n, { chunkSize: Number(values['chunk-size']) })))
      : await Promise.all(Array.from({ length: n }, (_, i) => publish(file.path, server.url(`prof_${i}`), { realtime: false, loops }).done));
    await sleep(300);
    const cpu = treeCpuSeconds(server.pid) - cpu0;
    const bytes = results.reduce((a, r) => a + r.bytes, 0);
    const wall = (performance.now() - t0) / 1000;
    await server.stop();
    const perGb = cpu / (bytes / 1e9);
    best.set(b, Math.min(best.get(b) ?? Infinity, perGb));
    log(`${b}: ${n} publishers, ${(bytes / 1e6).toFixed(0)} MB, server ${cpu.toFixed(2)} cpu-s → ${perGb.toFixed(3)} cpu-s/GB, ${(bytes / 1e6 / wall).toFixed(0)} MB/s wall${values['no-prof'] ? '' : ' (under the profiler)'}`);
  }
}
if (Number(values.runs) > 1) for (const [b, v] of best) log(`best ${b}: ${v.toFixed(3)} cpu-s/GB`);
if (values['no-prof']) process.exit(0);

const profileFile = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
if (profileFile === undefined) throw new Error(`no .cpuprofile in ${dir}`);
const profile = JSON.parse(readFileSync(join(dir, profileFile), 'utf8')) as { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[] };
const self = new Map<string, number>();
let total = 0;
for (const node of profile.nodes) {
  const hits = node.hitCount ?? 0;
  const { functionName, url, lineNumber } = node.callFrame;
  if (functionName === '(idle)') continue;
  const where = url === '' ? '' : ` ${url.replace(/^.*\//, '')}:${lineNumber + 1}`;
  const key = `${functionName || '(anonymous)'}${where}`;
  self.set(key, (self.get(key) ?? 0) + hits);
  total += hits;
}
process.stdout.write(`self time, % of non-idle samples (${total} samples), ${join(dir, profileFile)}\n`);
for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  process.stdout.write(`${((hits / total) * 100).toFixed(1).padStart(5)}%  ${key}\n`);
}
