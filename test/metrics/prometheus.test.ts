import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createMetrics, type MetricsStream, type MetricsStreamSource } from '../../src/metrics/prometheus.ts';
import { restartTally } from '../../src/metrics/restart-tally.ts';
import { EMPTY_SAMPLE, type SystemSample } from '../../src/metrics/system.ts';
import { StreamRegistry } from '../../src/streams/registry.ts';
import type { FfmpegProgress } from '../../src/transcode/progress.ts';

/** One parsed family of the text exposition format 0.0.4. */
interface Family {
  type: string;
  help: string;
  /** Canonical series (`name{a="x",b="y"}`, labels sorted) → value. */
  samples: Map<string, number>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<string, readonly string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/**
 * A sample value. Like Prometheus (Go strconv.ParseFloat), Inf and NaN are
 * case-insensitive: prom-client writes `Nan` for an empty event-loop-lag mean.
 */
function parseValue(text: string, line: string): number {
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  assert.match(text, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, `bad value in: ${line}`);
  return Number(text);
}

/**
 * A strict parser for the Prometheus text format 0.0.4: HELP and TYPE once per
 * family and before its samples, families contiguous, valid names, quoted and
 * escaped label values, no duplicate label or series, trailing newline.
 */
function parseExposition(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'exposition must end with a newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: string | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue; // empty lines are ignored (format 0.0.4)
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta !== null) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      assert.match(name, NAME, line);
      if (current !== name) {
        assert.ok(!families.has(name), `family ${name} is not contiguous`);
        families.set(name, { type: 'untyped', help: '', samples: new Map() });
        current = name;
      }
      const family = families.get(name)!;
      assert.equal(family.samples.size, 0, `${kind} after samples: ${line}`);
      if (kind === 'TYPE') {
        assert.ok(TYPES.has(rest), line);
        family.type = rest;
      } else {
        assert.match(rest, /^([^\\]|\\\\|\\n)*$/, `bad HELP escape: ${line}`);
        family.help = rest;
      }
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment: ${line}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    assert.ok(m !== null, `bad sample line: ${line}`);
    const name = m[1]!;
    const labels: [string, string][] = [];
    let rest = m[2] ?? '';
    while (rest !== '') {
      const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/.exec(rest);
      assert.ok(l !== null, `bad labels: ${line}`);
      assert.match(l[1]!, LABEL);
      assert.ok(!labels.some(([k]) => k === l[1]), `duplicate label: ${line}`);
      labels.push([l[1]!, l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))]);
      rest = rest.slice(l[0].length);
      if (l[3] === ',' && rest === '') break;
    }
    assert.ok(current !== undefined, `sample before any family: ${line}`);
    const family = families.get(current)!;
    assert.ok(
      (SUFFIXES[family.type] ?? ['']).some((s) => name === current + s),
      `sample ${name} outside its family ${current}`,
    );
    const series = `${name}{${labels.sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    assert.ok(!seen.has(series), `duplicate series ${series}`);
    seen.add(series);
    family.samples.set(series, parseValue(m[3]!, line));
  }
  return families;
}

interface FakeStream extends MetricsStream {
  transcode: {
    status: 'starting' | 'encoding' | 'complete' | 'error';
    progress: FfmpegProgress | undefined;
    restarts: number;
    droppedGops: number;
    droppedFrames: number;
  } | undefined;
}

function progress(p: Partial<FfmpegProgress>): FfmpegProgress {
  return { frame: 0, fps: 0, bitrateKbps: 0, totalSize: 0, outTimeSeconds: 0, dupFrames: 0, dropFrames: 0, speed: 0, progress: 'continue', ...p };
}

describe('the test exposition parser', () => {
  test('accepts a valid exposition and rejects malformed ones', () => {
    const ok = String.raw`# HELP a_total A \\ help, \n.` + '\n# TYPE a_total counter\n' + String.raw`a_total{x="q\"\\",y="2"} 1.5e3` + '\n\n# TYPE b gauge\nb -Inf\n';
    assert.equal(parseExposition(ok).get('a_total')?.samples.get(String.raw`a_total{x="q\"\\",y="2"}`), 1500);
    for (const bad of [
      'a 1',
      '# TYPE a gauge\na 1\na 1\n',
      '# TYPE a gauge\nb 1\n',
      '# TYPE a gauge\na{x=1} 1\n',
      '# TYPE a gauge\na{x="1",x="2"} 1\n',
      '# TYPE a gauge\na one\n',
      '# TYPE a gauge\na 1\n# TYPE a gauge\n',
      '# TYPE a gauge\n# TYPE b gauge\n# TYPE a gauge\n',
      '# TYPE a widget\n',
    ]) {
      assert.throws(() => parseExposition(bad), assert.AssertionError, JSON.stringify(bad));
    }
  });
});

describe('prometheus /metrics', () => {
  const alpha: FakeStream = {
    key: 'alpha',
    startedAt: 0,
    bitrate: (now) => (now === 1_000_000 ? 2_500_000 : -1),
    transcode: { status: 'encoding', progress: progress({ fps: 29.97, speed: 1.25, dropFrames: 2 }), restarts: 3, droppedGops: 4, droppedFrames: 40 },
  };
  const beta: FakeStream = { key: 'beta_2.x-y', startedAt: 0, bitrate: () => 800_000, transcode: undefined };
  const streams: FakeStream[] = [alpha, beta];
  const source: MetricsStreamSource = {
    get size() {
      return streams.length;
    },
    list: () => streams,
    refusals: new Map([
      ['max-streams', 3],
      ['busy', 1],
    ]),
    totalBytesIn: 123_456_789,
    totalBytesOut: 1_000,
  };
  const http = { stats: { bytesOut: 9_007_199_254 } };
  let reads = 0;
  let sample: SystemSample = {
    ...EMPTY_SAMPLE, cpuPercent: 12.5, cpuCorePercent: 50, machineCpuPercent: 61.5, memoryMb: 256.5, gpuEncoderPercent: 33, processes: 3,
  };
  const system = {
    latest: (): SystemSample => {
      reads++;
      return sample;
    },
  };
  const metrics = createMetrics({ registry: source, http, system, maxStreams: 5, ffmpegRestarts: () => 7, now: () => 1_000_000 });
  let server: Server;
  let port: number;

  before(async () => {
    server = createServer((req, res) => void metrics.handler(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(() => server?.close());

  function get(method = 'GET'): Promise<{ status: number; type: string | undefined; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/metrics', method }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  function value(families: Map<string, Family>, family: string, series: string): number | undefined {
    return families.get(family)?.samples.get(series);
  }

  test('serves every figure with exact values', async () => {
    const reply = await get();
    assert.equal(reply.status, 200);
    assert.equal(reply.type, metrics.registry.contentType);
    const f = parseExposition(reply.body);
    const p = 'proxy_rtmp_';
    const expected: [string, string, string, number][] = [
      [`${p}active_streams`, 'gauge', `${p}active_streams{}`, 2],
      [`${p}bytes_in_total`, 'counter', `${p}bytes_in_total{}`, 123_456_789],
      [`${p}bytes_out_total`, 'counter', `${p}bytes_out_total{}`, 9_007_200_254],
      [`${p}refusals_total`, 'counter', `${p}refusals_total{reason="max-streams"}`, 3],
      [`${p}refusals_total`, 'counter', `${p}refusals_total{reason="busy"}`, 1],
      [`${p}stream_input_bitrate_bps`, 'gauge', `${p}stream_input_bitrate_bps{key="alpha"}`, 2_500_000],
      [`${p}stream_input_bitrate_bps`, 'gauge', `${p}stream_input_bitrate_bps{key="beta_2.x-y"}`, 800_000],
      [`${p}stream_fps`, 'gauge', `${p}stream_fps{key="alpha"}`, 29.97],
      [`${p}stream_encoder_speed`, 'gauge', `${p}stream_encoder_speed{key="alpha"}`, 1.25],
      [`${p}stream_dropped_frames`, 'gauge', `${p}stream_dropped_frames{key="alpha"}`, 42],
      [`${p}stream_dropped_gops`, 'gauge', `${p}stream_dropped_gops{key="alpha"}`, 4],
      [`${p}ffmpeg_restarts_total`, 'counter', `${p}ffmpeg_restarts_total{key="alpha"}`, 3],
      [`${p}ffmpeg_restarts_all_streams_total`, 'counter', `${p}ffmpeg_restarts_all_streams_total{}`, 7],
      [`${p}process_cpu_percent`, 'gauge', `${p}process_cpu_percent{}`, 12.5],
      [`${p}process_memory_mb`, 'gauge', `${p}process_memory_mb{}`, 256.5],
      [`${p}machine_cpu_percent`, 'gauge', `${p}machine_cpu_percent{}`, 61.5],
      [`${p}gpu_encoder_percent`, 'gauge', `${p}gpu_encoder_percent{}`, 33],
      [`${p}stream_slots`, 'gauge', `${p}stream_slots{}`, 5],
      [`${p}stream_slots_free`, 'gauge', `${p}stream_slots_free{}`, 3],
      [`${p}encoder_speed_min`, 'gauge', `${p}encoder_speed_min{}`, 1.25],
    ];
    for (const [family, type, series, v] of expected) {
      assert.equal(f.get(family)?.type, type, family);
      assert.equal(value(f, family, series), v, series);
    }
    // A stream without a transcoder has a bitrate and nothing else.
    for (const family of ['stream_fps', 'stream_encoder_speed', 'stream_dropped_frames', 'stream_dropped_gops', 'ffmpeg_restarts_total']) {
      assert.equal(f.get(p + family)?.samples.size, 1, family);
    }
    assert.equal(f.get(`${p}refusals_total`)?.samples.size, 2);
    // prom-client's default metrics on the private registry.
    assert.ok(f.has('process_cpu_user_seconds_total'));
    assert.ok(f.has('nodejs_heap_size_used_bytes'));
  });

  test('a figure the sample does not report has no series; scrapes read the latest sample and measure nothing', async () => {
    const before = reads;
    let f = parseExposition((await get()).body);
    assert.equal(f.get('proxy_rtmp_gpu_decoder_percent')?.samples.size, 0, 'no decoder figure, no series');
    assert.ok(reads > before);
    sample = { ...sample, gpuEncoderPercent: undefined, machineCpuPercent: undefined, cpuPercent: 3 };
    f = parseExposition((await get()).body);
    assert.equal(f.get('proxy_rtmp_gpu_encoder_percent')?.samples.size, 0);
    assert.equal(f.get('proxy_rtmp_machine_cpu_percent')?.samples.size, 0);
    assert.equal(value(f, 'proxy_rtmp_process_cpu_percent', 'proxy_rtmp_process_cpu_percent{}'), 3);
  });

  test('capacity: no slot free at the limit; no speed gauge while nothing encodes past its warm-up', async () => {
    const extra: FakeStream[] = [1, 2, 3].map((i) => ({ key: `x${i}`, startedAt: 995_000, bitrate: () => 1, transcode: {
      status: 'encoding', progress: progress({ speed: 0.5 }), restarts: 0, droppedGops: 0, droppedFrames: 0 } }));
    streams.push(...extra);
    try {
    let f = parseExposition((await get()).body);
    assert.equal(value(f, 'proxy_rtmp_stream_slots_free', 'proxy_rtmp_stream_slots_free{}'), 0);
    assert.equal(value(f, 'proxy_rtmp_encoder_speed_min', 'proxy_rtmp_encoder_speed_min{}'), 1.25, 'the new streams are warming up');
    streams.splice(0, streams.length, beta);
    f = parseExposition((await get()).body);
    assert.equal(value(f, 'proxy_rtmp_stream_slots_free', 'proxy_rtmp_stream_slots_free{}'), 4);
    assert.equal(f.get('proxy_rtmp_encoder_speed_min')?.samples.size, 0);
    } finally {
      streams.splice(0, streams.length, alpha, beta);
    }
  });

  test("an ended stream's series are gone on the next scrape", async () => {
    streams.splice(streams.indexOf(alpha), 1);
    beta.transcode = { status: 'encoding', progress: undefined, restarts: 0, droppedGops: 0, droppedFrames: 5 };
    const f = parseExposition((await get()).body);
    assert.ok(!/key="alpha"/.test([...f.values()].flatMap((x) => [...x.samples.keys()]).join('\n')));
    assert.equal(value(f, 'proxy_rtmp_active_streams', 'proxy_rtmp_active_streams{}'), 1);
    assert.equal(value(f, 'proxy_rtmp_stream_dropped_frames', 'proxy_rtmp_stream_dropped_frames{key="beta_2.x-y"}'), 5);
    assert.equal(value(f, 'proxy_rtmp_ffmpeg_restarts_total', 'proxy_rtmp_ffmpeg_restarts_total{key="beta_2.x-y"}'), 0);
    assert.equal(f.get('proxy_rtmp_stream_fps')?.samples.size, 0);
    streams.splice(0);
    const empty = parseExposition((await get()).body);
    assert.equal(empty.get('proxy_rtmp_stream_input_bitrate_bps')?.samples.size, 0);
    assert.equal(value(empty, 'proxy_rtmp_active_streams', 'proxy_rtmp_active_streams{}'), 0);
  });

  test('HEAD has no body; other methods are refused', async () => {
    const head = await get('HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await get('POST')).status, 405);
  });

  test('promtool parses the output; its only lint on our names is the requested _mb unit', async () => {
    // .ci/run installs Debian's prometheus package for promtool.
    streams.splice(0, streams.length, alpha, beta);
    const body = (await get()).body;
    const result = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    // Exit 1 is a parse error, 3 lint problems only.
    assert.notEqual(result.status, 1, result.stderr + result.stdout);
    const ours = (result.stdout + result.stderr).split('\n').filter((l) => l.startsWith('proxy_rtmp_'));
    assert.deepEqual(ours, ['proxy_rtmp_process_memory_mb metric names should not contain abbreviated units']);
  });
});

describe('prometheus over a real StreamRegistry', () => {
  test('a StreamRegistry satisfies the narrow interface', async () => {
    const registry = new StreamRegistry({ maxStreams: 1, bitrateWindowMs: 1000, now: () => 5000 });
    const { entry } = registry.publish({ key: 'live1', app: 'live', query: {}, peer: '127.0.0.1:1', sourceUrl: 'rtmp://x/live' });
    entry.addBytes(1000, 5000);
    registry.totalBytesIn = 1000;
    registry.refuse('max-streams', { peer: '127.0.0.1:2', message: 'full' });
    registry.refuse('max-streams', { peer: '127.0.0.1:3', message: 'full' });
    const system = { latest: (): SystemSample => EMPTY_SAMPLE };
    const { registry: prom } = createMetrics({ registry, http: { stats: { bytesOut: 0 } }, system });
    let f = parseExposition(await prom.metrics());
    assert.equal(f.get('proxy_rtmp_refusals_total')?.samples.get('proxy_rtmp_refusals_total{reason="max-streams"}'), 2);
    assert.equal(f.get('proxy_rtmp_bytes_in_total')?.samples.get('proxy_rtmp_bytes_in_total{}'), 1000);
    assert.ok(f.get('proxy_rtmp_stream_input_bitrate_bps')?.samples.has('proxy_rtmp_stream_input_bitrate_bps{key="live1"}'));
    assert.ok(!f.has('proxy_rtmp_ffmpeg_restarts_all_streams_total'));
    assert.ok(!f.has('proxy_rtmp_stream_slots_free'), 'no limit given, no capacity gauges');
    registry.unpublish(entry);
    f = parseExposition(await prom.metrics());
    assert.equal(f.get('proxy_rtmp_stream_input_bitrate_bps')?.samples.size, 0);
  });
});

describe('ffmpeg restarts over every stream since start', () => {
  test('the tally keeps the restarts of ended streams and adds the live ones', async () => {
    const registry = new StreamRegistry({ maxStreams: 3, bitrateWindowMs: 1000, now: () => 5000 });
    const state = (restarts: number) => ({
      status: 'encoding' as const, rungs: [], encoder: 'x264' as const, fallback: undefined, progress: undefined, restarts, droppedGops: 0, droppedFrames: 0, error: undefined,
    });
    const { registry: prom } = createMetrics({
      registry, http: { stats: { bytesOut: 0 } }, system: { latest: () => EMPTY_SAMPLE }, ffmpegRestarts: restartTally(registry),
    });
    const total = async () => parseExposition(await prom.metrics()).get('proxy_rtmp_ffmpeg_restarts_all_streams_total')?.samples.get('proxy_rtmp_ffmpeg_restarts_all_streams_total{}');
    assert.equal(await total(), 0);
    const { entry: a } = registry.publish({ key: 'a', app: 'live', query: {}, peer: '127.0.0.1:1', sourceUrl: 'rtmp://x/live/a' });
    const { entry: b } = registry.publish({ key: 'b', app: 'live', query: {}, peer: '127.0.0.1:2', sourceUrl: 'rtmp://x/live/b' });
    a.transcode = state(2);
    b.transcode = state(3);
    assert.equal(await total(), 5);
    registry.unpublish(a);
    assert.equal(await total(), 5, 'an ended stream still counts');
    registry.publish({ key: 'c', app: 'live', query: {}, peer: '127.0.0.1:3', sourceUrl: 'rtmp://x/live/c' }).entry.transcode = state(1);
    registry.unpublish(b);
    assert.equal(await total(), 6);
  });
});
