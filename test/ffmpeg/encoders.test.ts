import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { hasCode } from '../../src/errors.ts';
import {
  describeDetection,
  detectEncoder,
  encoderCandidates,
  meaningfulReason,
  renderNodes,
  testEncodeArgs,
  type DetectOptions,
  type EncoderBinary,
} from '../../src/ffmpeg/encoders.ts';
import { buildFfmpegArgs, type EncoderKind } from '../../src/transcode/ffmpeg-args.ts';
import { DEFAULT_LADDER } from '../../src/transcode/ladder.ts';

/** A shell word that is exactly `s`. */
const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** What a fake ffmpeg does when its argv contains a pattern: succeed, fail with stderr lines, or hang. */
type Behaviour = { ok: true } | { fail: string[] } | { hang: true };

/**
 * A stand-in ffmpeg (we have no GPU here): a shell script that appends its argv
 * to `<dir>/calls` and acts on the first rule whose pattern is in its argv;
 * with none, it says "Unknown encoder" like an ffmpeg built without it.
 */
function fakeFfmpeg(name: string, rules: [pattern: string, behaviour: Behaviour][]): EncoderBinary & { calls: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'fake-encoders-'));
  const path = join(dir, name);
  const calls = join(dir, 'calls');
  writeFileSync(calls, '');
  const cases = rules.map(([pattern, b]) => {
    const action = 'ok' in b ? 'exit 0' : 'hang' in b ? 'exec sleep 30' : `${b.fail.map((l) => `echo ${quote(l)} >&2`).join('; ')}; exit 1`;
    return `  *'${pattern}'*) ${action} ;;`;
  });
  writeFileSync(
    path,
    ['#!/bin/sh', `echo "$*" >> '${calls}'`, 'case " $* " in', ...cases, `  *) echo "Unknown encoder 'whatever'" >&2; exit 1 ;;`, 'esac', ''].join('\n'),
  );
  chmodSync(path, 0o755);
  return { path, source: name, calls: () => readFileSync(calls, 'utf8').split('\n').filter(Boolean) };
}

/** A directory standing in for /dev/dri with these render nodes (plain files). */
function driDir(...nodes: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'fake-dri-'));
  for (const n of [...nodes, 'card0', 'by-path']) writeFileSync(join(dir, n), '');
  return dir;
}

function options<B extends EncoderBinary>(over: Partial<DetectOptions<B>> & Pick<DetectOptions<B>, 'binaries'>): DetectOptions<B> {
  return {
    mode: 'auto', ladder: DEFAULT_LADDER, maxHeight: 1080, preset: 'veryfast', segmentSeconds: 2, vaapiDevice: '', timeoutMs: 5000,
    driDir: driDir(), ...over,
  };
}

const NVENC_UNSUPPORTED = ['[h264_nvenc @ 0x55d0c8a3c2c0] OpenEncodeSessionEx failed: unsupported device (2): (no details)', 'Conversion failed!'];
const NO_CUDA = [
  '[AVHWDeviceContext @ 0x560a858eb080] Cannot load libcuda.so.1',
  '[AVHWDeviceContext @ 0x560a858eb080] Could not dynamically load CUDA',
  "[AVFilterGraph @ 0x560a858ea2c0] Error initializing filter 'hwupload_cuda'",
  'Error initializing complex filters.',
  'Operation not permitted',
];
const NO_QSV = ['Device creation failed: -542398533.', "Failed to set value 'qsv=hw' for option 'init_hw_device': Generic error in an external library", 'Error parsing global options: Generic error in an external library'];
const NO_VAAPI = ['[AVHWDeviceContext @ 0x1] Failed to initialise VAAPI connection: -1 (unknown libva error).', 'Device creation failed: -5.'];

describe('meaningfulReason: the lines of ffmpeg stderr that explain a failure', () => {
  const cases: [string, string[], string][] = [
    ['no CUDA driver', NO_CUDA, "Cannot load libcuda.so.1; Could not dynamically load CUDA; Error initializing filter 'hwupload_cuda'"],
    ['NVENC on an unsupported GPU', NVENC_UNSUPPORTED, 'OpenEncodeSessionEx failed: unsupported device (2): (no details)'],
    ['no QSV', NO_QSV, "Device creation failed: -542398533; Failed to set value 'qsv=hw' for option 'init_hw_device': Generic error in an external library"],
    ['no VAAPI', NO_VAAPI, 'Failed to initialise VAAPI connection: -1 (unknown libva error); Device creation failed: -5'],
    ['only generic lines: the last one', ['Conversion failed!'], 'Conversion failed!'],
    ['repeats dropped, last three kept', ['[x @ 0x1] a', '[x @ 0x1] a', 'b', 'c', 'd', 'Conversion failed!'], 'b; c; d'],
    ["FfmpegProcess's tail", ['[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: out of memory (10): (no details) | Conversion failed!'], 'OpenEncodeSessionEx failed: out of memory (10): (no details)'],
    ['nothing', [], ''],
  ];
  for (const [name, lines, want] of cases) test(name, () => assert.equal(meaningfulReason(lines.join('\n')), want));
  test('capped at 400 characters', () => assert.equal(meaningfulReason('x'.repeat(1000)).length, 400));
});

describe('candidates', () => {
  const a = { path: '/opt/carried/ffmpeg', source: 'carried' };
  const b = { path: '/usr/bin/ffmpeg', source: 'path' };
  const label = (cs: ReturnType<typeof encoderCandidates>) => cs.map((c) => `${c.encoder}@${c.ffmpeg.source}${c.vaapiDevice ?? ''}${c.unavailable ? '!' : ''}`);
  test('auto: each hardware family on the chosen binary, then the alternatives; x264 on the chosen binary last', () => {
    assert.deepEqual(label(encoderCandidates('auto', { chosen: a, alternatives: [b] }, ['/dev/dri/renderD128', '/dev/dri/renderD129'])), [
      'nvenc@carried', 'nvenc@path', 'qsv@carried', 'qsv@path',
      'vaapi@carried/dev/dri/renderD128', 'vaapi@carried/dev/dri/renderD129', 'vaapi@path/dev/dri/renderD128', 'vaapi@path/dev/dri/renderD129',
      'x264@carried',
    ]);
  });
  test('no render node: one VAAPI candidate that is rejected without a test encode', () => {
    assert.deepEqual(label(encoderCandidates('auto', { chosen: a, alternatives: [] }, [])), ['nvenc@carried', 'qsv@carried', 'vaapi@carried!', 'x264@carried']);
  });
  test('forced: only that family', () => {
    assert.deepEqual(label(encoderCandidates('nvenc', { chosen: a, alternatives: [b] }, ['/dev/dri/renderD128'])), ['nvenc@carried', 'nvenc@path']);
    assert.deepEqual(label(encoderCandidates('x264', { chosen: a, alternatives: [b] }, [])), ['x264@carried']);
    assert.deepEqual(label(encoderCandidates('vaapi', { chosen: a, alternatives: [a] }, ['/dev/dri/renderD130'])), ['vaapi@carried/dev/dri/renderD130']);
  });
  test('render nodes: the configured one, else every renderD<n> in numeric order', async () => {
    const dir = driDir('renderD129', 'renderD128', 'renderD1000');
    assert.deepEqual(await renderNodes('', dir), [`${dir}/renderD128`, `${dir}/renderD129`, `${dir}/renderD1000`]);
    assert.deepEqual(await renderNodes('/dev/dri/renderD130', dir), ['/dev/dri/renderD130']);
    assert.deepEqual(await renderNodes('', join(dir, 'missing')), []);
  });
});

describe('the test encode is the live filter chain', () => {
  /** The filter graph and the per-video-stream options after it (flag/value pairs up to the first other flag). */
  const videoPart = (args: string[]) => {
    const from = args.indexOf('-filter_complex');
    let to = from + 2;
    while (to < args.length && /^-map$|^-[\w-]+:v:\d+$/.test(args[to]!) && args[to + 1] !== '0:a:0?') to += 2;
    return args.slice(from, to);
  };
  for (const encoder of ['x264', 'nvenc', 'qsv', 'vaapi'] as EncoderKind[]) {
    test(encoder, () => {
      const o = { ladder: DEFAULT_LADDER, maxHeight: 1080, preset: 'veryfast', segmentSeconds: 2 };
      const probe = testEncodeArgs({ encoder, ffmpeg: { path: 'ffmpeg', source: 'path' }, vaapiDevice: '/dev/dri/renderD129' }, o);
      const live = buildFfmpegArgs({
        rungs: DEFAULT_LADDER.slice(1, 3), encoder, ...(encoder === 'x264' ? { preset: 'veryfast' } : {}), vaapiDevice: '/dev/dri/renderD129',
        segmentSeconds: 2, windowSegments: 6, audio: false, audioKbps: 128, outputDir: '/out',
      });
      // Two rungs (720p, 480p) scaled from a 720p testsrc2, ~1 s, into the null muxer.
      assert.deepEqual(probe.slice(probe.indexOf('-f'), probe.indexOf('-f') + 4), ['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30']);
      assert.deepEqual(probe.slice(-5), ['-frames:v', '30', '-f', 'null', '-']);
      assert.deepEqual(videoPart(probe), videoPart(live));
      assert.ok(videoPart(probe).length > 10);
      // The same hardware device options before the input.
      const device = (args: string[]) => args.slice(0, args.indexOf('-i')).filter((a, i, all) => /^-(?:vaapi_device|init_hw_device|filter_hw_device)$/.test(a) || /^-(?:vaapi_device|init_hw_device|filter_hw_device)$/.test(all[i - 1] ?? ''));
      assert.deepEqual(device(probe), device(live));
      if (encoder === 'nvenc') assert.match(probe.join(' '), /hwupload_cuda,split=2.*scale_cuda=1280:720.*scale_cuda=854:480.*-c:v:0 h264_nvenc/);
    });
  }
});

describe('detectEncoder with stand-in ffmpeg scripts', () => {
  test('no hardware works: x264, and every hardware candidate rejected with its reason', async () => {
    const ffmpeg = fakeFfmpeg('chosen', [['h264_nvenc', { fail: NO_CUDA }], ['h264_qsv', { fail: NO_QSV }], ['h264_vaapi', { fail: NO_VAAPI }], ['libx264', { ok: true }]]);
    const dri = driDir('renderD128', 'renderD129');
    const d = await detectEncoder(options({ binaries: { chosen: ffmpeg, alternatives: [] }, driDir: dri }));
    assert.deepEqual(d.chosen, { encoder: 'x264', ffmpeg });
    assert.deepEqual(d.attempts.map((a) => [a.encoder, a.vaapiDevice, a.ok]), [
      ['nvenc', undefined, false], ['qsv', undefined, false], ['vaapi', `${dri}/renderD128`, false], ['vaapi', `${dri}/renderD129`, false], ['x264', undefined, true],
    ]);
    assert.equal(d.attempts[0]!.reason, "Cannot load libcuda.so.1; Could not dynamically load CUDA; Error initializing filter 'hwupload_cuda'");
    assert.match(d.attempts[2]!.reason, /^Failed to initialise VAAPI connection/);
    assert.equal(ffmpeg.calls().length, 5, 'one test encode per candidate, sequentially');
    assert.match(ffmpeg.calls()[2]!, new RegExp(`-vaapi_device ${dri}/renderD128 .*-f lavfi -i testsrc2.*scale_vaapi=w=1280:h=720.*h264_vaapi.*-f null -`));
    assert.match(describeDetection(d), /^encoder x264 \(nvenc: Cannot load libcuda\.so\.1; .* \| qsv: Device creation failed: -542398533; .* \| vaapi .*renderD128: Failed to initialise VAAPI/);
    assert.ok(d.elapsedMs >= 0);
  });

  test('NVENC works: chosen at once, nothing else is tried', async () => {
    const ffmpeg = fakeFfmpeg('chosen', [['h264_nvenc', { ok: true }], ['libx264', { ok: true }]]);
    const d = await detectEncoder(options({ binaries: { chosen: ffmpeg, alternatives: [] } }));
    assert.equal(d.chosen?.encoder, 'nvenc');
    assert.equal(ffmpeg.calls().length, 1);
    assert.equal(describeDetection(d), 'encoder nvenc');
  });

  test('a hardware encoder only the alternative binary has: it wins, and decides the binary', async () => {
    const carried = fakeFfmpeg('carried', [['h264_nvenc', { fail: NVENC_UNSUPPORTED }], ['libx264', { ok: true }]]);
    const system = fakeFfmpeg('system', [['h264_nvenc', { fail: NVENC_UNSUPPORTED }], ['h264_qsv', { ok: true }], ['libx264', { ok: true }]]);
    const d = await detectEncoder(options({ binaries: { chosen: carried, alternatives: [system] } }));
    assert.equal(d.chosen?.encoder, 'qsv');
    assert.equal(d.chosen?.ffmpeg, system);
    assert.deepEqual(d.attempts.map((a) => `${a.encoder}@${a.ffmpeg.source}:${a.ok}`), ['nvenc@carried:false', 'nvenc@system:false', 'qsv@carried:false', 'qsv@system:true']);
    assert.match(describeDetection(d), /^encoder qsv \(system .*\/system\) \(nvenc \(carried .*\): OpenEncodeSessionEx failed: unsupported device \(2\)/);
  });

  test('VAAPI on the second render node only', async () => {
    const ffmpeg = fakeFfmpeg('chosen', [['renderD129', { ok: true }], ['h264_vaapi', { fail: NO_VAAPI }], ['libx264', { ok: true }]]);
    const dri = driDir('renderD128', 'renderD129');
    const d = await detectEncoder(options({ binaries: { chosen: ffmpeg, alternatives: [] }, driDir: dri }));
    assert.deepEqual(d.chosen, { encoder: 'vaapi', ffmpeg, vaapiDevice: `${dri}/renderD129` });
    assert.match(d.attempts.find((a) => a.vaapiDevice?.endsWith('renderD128'))!.reason, /VAAPI connection/);
  });

  test('ffmpeg.vaapiDevice: only that node is tried', async () => {
    const ffmpeg = fakeFfmpeg('chosen', [['h264_vaapi', { fail: NO_VAAPI }], ['libx264', { ok: true }]]);
    const d = await detectEncoder(options({ binaries: { chosen: ffmpeg, alternatives: [] }, driDir: driDir('renderD128'), vaapiDevice: '/dev/dri/renderD130' }));
    assert.deepEqual(d.attempts.filter((a) => a.encoder === 'vaapi').map((a) => a.vaapiDevice), ['/dev/dri/renderD130']);
  });

  test('a test encode that hangs is killed at the timeout and rejected', async () => {
    const ffmpeg = fakeFfmpeg('chosen', [['h264_nvenc', { hang: true }], ['libx264', { ok: true }]]);
    const t0 = Date.now();
    const d = await detectEncoder(options({ binaries: { chosen: ffmpeg, alternatives: [] }, timeoutMs: 300 }));
    assert.equal(d.chosen?.encoder, 'x264');
    assert.equal(d.attempts[0]!.reason, 'test encode timed out after 300 ms');
    assert.ok(Date.now() - t0 < 3000, 'did not wait for the hung encode');
  });

  test('not even x264: no encoder, and the description says why', async () => {
    const ffmpeg = fakeFfmpeg('chosen', [['libx264', { fail: ["Unknown encoder 'libx264'"] }]]);
    const d = await detectEncoder(options({ binaries: { chosen: ffmpeg, alternatives: [] } }));
    assert.equal(d.chosen, undefined);
    assert.match(describeDetection(d), /^no working encoder \(nvenc: .* \| x264: Unknown encoder 'libx264'\)$/);
  });

  test('a binary that does not exist is rejected, not thrown', async () => {
    const d = (await detectEncoder(options({ mode: 'x264', binaries: { chosen: { path: '/nonexistent/ffmpeg', source: 'config' }, alternatives: [] } })).catch(
      (e: unknown) => e,
    )) as Error;
    assert.ok(hasCode(d, 'ERR_ENCODER_UNAVAILABLE'));
    assert.match(d.message, /x264: cannot start \/nonexistent\/ffmpeg: spawn \/nonexistent\/ffmpeg ENOENT/);
  });

  test("a forced encoder that fails: EncoderUnavailableError carrying ffmpeg's message", async () => {
    const ffmpeg = fakeFfmpeg('chosen', [['h264_nvenc', { fail: NVENC_UNSUPPORTED }], ['libx264', { ok: true }]]);
    await assert.rejects(detectEncoder(options({ mode: 'nvenc', binaries: { chosen: ffmpeg, alternatives: [] } })), (err: Error) => {
      assert.ok(hasCode(err, 'ERR_ENCODER_UNAVAILABLE'));
      assert.match(err.message, /ffmpeg\.encoder is nvenc \(RTMP_ENCODER\).*OpenEncodeSessionEx failed: unsupported device \(2\)/);
      return true;
    });
    assert.equal(ffmpeg.calls().length, 1, 'x264 is not tried');
    await assert.rejects(detectEncoder(options({ mode: 'vaapi', binaries: { chosen: ffmpeg, alternatives: [] } })), /vaapi: no VAAPI render node/);
  });

  test('a forced encoder that works', async () => {
    const ffmpeg = fakeFfmpeg('chosen', [['h264_qsv', { ok: true }]]);
    const d = await detectEncoder(options({ mode: 'qsv', binaries: { chosen: ffmpeg, alternatives: [] } }));
    assert.equal(d.chosen?.encoder, 'qsv');
    assert.match(ffmpeg.calls()[0]!, /-init_hw_device qsv=hw -filter_hw_device hw -f lavfi .*scale_qsv=w=1280:h=720/);
  });
});

describe('detectEncoder with the real ffmpeg on this machine (no GPU)', () => {
  test('x264 is chosen; NVENC, QSV and VAAPI are each rejected with what ffmpeg said', async () => {
    const ffmpeg = { path: 'ffmpeg', source: 'path' };
    // A plain file where a render node would be: ffmpeg's own VAAPI error, not ours.
    const d = await detectEncoder(options({ binaries: { chosen: ffmpeg, alternatives: [] }, driDir: driDir('renderD128'), preset: 'ultrafast' }));
    assert.equal(d.chosen?.encoder, 'x264');
    assert.deepEqual(d.attempts.map((a) => [a.encoder, a.ok]), [['nvenc', false], ['qsv', false], ['vaapi', false], ['x264', true]]);
    for (const a of d.attempts.slice(0, 3)) {
      assert.ok(a.reason.length > 5 && !/^exit code/.test(a.reason), `${a.encoder}: ${a.reason}`);
      assert.doesNotMatch(a.reason, /Conversion failed|^Invalid argument$/);
    }
    assert.ok(d.elapsedMs < 10_000, `detection took ${d.elapsedMs} ms`);
  });
});
