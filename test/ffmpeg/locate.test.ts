import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { sha256Hex, type CarriedSource } from '../../src/ffmpeg/carried.ts';
import {
  defaultCacheDir,
  describeAttempts,
  installedFfmpegStatic,
  locateFfmpeg,
  probeVersion,
  whichOnPath,
  type LocateOptions,
} from '../../src/ffmpeg/locate.ts';
import { hasCode } from '../../src/errors.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'proxy-rtmp-locate-'));

/** The system ffmpeg (Debian's, on the PATH of the test run). */
const SYSTEM_FFMPEG = (() => {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'ffmpeg'))) return realpathSync(join(dir, 'ffmpeg'));
  }
  throw new Error('these tests need ffmpeg on the PATH');
})();

/** An executable script named `name` in a fresh directory. */
function script(body: string, name = 'ffmpeg'): string {
  const path = join(tempDir(), name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** A carried "ffmpeg" that answers -version like one. */
function carriedScript(): CarriedSource {
  const bytes = Buffer.from('#!/bin/sh\necho "ffmpeg version 9.9-carried"\n');
  const stored = gzipSync(bytes);
  return { meta: { sha256: sha256Hex(bytes), size: bytes.length, encoding: 'gzip' }, bytes: () => stored };
}

/** A PATH holding just one directory with `ffmpeg` linked to `target` (or nothing). */
function pathWith(target?: string): string {
  const dir = tempDir();
  if (target !== undefined) symlinkSync(target, join(dir, 'ffmpeg'));
  return dir;
}

/** Options with nothing anywhere unless a test adds it. */
function options(o: Partial<LocateOptions> & { env?: NodeJS.ProcessEnv } = {}): LocateOptions {
  return { configPath: '', cacheDir: tempDir(), carried: null, ffmpegStatic: () => undefined, ...o, env: { PATH: pathWith(), ...o.env } };
}

describe('defaultCacheDir', () => {
  const cases: Array<[string, NodeJS.ProcessEnv, string]> = [
    ['systemd CacheDirectory= wins', { CACHE_DIRECTORY: '/var/cache/proxy-rtmp', XDG_CACHE_HOME: '/x', HOME: '/home/u' }, '/var/cache/proxy-rtmp'],
    ['systemd with several directories: the first', { CACHE_DIRECTORY: '/var/cache/a:/var/cache/b' }, '/var/cache/a'],
    ['XDG_CACHE_HOME', { XDG_CACHE_HOME: '/home/u/.xdg', HOME: '/home/u' }, '/home/u/.xdg/proxy-rtmp'],
    ['relative XDG_CACHE_HOME is ignored', { XDG_CACHE_HOME: 'rel', HOME: '/home/u' }, '/home/u/.cache/proxy-rtmp'],
    ['relative CACHE_DIRECTORY is ignored', { CACHE_DIRECTORY: 'rel', HOME: '/home/u' }, '/home/u/.cache/proxy-rtmp'],
    ['HOME', { HOME: '/home/u' }, '/home/u/.cache/proxy-rtmp'],
  ];
  for (const [name, env, expected] of cases) {
    test(name, () => assert.equal(defaultCacheDir(env), expected));
  }
  test('no HOME: the account home directory', () => {
    assert.match(defaultCacheDir({}), /^\/.*\/\.cache\/proxy-rtmp$/);
  });
});

describe('whichOnPath and probeVersion', () => {
  test('the first executable on the PATH; non-executable files and relative entries are skipped', async () => {
    const a = tempDir();
    writeFileSync(join(a, 'ffmpeg'), 'not executable');
    const b = pathWith(SYSTEM_FFMPEG);
    assert.equal(await whichOnPath('ffmpeg', `.:relative:${a}::${b}`), join(b, 'ffmpeg'));
    assert.equal(await whichOnPath('ffmpeg', a), undefined);
    assert.equal(await whichOnPath('ffmpeg', undefined), undefined);
  });

  test('usable means `-version` exits 0 and says "ffmpeg version"', async () => {
    const real = await probeVersion(SYSTEM_FFMPEG);
    assert.equal(real.ok, true);
    assert.match(real.version ?? '', /^ffmpeg version \S+/);
    const missing = await probeVersion('/nonexistent/ffmpeg');
    assert.equal(missing.ok, false);
    assert.match(missing.error ?? '', /ENOENT/);
    const wrong = await probeVersion(script('echo "GStreamer 1.22"'));
    assert.deepEqual([wrong.ok, wrong.error], [false, 'unexpected -version output: "GStreamer 1.22"']);
    const failing = await probeVersion(script('echo "ffmpeg version 1"; exit 3'));
    assert.equal(failing.ok, false);
    const hanging = await probeVersion(script('sleep 5'), 200);
    assert.equal(hanging.ok, false);
  });

  test('ffmpeg-static resolves to the installed package binary when running from the checkout', () => {
    const path = installedFfmpegStatic();
    assert.ok(path !== undefined && path.endsWith('node_modules/ffmpeg-static/bin/linux/x64/ffmpeg'), path);
    assert.ok(existsSync(path));
  });
});

describe('locateFfmpeg', () => {
  test('ffmpeg.path is final: chosen, nothing else looked at', async () => {
    const carried = carriedScript();
    const loc = await locateFfmpeg(options({ configPath: SYSTEM_FFMPEG, carried, env: { FFMPEG_PATH: '/nonexistent', PATH: pathWith(SYSTEM_FFMPEG) } }));
    assert.deepEqual([loc.chosen.path, loc.chosen.source], [SYSTEM_FFMPEG, 'config']);
    assert.match(loc.chosen.version, /^ffmpeg version/);
    assert.deepEqual(loc.alternatives, []);
    assert.deepEqual(
      loc.attempts.map((a) => [a.source, a.outcome]),
      [['config', 'chosen']],
    );
  });

  test('FFMPEG_PATH when ffmpeg.path is not set', async () => {
    const loc = await locateFfmpeg(options({ env: { FFMPEG_PATH: SYSTEM_FFMPEG } }));
    assert.deepEqual([loc.chosen.source, loc.chosen.path], ['env', SYSTEM_FFMPEG]);
    assert.deepEqual(loc.attempts.map((a) => [a.source, a.outcome]), [['config', 'missing'], ['env', 'chosen']]);
  });

  test('a named path that does not work is a configuration error naming the key: no other binary is taken', async () => {
    const onPath = { PATH: pathWith(SYSTEM_FFMPEG) };
    await assert.rejects(
      locateFfmpeg(options({ configPath: '/nonexistent/ffmpeg', env: { ...onPath, FFMPEG_PATH: SYSTEM_FFMPEG } })),
      (err: unknown) => hasCode(err, 'ERR_FFMPEG_UNUSABLE') && /ffmpeg\.path \(RTMP_FFMPEG_PATH\) names \/nonexistent\/ffmpeg/.test((err as Error).message),
    );
    await assert.rejects(
      locateFfmpeg(options({ env: { ...onPath, FFMPEG_PATH: script('echo nope') } })),
      (err: unknown) => hasCode(err, 'ERR_FFMPEG_UNUSABLE') && /^FFMPEG_PATH names .*unexpected -version output: "nope"/.test((err as Error).message),
    );
  });

  test('the order carried → ffmpeg-static → PATH: the first is chosen, the others are alternatives', async () => {
    const staticBin = script('echo "ffmpeg version 4.2.1-static"');
    const cacheDir = tempDir();
    const loc = await locateFfmpeg(options({ cacheDir, carried: carriedScript(), ffmpegStatic: () => staticBin, env: { PATH: pathWith(SYSTEM_FFMPEG) } }));
    assert.equal(loc.chosen.source, 'carried');
    assert.equal(loc.chosen.version, 'ffmpeg version 9.9-carried');
    assert.ok(loc.chosen.path.startsWith(join(cacheDir, 'ffmpeg-')));
    assert.deepEqual(loc.alternatives.map((b) => b.source), ['ffmpeg-static', 'path']);
    assert.equal(loc.alternatives[0]!.version, 'ffmpeg version 4.2.1-static');
    assert.equal(loc.alternatives[1]!.path, loc.attempts[4]!.path);
    assert.match(loc.alternatives[1]!.version, /^ffmpeg version/);
    assert.deepEqual(
      loc.attempts.map((a) => [a.source, a.outcome]),
      [['config', 'missing'], ['env', 'missing'], ['carried', 'chosen'], ['ffmpeg-static', 'usable'], ['path', 'usable']],
    );
    assert.match(loc.attempts[2]!.reason, /^extracted in \d+ ms; ffmpeg version 9\.9-carried$/);

    const again = await locateFfmpeg(options({ cacheDir, carried: carriedScript() }));
    assert.equal(again.chosen.path, loc.chosen.path);
    assert.match(again.attempts[2]!.reason, /^reused, verified in \d+ ms; /);
  });

  test('the same binary twice (PATH links to ffmpeg-static) is one alternative, not two', async () => {
    const staticBin = script('echo "ffmpeg version 4.2.1-static"');
    const linkDir = pathWith(staticBin);
    const loc = await locateFfmpeg(options({ ffmpegStatic: () => staticBin, env: { PATH: linkDir } }));
    assert.equal(loc.chosen.source, 'ffmpeg-static');
    assert.deepEqual(loc.alternatives, []);
    assert.deepEqual(loc.attempts.at(-1), { source: 'path', path: join(linkDir, 'ffmpeg'), outcome: 'usable', reason: 'same binary as ffmpeg-static' });
  });

  test('a carried ffmpeg that cannot be unpacked is a failed attempt, and the search goes on', async () => {
    const blocked = join(tempDir(), 'file');
    writeFileSync(blocked, '');
    const loc = await locateFfmpeg(options({ cacheDir: join(blocked, 'cache'), carried: carriedScript(), env: { PATH: pathWith(SYSTEM_FFMPEG) } }));
    assert.equal(loc.chosen.source, 'path');
    const carried = loc.attempts.find((a) => a.source === 'carried')!;
    assert.equal(carried.outcome, 'failed');
    assert.match(carried.reason, /cannot unpack the carried ffmpeg into .*ENOTDIR/);
  });

  test('an ffmpeg-static package without a binary for this platform is missing', async () => {
    const loc = await locateFfmpeg(options({ ffmpegStatic: () => '/nonexistent/ffmpeg-static/ffmpeg', env: { PATH: pathWith(SYSTEM_FFMPEG) } }));
    assert.deepEqual(loc.attempts.find((a) => a.source === 'ffmpeg-static'), {
      source: 'ffmpeg-static',
      path: '/nonexistent/ffmpeg-static/ffmpeg',
      outcome: 'missing',
      reason: 'the package has no binary for this platform',
    });
  });

  test('nothing usable anywhere: ERR_FFMPEG_NOT_FOUND naming every place tried', async () => {
    const broken = script('exit 1');
    await assert.rejects(locateFfmpeg(options({ ffmpegStatic: () => broken })), (err: unknown) => {
      assert.ok(hasCode(err, 'ERR_FFMPEG_NOT_FOUND'));
      const message = (err as Error).message;
      for (const part of ['config: missing', 'env: missing', 'carried: missing (not running as the single executable)', `ffmpeg-static ${broken}: failed`, 'path: missing (no ffmpeg on PATH)']) {
        assert.ok(message.includes(part), `${part} in ${message}`);
      }
      return true;
    });
  });

  test('describeAttempts: one clause per place', () => {
    assert.equal(
      describeAttempts([
        { source: 'config', path: undefined, outcome: 'missing', reason: 'not set' },
        { source: 'path', path: '/usr/bin/ffmpeg', outcome: 'chosen', reason: 'ffmpeg version 5.1' },
      ]),
      'config: missing (not set); path /usr/bin/ffmpeg: chosen (ffmpeg version 5.1)',
    );
  });

  test('defaults: from the checkout, ffmpeg-static is found and chosen before the PATH', async () => {
    const loc = await locateFfmpeg({ configPath: '', cacheDir: tempDir(), env: { PATH: pathWith(SYSTEM_FFMPEG) } });
    assert.equal(loc.chosen.source, 'ffmpeg-static');
    assert.match(loc.chosen.version, /^ffmpeg version 4\.2\.1-static/);
    assert.deepEqual(loc.alternatives.map((b) => b.source), ['path']);
  });
});
