import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import {
  REQUIREMENTS,
  aptPackages,
  installCommand,
  missingMessage,
  missingRequirements,
  parseGstInspectList,
} from '../prerequisites.ts';
import { runNodeChild } from '../support/process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('the test prerequisites', () => {
  test('what is missing, and the apt packages that bring it, each once, in list order', () => {
    const tools = new Set(REQUIREMENTS.filter((r) => r.kind === 'tool').map((r) => r.name));
    tools.delete('promtool');
    tools.delete('ffprobe');
    const gstElements = new Set(['videotestsrc', 'audiotestsrc', 'flvmux', 'aacparse', 'x264enc', 'h264parse', 'voaacenc', 'rtmp2sink']);
    const missing = missingRequirements(REQUIREMENTS, { tools, gstElements });
    assert.deepEqual(missing.map((r) => r.name), ['ffprobe', 'rtmpsink', 'promtool']);
    assert.deepEqual(aptPackages(missing), ['ffmpeg', 'gstreamer1.0-plugins-bad', 'prometheus']);
    assert.equal(installCommand(missing, true), 'apt-get update && apt-get install -y --no-install-recommends ffmpeg gstreamer1.0-plugins-bad prometheus');
    assert.equal(installCommand(missing, false), 'sudo apt-get update && sudo apt-get install -y --no-install-recommends ffmpeg gstreamer1.0-plugins-bad prometheus');
    assert.deepEqual(missingRequirements(REQUIREMENTS, { tools: new Set(tools).add('promtool').add('ffprobe'), gstElements: new Set(gstElements).add('rtmpsink') }), []);
  });

  test('the message names each missing piece, its package, what needs it, the command, and why it was not run', () => {
    const missing = REQUIREMENTS.filter((r) => r.name === 'promtool' || r.name === 'x264enc');
    const text = missingMessage(missing, 'there is no apt-get on the PATH', false);
    assert.match(text, /^npm test: 2 thing\(s\) the tests need are not installed/);
    assert.match(text, /GStreamer element x264enc\s+\(Debian\/Ubuntu package gstreamer1\.0-plugins-ugly\): GStreamer publishers/);
    assert.match(text, /promtool\s+\(Debian\/Ubuntu package prometheus\): checking the \/metrics exposition/);
    assert.match(text, /\n {2}sudo apt-get update && sudo apt-get install -y --no-install-recommends gstreamer1\.0-plugins-ugly prometheus\n/);
    assert.match(text, /here there is no apt-get on the PATH\.$/);
  });

  test("gst-inspect-1.0's listing gives element names, not plugin names or the summary", () => {
    const listing = 'coreelements:  queue: Queue\nflv:  flvmux: FLV muxer\nrtmp2:  rtmp2sink: RTMP sink element\n\nTotal count: 3 plugins, 3 features\n';
    assert.deepEqual([...parseGstInspectList(listing)], ['queue', 'flvmux', 'rtmp2sink']);
  });

  test('.ci/run keeps no list of its own: it runs the test command', () => {
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    assert.match(ci, /^npm test$/m);
    assert.doesNotMatch(ci, /apt-get|gstreamer|prometheus/);
  });

  test('npm test on a PATH without the tools and without apt stops within seconds, naming each one', async () => {
    // A PATH holding only node: no ffmpeg, ffprobe, GStreamer, promtool, and no apt-get either.
    const bin = mkdtempSync(join(tmpdir(), 'proxy-rtmp-bare-path-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const { code, out, seconds } = await runNodeChild(['--import', 'tsx', 'test/run.ts'], {
      cwd: ROOT, env: { PATH: bin }, binary: join(bin, 'node'), what: 'npm test on a bare PATH',
    });
    assert.equal(code, 1, out);
    assert.ok(seconds < 15, `stopped after ${seconds.toFixed(1)} s`);
    for (const name of ['ffmpeg', 'ffprobe', 'gst-launch-1.0', 'promtool', 'systemd-analyze', 'dash']) {
      assert.match(out, new RegExp(`^ {2}${name.replace(/[.]/g, '\\.')}\\s+\\(Debian/Ubuntu package`, 'm'), `${name} named in:\n${out}`);
    }
    assert.match(out, /apt-get install -y --no-install-recommends ffmpeg gstreamer1\.0-tools /);
    assert.match(out, /here there is no apt-get on the PATH\.\n?$/);
    assert.doesNotMatch(out, /# tests|TAP version/, 'no test ran');
  });
});
