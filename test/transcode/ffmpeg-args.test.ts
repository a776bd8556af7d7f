import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hasCode } from '../../src/errors.ts';
import { X264_LIVE_PARAMS, buildCmafPipeArgs, buildFfmpegArgs, formatFps, pipeOutputFds, type TranscodePlan } from '../../src/transcode/ffmpeg-args.ts';
import { DEFAULT_LADDER, planLadder } from '../../src/transcode/ladder.ts';

function plan(over: Partial<TranscodePlan> = {}): TranscodePlan {
  return {
    rungs: planLadder(DEFAULT_LADDER, { width: 1920, height: 1080 }, 1080),
    encoder: 'x264',
    segmentSeconds: 2,
    windowSegments: 6,
    audio: true,
    audioKbps: 128,
    outputDir: '/var/lib/proxy-rtmp/live/key',
    ...over,
  };
}

const HEAD = [
  '-hide_banner', '-nostdin', '-loglevel', 'warning', '-nostats', '-y',
  '-fflags', '+genpts', '-probesize', '500000', '-analyzeduration', '1000000', '-f', 'flv', '-i', 'pipe:0',
];
const AUDIO = ['-map', '0:a:0?', '-af', 'aresample=async=1', '-c:a', 'aac', '-b:a', '128k', '-ac', '2', '-ar', '48000'];
function dash(dir: string, sets = 'id=0,streams=v id=1,streams=a'): string[] {
  return [
    '-max_muxing_queue_size', '1024',
    '-f', 'dash', '-seg_duration', '2', '-window_size', '6', '-extra_window_size', '2', '-remove_at_exit', '0',
    '-use_template', '1', '-use_timeline', '1', '-hls_playlist', '1', '-adaptation_sets', sets,
    '-init_seg_name', 'init-$RepresentationID$.m4s', '-media_seg_name', 'chunk-$RepresentationID$-$Number%05d$.m4s',
    '-streaming', '1', '-dash_segment_type', 'mp4', `${dir}/manifest.mpd`,
  ];
}
function x264(i: number, kbps: number, max: number, buf: number, profile: string): string[] {
  const s = `:v:${i}`;
  return [
    '-map', `[v${i}]`, `-c${s}`, 'libx264', `-b${s}`, `${kbps}k`, `-maxrate${s}`, `${max}k`, `-bufsize${s}`, `${buf}k`,
    `-g${s}`, '60', `-force_key_frames${s}`, 'expr:gte(t,n_forced*2)', `-profile${s}`, profile,
    `-preset${s}`, 'veryfast', `-keyint_min${s}`, '60', `-pix_fmt${s}`, 'yuv420p', `-sc_threshold${s}`, '0', `-x264-params${s}`, 'sliced-threads=1:rc-lookahead=0',
  ];
}

/** The value following `flag` in `args`. */
function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

describe('buildFfmpegArgs', () => {
  test('x264, default ladder, 1080p source', () => {
    assert.deepEqual(buildFfmpegArgs(plan()), [
      ...HEAD,
      '-filter_complex',
      // Chained: each rung scaled from the one above, fps once at the head.
      '[0:v:0]fps=30,scale=1920:1080,setdar=16/9,split=2[v0][c0];' +
        '[c0]scale=1280:720,setdar=16/9,split=2[v1][c1];' +
        '[c1]scale=854:480,setdar=16/9,split=2[v2][c2];' +
        '[c2]scale=640:360,setdar=16/9[v3]',
      ...x264(0, 5000, 5350, 7500, 'high'),
      ...x264(1, 3000, 3210, 4500, 'high'),
      ...x264(2, 1500, 1605, 2250, 'main'),
      ...x264(3, 800, 856, 1200, 'main'),
      ...AUDIO,
      ...dash('/var/lib/proxy-rtmp/live/key'),
    ]);
  });

  test('x264 chain: a lower rung at a lower frame rate gets its own fps filter; a higher one is scaled from the source', () => {
    const rungs = [
      { name: 'a', width: 1280, height: 720, bitrateKbps: 3000, fps: 30, codec: 'h264' as const },
      { name: 'b', width: 854, height: 480, bitrateKbps: 1500, fps: 15, codec: 'h264' as const },
      { name: 'c', width: 640, height: 360, bitrateKbps: 800, fps: 60, codec: 'h264' as const },
      { name: 'd', width: 426, height: 240, bitrateKbps: 400, fps: 60, codec: 'h264' as const },
    ];
    assert.equal(
      valueOf(buildFfmpegArgs(plan({ rungs })), '-filter_complex'),
      '[0:v:0]split=2[s0][s2];' +
        '[s0]fps=30,scale=1280:720,setdar=16/9,split=2[v0][c0];' +
        '[c0]fps=15,scale=854:480,setdar=16/9[v1];' +
        '[s2]fps=60,scale=640:360,setdar=16/9,split=2[v2][c2];' +
        '[c2]scale=426:240,setdar=16/9[v3]',
    );
  });

  test('x264, default ladder, 360p source: one rung, no split', () => {
    const rungs = planLadder(DEFAULT_LADDER, { width: 640, height: 360 }, 1080);
    assert.deepEqual(buildFfmpegArgs(plan({ rungs, outputDir: '/tmp/out/' })), [
      ...HEAD,
      '-filter_complex', '[0:v:0]fps=30,scale=640:360,setdar=16/9[v0]',
      ...x264(0, 800, 856, 1200, 'main'),
      ...AUDIO,
      ...dash('/tmp/out'),
    ]);
  });

  test('no audio: no audio map and a video-only adaptation set', () => {
    const args = buildFfmpegArgs(plan({ audio: false }));
    assert.ok(!args.includes('0:a:0?'));
    assert.ok(!args.includes('-c:a'));
    assert.equal(valueOf(args, '-adaptation_sets'), 'id=0,streams=v');
  });

  test('progress: -progress always, -stats_period only on request', () => {
    const plain = buildFfmpegArgs(plan({ progressUrl: 'pipe:3' }));
    assert.deepEqual(plain.slice(0, 8), ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-nostats', '-progress', 'pipe:3', '-y']);
    assert.ok(!plain.includes('-stats_period'));
    const withPeriod = buildFfmpegArgs(plan({ progressUrl: 'pipe:3', statsPeriod: true }));
    assert.deepEqual(withPeriod.slice(5, 9), ['-progress', 'pipe:3', '-stats_period', '1']);
  });

  test('NVENC: CUDA upload once, scale_cuda, h264_nvenc with forced IDR, no software options', () => {
    const args = buildFfmpegArgs(plan({ encoder: 'nvenc' }));
    assert.equal(
      valueOf(args, '-filter_complex'),
      '[0:v:0]format=yuv420p,hwupload_cuda,split=4[s0][s1][s2][s3];' +
        '[s0]fps=30,scale_cuda=1920:1080,setdar=16/9[v0];[s1]fps=30,scale_cuda=1280:720,setdar=16/9[v1];' +
        '[s2]fps=30,scale_cuda=854:480,setdar=16/9[v2];[s3]fps=30,scale_cuda=640:360,setdar=16/9[v3]',
    );
    for (let i = 0; i < 4; i++) {
      assert.equal(valueOf(args, `-c:v:${i}`), 'h264_nvenc');
      assert.equal(valueOf(args, `-preset:v:${i}`), 'fast');
      assert.equal(valueOf(args, `-forced-idr:v:${i}`), '1');
    }
    assert.ok(!args.some((a) => /^-(pix_fmt|sc_threshold|keyint_min)/.test(a)), 'no software-only options');
    assert.ok(!args.includes('-hwaccel') && !args.includes('-vaapi_device'));
  });

  test('QSV: qsv device, hwupload with extra frames, scale_qsv, h264_qsv', () => {
    const args = buildFfmpegArgs(plan({ encoder: 'qsv', rungs: planLadder(DEFAULT_LADDER, { width: 1280, height: 720 }, 1080) }));
    assert.deepEqual(args.slice(6, 10), ['-init_hw_device', 'qsv=hw', '-filter_hw_device', 'hw']);
    assert.ok(args.indexOf('-init_hw_device') < args.indexOf('-i'));
    assert.equal(
      valueOf(args, '-filter_complex'),
      '[0:v:0]format=nv12,hwupload=extra_hw_frames=64,format=qsv,split=3[s0][s1][s2];' +
        '[s0]fps=30,scale_qsv=w=1280:h=720,setdar=16/9[v0];[s1]fps=30,scale_qsv=w=854:h=480,setdar=16/9[v1];' +
        '[s2]fps=30,scale_qsv=w=640:h=360,setdar=16/9[v2]',
    );
    for (let i = 0; i < 3; i++) {
      assert.equal(valueOf(args, `-c:v:${i}`), 'h264_qsv');
      assert.equal(valueOf(args, `-preset:v:${i}`), 'veryfast');
    }
    assert.ok(!args.some((a) => /^-(pix_fmt|sc_threshold|keyint_min|forced-idr)/.test(a)));
  });

  test('VAAPI: render node, nv12 upload, scale_vaapi, h264_vaapi, no preset', () => {
    const rungs = planLadder(DEFAULT_LADDER, { width: 1280, height: 720 }, 1080);
    const args = buildFfmpegArgs(plan({ encoder: 'vaapi', rungs, preset: 'veryfast' }));
    assert.equal(valueOf(args, '-vaapi_device'), '/dev/dri/renderD128');
    assert.ok(args.indexOf('-vaapi_device') < args.indexOf('-i'));
    assert.equal(
      valueOf(args, '-filter_complex'),
      '[0:v:0]format=nv12,hwupload,split=3[s0][s1][s2];' +
        '[s0]fps=30,scale_vaapi=w=1280:h=720,setdar=16/9[v0];[s1]fps=30,scale_vaapi=w=854:h=480,setdar=16/9[v1];' +
        '[s2]fps=30,scale_vaapi=w=640:h=360,setdar=16/9[v2]',
    );
    for (let i = 0; i < 3; i++) assert.equal(valueOf(args, `-c:v:${i}`), 'h264_vaapi');
    assert.ok(!args.some((a) => /^-(pix_fmt|sc_threshold|keyint_min|preset|forced-idr)/.test(a)));
    const custom = buildFfmpegArgs(plan({ encoder: 'vaapi', rungs, vaapiDevice: '/dev/dri/renderD129' }));
    assert.equal(valueOf(custom, '-vaapi_device'), '/dev/dri/renderD129');
  });

  test('h265 rungs, NTSC fps, odd aspect and custom segment length', () => {
    const rungs = planLadder(
      [{ name: '480p', width: 854, height: 480, bitrateKbps: 1500, fps: 30, codec: 'h265' }],
      { width: 853, height: 479, fps: 29.97 },
      1080,
    );
    const args = buildFfmpegArgs(plan({ rungs, segmentSeconds: 4 }));
    assert.equal(valueOf(args, '-filter_complex'), '[0:v:0]fps=30000/1001,scale=852:478,setdar=dar=426/239:max=10000[v0]');
    assert.equal(valueOf(args, '-c:v:0'), 'libx265');
    assert.equal(valueOf(args, '-g:v:0'), '120');
    assert.equal(valueOf(args, '-force_key_frames:v:0'), 'expr:gte(t,n_forced*4)');
    assert.equal(valueOf(args, '-x265-params:v:0'), 'scenecut=0:open-gop=0');
    assert.equal(valueOf(args, '-tag:v:0'), 'hvc1');
    assert.equal(valueOf(args, '-seg_duration'), '4');
    assert.equal(valueOf(buildFfmpegArgs(plan({ rungs, encoder: 'nvenc' })), '-c:v:0'), 'hevc_nvenc');
  });

  test('formatFps', () => {
    assert.equal(formatFps(30), '30');
    assert.equal(formatFps(29.97), '30000/1001');
    assert.equal(formatFps(23.976), '24000/1001');
    assert.equal(formatFps(59.94), '60000/1001');
    assert.equal(formatFps(12.5), '12.5');
  });

  test('rejects invalid plans', () => {
    const bad = (e: unknown) => hasCode(e, 'ERR_TRANSCODE_PLAN_INVALID');
    assert.throws(() => buildFfmpegArgs(plan({ rungs: [] })), bad);
    assert.throws(() => buildFfmpegArgs(plan({ outputDir: 'relative/dir' })), bad);
    assert.throws(() => buildFfmpegArgs(plan({ segmentSeconds: 0 })), bad);
    assert.throws(() => buildFfmpegArgs(plan({ windowSegments: 1.5 })), bad);
    assert.throws(() => buildFfmpegArgs(plan({ audioKbps: 0 })), bad);
  });
});

// ffmpeg and ffprobe from the PATH: the test command installs them (test/prerequisites.ts).
describe('buildFfmpegArgs with real ffmpeg', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'proxy-rtmp-transcode-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function run(cmd: string, args: string[], stdinFile?: string): Promise<string> {
    const child = spawn(cmd, args, { stdio: [stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    if (stdinFile && child.stdin) {
      child.stdin.on('error', () => {}); // EPIPE when ffmpeg exits early; the exit code reports it
      createReadStream(stdinFile).pipe(child.stdin);
    }
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(child, 'close')) as [number | null]; // after stdout/stderr end
    assert.equal(code, 0, `${cmd} failed:\n${out}`);
    return out;
  }

  test('x264 args turn a 640x360 FLV into shared HLS + DASH CMAF output', { timeout: 60_000 }, async () => {
    const flv = join(dir, 'in.flv');
    await run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
      '-f', 'lavfi', '-i', 'sine', '-t', '6', '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac', '-f', 'flv', flv,
    ]);
    const out = join(dir, 'out');
    await mkdir(out); // the dash muxer does not create its output directory
    const rungs = planLadder(DEFAULT_LADDER, { width: 640, height: 360 }, 1080);
    const log = await run('ffmpeg', buildFfmpegArgs(plan({ rungs, preset: 'ultrafast', outputDir: out })), flv);
    assert.equal(log.trim(), '', 'ffmpeg printed no warnings');

    const files = await readdir(out);
    assert.ok(files.includes('manifest.mpd') && files.includes('master.m3u8'), files.join(' '));
    assert.ok(files.some((f) => /^media_\d+\.m3u8$/.test(f)), 'a media playlist');
    assert.ok(files.includes('init-0.m4s') && files.includes('init-1.m4s'), 'video and audio init segments');
    assert.ok(files.filter((f) => /^chunk-0-\d{5}\.m4s$/.test(f)).length >= 3, 'video segments');
    assert.ok(files.some((f) => /^chunk-1-\d{5}\.m4s$/.test(f)), 'audio segments');

    const master = await readFile(join(out, 'master.m3u8'), 'utf8');
    assert.match(master, /#EXT-X-STREAM-INF:.*BANDWIDTH=\d+.*RESOLUTION=640x360.*CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
    const mpd = await readFile(join(out, 'manifest.mpd'), 'utf8');
    assert.match(mpd, /init-\$RepresentationID\$\.m4s/);

    const probe = await run('ffprobe', ['-v', 'error', '-show_streams', '-of', 'compact', join(out, 'master.m3u8')]);
    assert.match(probe, /codec_name=h264.*width=640\|height=360/);
    assert.match(probe, /codec_name=aac.*sample_rate=48000\|channels=2/);
  });
});

describe('buildCmafPipeArgs: every rung and the audio as fragmented MP4 on a pipe of its own', () => {
  const rung = { name: '360p', width: 640, height: 360, bitrateKbps: 800, fps: 30, codec: 'h264' as const };
  const base = { rungs: [rung], encoder: 'x264' as const, preset: 'ultrafast', segmentSeconds: 2, audio: true, audioKbps: 128, partSeconds: 0.5, firstFd: 4, progressUrl: 'pipe:3' };

  test('one rung and audio: the exact arguments', () => {
    assert.deepEqual(buildCmafPipeArgs(base), [
      '-hide_banner', '-nostdin', '-loglevel', 'warning', '-nostats', '-progress', 'pipe:3',
      '-fflags', '+genpts', '-probesize', '500000', '-analyzeduration', '1000000', '-f', 'flv', '-i', 'pipe:0',
      '-filter_complex', '[0:v:0]fps=30,scale=640:360,setdar=16/9[v0]',
      '-map', '[v0]', '-c:v:0', 'libx264', '-b:v:0', '800k', '-maxrate:v:0', '856k', '-bufsize:v:0', '1200k', '-g:v:0', '60',
      '-force_key_frames:v:0', 'expr:gte(t,n_forced*2)', '-profile:v:0', 'main', '-preset:v:0', 'ultrafast',
      '-keyint_min:v:0', '60', '-pix_fmt:v:0', 'yuv420p', '-sc_threshold:v:0', '0', '-x264-params:v:0', X264_LIVE_PARAMS,
      '-video_track_timescale', '90000',
      '-f', 'mp4', '-movflags', '+empty_moov+default_base_moof+frag_keyframe', '-frag_duration', '500000', 'pipe:4',
      '-map', '0:a:0', '-af', 'aresample=async=1', '-c:a', 'aac', '-b:a', '128k', '-ac', '2', '-ar', '48000',
      '-f', 'mp4', '-movflags', '+empty_moov+default_base_moof+frag_keyframe', '-frag_duration', '500000', 'pipe:5',
    ]);
    assert.deepEqual(pipeOutputFds(base), { video: [4], audio: 5 });
  });

  test('several rungs: each output names its own stream 0 and its own fd; no audio output without audio', () => {
    const rungs = [{ ...rung, name: '720p', width: 1280, height: 720, bitrateKbps: 3000 }, rung];
    const args = buildCmafPipeArgs({ ...base, rungs, audio: false });
    assert.deepEqual(args.filter((a) => a.startsWith('pipe:')), ['pipe:3', 'pipe:0', 'pipe:4', 'pipe:5']);
    assert.deepEqual(args.filter((a) => a.startsWith('[v')), ['[v0]', '[v1]']);
    assert.ok(!args.some((a) => a.includes(':v:1')), 'per-output stream specifiers are :v:0');
    assert.ok(!args.includes('-c:a'));
    assert.deepEqual(pipeOutputFds({ ...base, rungs, audio: false }), { video: [4, 5], audio: undefined });
  });

  test('bad plans are refused', () => {
    const bad = { code: 'ERR_TRANSCODE_PLAN_INVALID' };
    assert.throws(() => buildCmafPipeArgs({ ...base, rungs: [] }), bad);
    assert.throws(() => buildCmafPipeArgs({ ...base, partSeconds: 0 }), bad);
    assert.throws(() => buildCmafPipeArgs({ ...base, partSeconds: 3 }), bad);
    assert.throws(() => buildCmafPipeArgs({ ...base, firstFd: 2 }), bad);
  });
});
