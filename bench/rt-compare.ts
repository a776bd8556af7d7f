/**
 * Realtime ingest, several builds side by side without rebuilding: for each K
 * in --publishers, each bundle in turn runs the same `ffmpeg -re` publishers
 * (bench/ingest.ts realtimeRun), --runs times, alternating, so a noisy machine
 * hits every build alike. Optionally the Node floor (--floor, plus --floor-env
 * for a floor variant). Prints CPU-s/GB, wake-ups/s and peak RSS per run.
 *
 * --coalesce=MS adds the floor reading only on a shared MS timer (bench/lib/net-floor.ts).
 *
 *   node --import tsx bench/rt-compare.ts --bundles a.cjs,b.cjs [--env label=b.cjs:KEY=V,KEY=V] [--publishers 1,8,32] [--seconds 15] [--runs 1] [--floor] [--coalesce 10]
 */
import { parseArgs } from 'node:util';
import { realtimeRun } from './ingest.ts';
import { input, INGEST_SOURCE, LADDER_SOURCE } from './lib/inputs.ts';
import { startNodeFloor, startOurs } from './lib/servers.ts';

const { values } = parseArgs({
  options: {
    bundles: { type: 'string', default: '' },
    env: { type: 'string', multiple: true, default: [] },
    publishers: { type: 'string', default: '1,8,32' },
    seconds: { type: 'string', default: '15' },
    runs: { type: 'string', default: '1' },
    floor: { type: 'boolean', default: false },
    coalesce: { type: 'string' },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);
const file = await input(INGEST_SOURCE, log);
const ladderSource = await input(LADDER_SOURCE, log);
// `--env label=bundle:KEY=V,KEY=V` runs that bundle with extra variables under its own label.
const variants: { label: string; bundle: string; env: Record<string, string> }[] = values.bundles.split(',').filter((b) => b !== '').map((b) => ({ label: b, bundle: b, env: {} }));
for (const spec of values.env) {
  const cut = (s: string, sep: string): [string, string] => [s.slice(0, s.indexOf(sep)), s.slice(s.indexOf(sep) + 1)];
  const [label, rest] = cut(spec, '=');
  const [bundle, vars] = cut(rest, ':');
  variants.push({ label, bundle, env: Object.fromEntries(vars.split(',').map((kv) => cut(kv, '='))) });
}
const ctx = { quick: false, log, bundlePath: variants[0]?.bundle ?? '', ladderSource, ingestSource: file, ffmpeg: { path: 'ffmpeg', version: '' }, peers: { nginx: false, nms: false } };
for (const n of values.publishers.split(',').map(Number)) {
  for (let run = 0; run < Number(values.runs); run++) {
    for (const v of variants) {
      const r = await realtimeRun(ctx, async () => ({ ...(await startOurs(v.bundle, { transcode: false, env: v.env })), name: v.label }), n, Number(values.seconds));
      process.stdout.write(`${v.label}\tK=${n}\t${r.cpuPerGb.toFixed(2)} cpu-s/GB\t${r.wakeupsPerSecond.toFixed(0)} wake/s\tpeak ${r.peakRssMb.toFixed(1)} MiB\tidle ${r.idleRssMb.toFixed(1)} MiB\tfailed ${r.failed}\n`);
    }
    if (values.floor) {
      const r = await realtimeRun(ctx, () => startNodeFloor(), n, Number(values.seconds));
      process.stdout.write(`floor\tK=${n}\t${r.cpuPerGb.toFixed(2)} cpu-s/GB\t${r.wakeupsPerSecond.toFixed(0)} wake/s\tpeak ${r.peakRssMb.toFixed(1)} MiB\tidle ${r.idleRssMb.toFixed(1)} MiB\n`);
    }
    if (values.coalesce !== undefined) {
      const ms = Number(values.coalesce);
      const r = await realtimeRun(ctx, () => startNodeFloor({ coalesceMs: ms }), n, Number(values.seconds));
      process.stdout.write(`floor ${ms} ms\tK=${n}\t${r.cpuPerGb.toFixed(2)} cpu-s/GB\t${r.wakeupsPerSecond.toFixed(0)} wake/s\tpeak ${r.peakRssMb.toFixed(1)} MiB\tidle ${r.idleRssMb.toFixed(1)} MiB\n`);
    }
  }
}
