/**
 * `npm run bench`: the figures of issue 6, in one run, with the peers side by
 * side. Figures, not pass/fail tests. Progress goes to stderr, the results
 * (Markdown) to stdout; `--write` also puts them into bench/README.md.
 *
 *   npm run bench                          # everything (~16 min on 2 cores)
 *   npm run bench -- --quick               # less data, fewer runs: for iterating
 *   npm run bench -- --only ingest,ladder  # some sections: ingest ladder latency grpc cold glass passthrough
 *   npm run bench -- --only glass --players dash --parts 0.5   # glass to glass: some players, some part durations
 *   npm run bench -- --write               # replace the figures in bench/README.md
 *   npm run bench -- --no-build            # do not run `npm run build` for the executable
 *   npm run bench -- --ffmpeg /usr/bin/ffmpeg  # transcode with this ffmpeg (default: what a checkout picks)
 *   npm run bench -- --only ingest --flood-only  # ingest's flood rows at one publisher only (fast sender + ffmpeg), about 1 minute
 *   npm run bench -- --only ingest --baseline old.cjs  # also an older build (a bundle) in the ingest rows, for before/after
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchColdStart } from './cold-start.ts';
import { benchGlassToGlass } from './glass-to-glass.ts';
import { benchGrpc } from './grpc.ts';
import { benchIngest } from './ingest.ts';
import { benchLadder } from './ladder.ts';
import { benchLatency } from './latency.ts';
import { benchPassthrough } from './passthrough.ts';
import { markdownTable, type BenchContext, type SectionResult } from './lib/context.ts';
import { input, INGEST_SOURCE, LADDER_SOURCE } from './lib/inputs.ts';
import { buildBundle, defaultFfmpeg, ensureNms, ffmpegVersion, NGINX_HINT, NMS_HINT, NMS_VERSION, nginxAvailable } from './lib/servers.ts';

const SECTIONS = ['ingest', 'ladder', 'latency', 'grpc', 'cold', 'glass', 'passthrough'] as const;
type Section = (typeof SECTIONS)[number];

const README = join(import.meta.dirname, 'README.md');
const START = '<!-- figures:start -->';
const END = '<!-- figures:end -->';

/** The first line a command prints (on stdout, else stderr: `nginx -v` uses stderr). */
function firstLine(file: string, args: string[]): string {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.error !== undefined) return 'not found';
  return (r.stdout.trim() || r.stderr.trim()).split('\n')[0]!.trim();
}

/** Date, machine and tool versions, for the README. */
function machine(ffmpeg: { path: string; version: string }): string[] {
  const cpu = cpus();
  const nginx = firstLine('nginx', ['-v']).replace(/^nginx version: /, '');
  return [
    `Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    `Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${firstLine('uname', ['-sr'])}`,
    `Node ${process.version}; transcoding with ${ffmpeg.version} (${ffmpeg.path.includes('ffmpeg-static') ? 'ffmpeg-static' : ffmpeg.path}), publishers ${firstLine('ffmpeg', ['-version']).replace(/ Copyright.*/, '')}; nginx ${nginx} with libnginx-mod-rtmp; node-media-server ${NMS_VERSION}`,
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'flood-only': { type: 'boolean', default: false },
      only: { type: 'string' },
      write: { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      ffmpeg: { type: 'string' },
      baseline: { type: 'string' },
      players: { type: 'string' },
      parts: { type: 'string' },
    },
  });
  const only = values.only === undefined ? [...SECTIONS] : values.only.split(',').map((s) => s.trim());
  for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section '${s}'; known: ${SECTIONS.join(', ')}`);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const t0 = performance.now();

  log('preparing: inputs, bundle, peers');
  const [ladderSource, ingestSource] = [await input(LADDER_SOURCE, log), await input(INGEST_SOURCE, log)];
  const bundlePath = await buildBundle();
  const nginx = nginxAvailable();
  if (!nginx) log(`nginx-rtmp not found: its figures are skipped. Install it with: ${NGINX_HINT}`);
  const nms = await ensureNms(log);
  if (!nms) log(`node-media-server not available: its figures are skipped. Install it with: ${NMS_HINT}`);
  const ffmpeg = values.ffmpeg === undefined ? defaultFfmpeg() : { path: values.ffmpeg, version: ffmpegVersion(values.ffmpeg) };
  log(`transcoding ffmpeg: ${ffmpeg.version} (${ffmpeg.path})`);
  const ctx: BenchContext = { quick: values.quick, floodOnly: values['flood-only'], log, bundlePath, ladderSource, ingestSource, ffmpeg, peers: { nginx, nms }, ...(values.baseline === undefined ? {} : { baselineBundle: values.baseline }),
    ...(values.players === undefined ? {} : { players: values.players.split(',').map((p) => p.trim()) }),
    ...(values.parts === undefined ? {} : { parts: values.parts.split(',').map(Number) }) };

  const results: SectionResult[] = [];
  const runners: Record<Section, () => Promise<SectionResult>> = {
    ingest: () => benchIngest(ctx),
    ladder: () => benchLadder(ctx),
    latency: () => benchLatency(ctx),
    grpc: () => benchGrpc(ctx),
    cold: () => benchColdStart(ctx, !values['no-build']),
    glass: () => benchGlassToGlass(ctx),
    passthrough: () => benchPassthrough(ctx),
  };
  for (const section of SECTIONS) {
    if (!only.includes(section)) continue;
    log(`\n== ${section}`);
    const started = performance.now();
    try {
      results.push(await runners[section]());
    } catch (err) {
      log(`section ${section} failed: ${(err as Error).stack ?? String(err)}`);
      results.push({ title: `${section}: failed`, table: [], notes: [(err as Error).message.split('\n')[0]!] });
    }
    log(`   (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }

  const total = (performance.now() - t0) / 1000;
  const body = [
    ...machine(ctx.ffmpeg).map((l) => `${l}  `),
    `Run: \`npm run bench${values.quick ? ' -- --quick' : ''}\`${values.only === undefined ? '' : ` --only ${values.only}`}${values['flood-only'] ? ' --flood-only' : ''}${values.baseline === undefined ? '' : ` --baseline ${values.baseline}`}, ${total.toFixed(0)} s in all.`,
    '',
    ...results.flatMap((r) => [
      `### ${r.title}`, '', markdownTable(r.table), '',
      ...(r.extra ?? []).flatMap((e) => [`${e.title}:`, '', markdownTable(e.table), '']),
      ...r.notes.map((n) => `- ${n}`), '',
    ]),
  ].join('\n');
  process.stdout.write(`\n${body}\n`);
  if (values.write) {
    const readme = existsSync(README) ? readFileSync(README, 'utf8') : `${START}\n${END}\n`;
    const a = readme.indexOf(START);
    const b = readme.indexOf(END);
    if (a < 0 || b < a) throw new Error(`bench/README.md has no ${START} … ${END} block to replace`);
    writeFileSync(README, `${readme.slice(0, a + START.length)}\n${body}\n${readme.slice(b)}`);
    log(`figures written to ${README}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
