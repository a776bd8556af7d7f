import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/log.ts';
import { FfmpegProcess, type FfmpegExit } from '../../src/transcode/ffmpeg-process.ts';
import type { FfmpegProgress } from '../../src/transcode/progress.ts';
import { waitUntil } from '../support/wait.ts';
import { alive } from '../support/process.ts';

const log = createLogger({ level: 'silent', format: 'json' });

/** Three seconds of 160x120 H.264 + AAC as FLV bytes, made by ffmpeg once. */
const FLV = spawnSync('ffmpeg', [
  '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=30', '-f', 'lavfi', '-i', 'sine',
  '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-c:a', 'aac', '-f', 'flv', 'pipe:1',
], { maxBuffer: 64 * 1024 * 1024 }).stdout;

const decodeArgs = ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-progress', 'pipe:3', '-f', 'flv', '-i', 'pipe:0', '-f', 'null', '-'];


describe('FfmpegProcess supervision', () => {
  test('a binary that does not exist: exit kind spawn-failed, naming it', async () => {
    const p = new FfmpegProcess({ binary: '/nonexistent/ffmpeg', args: [], log });
    const exit = new Promise<FfmpegExit>((resolve) => p.once('exit', resolve));
    p.start();
    const e = await exit;
    assert.equal(e.kind, 'spawn-failed');
    assert.match(e.message, /\/nonexistent\/ffmpeg/);
  });

  test('a run that fails on its own: exit kind died, with its last stderr lines', async () => {
    const p = new FfmpegProcess({ binary: 'sh', args: ['-c', 'echo "Invalid data found" >&2; exit 3'], log });
    const exit = new Promise<FfmpegExit>((resolve) => p.once('exit', resolve));
    p.start();
    const e = await exit;
    assert.deepEqual([e.kind, e.code], ['died', 3]);
    assert.match(e.message, /Invalid data found/);
  });

  test('real ffmpeg: progress flows, stop() ends stdin and it exits cleanly (stopped, code 0)', async () => {
    const p = new FfmpegProcess({ binary: 'ffmpeg', args: decodeArgs, log });
    const progress: FfmpegProgress[] = [];
    p.on('progress', (x) => progress.push(x));
    p.start();
    p.write(FLV);
    const e = await p.stop();
    assert.deepEqual([e.kind, e.code], ['stopped', 0]);
    assert.ok(progress.length > 0, 'progress blocks arrived');
    assert.equal(progress.at(-1)!.progress, 'end');
    assert.equal(progress.at(-1)!.frame, 90);
  });

  test('output pipes: each fd is read to its end before exit, in order, as output events', async () => {
    // Two outputs: the video as fMP4 on fd 4, the audio on fd 5.
    const args = ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-f', 'flv', '-i', 'pipe:0',
      '-map', '0:v', '-c', 'copy', '-f', 'mp4', '-movflags', '+empty_moov+default_base_moof+frag_keyframe', 'pipe:4',
      '-map', '0:a', '-c', 'copy', '-f', 'mp4', '-movflags', '+empty_moov+default_base_moof+frag_keyframe', 'pipe:5'];
    const p = new FfmpegProcess({ binary: 'ffmpeg', args, log, outputs: 2 });
    const got: Buffer[][] = [[], []];
    let exitedWith = -1;
    p.on('output', (i, d) => got[i]!.push(d));
    p.on('exit', () => (exitedWith = got[0]!.length + got[1]!.length));
    p.start();
    p.write(FLV);
    const e = await p.stop();
    assert.deepEqual([e.kind, e.code], ['stopped', 0], e.message);
    const [video, audio] = got.map((chunks) => Buffer.concat(chunks));
    assert.equal(exitedWith, got[0]!.length + got[1]!.length, 'nothing arrived after exit');
    for (const [name, bytes] of [['video', video!], ['audio', audio!]] as const) {
      assert.equal(bytes.subarray(4, 8).toString('latin1'), 'ftyp', `${name} starts with ftyp`);
      assert.ok(bytes.includes(Buffer.from('moof')) && bytes.includes(Buffer.from('mdat')), `${name} has fragments`);
    }
    assert.ok(video!.includes(Buffer.from('avc1')) && !video!.includes(Buffer.from('mp4a')));
    assert.ok(audio!.includes(Buffer.from('mp4a')) && !audio!.includes(Buffer.from('avc1')));
  });

  test('SIGKILL from outside: exit kind died, signal SIGKILL, emitted once', async () => {
    const p = new FfmpegProcess({ binary: 'ffmpeg', args: decodeArgs, log });
    const exits: FfmpegExit[] = [];
    p.on('exit', (e) => exits.push(e));
    p.start();
    p.write(FLV.subarray(0, 5000));
    await sleep(300);
    process.kill(p.pid!, 'SIGKILL');
    await waitUntil(() => exits.length > 0, 'exit');
    await sleep(100);
    assert.equal(exits.length, 1);
    assert.deepEqual([exits[0]!.kind, exits[0]!.signal], ['died', 'SIGKILL']);
  });

  test('never an orphan: when its parent is SIGKILLed, ffmpeg sees EOF on stdin and exits', async () => {
    const script = `
      import { FfmpegProcess } from './src/transcode/ffmpeg-process.ts';
      import { createLogger } from './src/log.ts';
      const p = new FfmpegProcess({ binary: 'ffmpeg', args: ${JSON.stringify(decodeArgs)}, log: createLogger({ level: 'silent', format: 'json' }) });
      p.start();
      console.log(p.pid);
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    parent.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitUntil(() => /\d+\n/.test(out), 'child pid');
    const pid = Number(out.trim());
    assert.ok(alive(pid), 'ffmpeg runs while its parent does');
    parent.kill('SIGKILL');
    await waitUntil(() => !alive(pid) || isZombie(pid), 'ffmpeg to exit after its parent died', 5000);
  });
});

/** A dead child not yet reaped by init shows as a zombie; it no longer runs. */
function isZombie(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ''));
  } catch {
    return false;
  }
}
