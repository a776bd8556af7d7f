import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { parseTtl, runSignCommand } from '../../src/auth/sign-command.ts';
import { checkSignature, playbackSubject, publishSubject } from '../../src/auth/signed-url.ts';

const execFileAsync = promisify(execFile);
const SECRET = 'sign-command-secret-0123';
const NOW_MS = 1_700_000_000_500;

function run(argv: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const code = runSignCommand(argv, {
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
    env: { RTMP_AUTH_SECRETS: JSON.stringify([SECRET, 'second-secret-456789']), ...env },
    now: () => NOW_MS,
    hostname: () => 'edge-box',
  });
  return { code, out, err };
}

test('--ttl accepts 90s, 15m, 1h, 7d and plain seconds', () => {
  assert.deepEqual(['90s', '15m', '1h', '7d', '45', ' 2h '].map(parseTtl), [90, 900, 3600, 604800, 45, 7200]);
  for (const bad of ['', '0', '1w', '-5', '1.5h', 'h', '01h', '99999999999']) assert.throws(() => parseTtl(bad), { code: 'ERR_SIGN_USAGE' }, bad);
});

test('prints a publish URL the server accepts: rtmp://host/app/key?exp=…&sig=…', () => {
  const { code, out, err } = run(['--key', 'cam1', '--ttl', '1h']);
  assert.equal(code, 0, err);
  const url = new URL(out.trim());
  assert.equal(`${url.protocol}//${url.host}${url.pathname}`, 'rtmp://edge-box/live/cam1', 'wildcard listener: the machine name, default port left out');
  assert.equal(url.searchParams.get('exp'), String(Math.floor(NOW_MS / 1000) + 3600));
  const check = checkSignature({
    subject: publishSubject('live', 'cam1'),
    exp: url.searchParams.get('exp') ?? undefined,
    sig: url.searchParams.get('sig') ?? undefined,
    secrets: [SECRET],
    nowS: Math.floor(NOW_MS / 1000),
    maxTtlS: 3600,
  });
  assert.equal(check.ok, true);
  // Host, port and app from the config or the options.
  assert.match(run(['--key', 'cam1'], { RTMP_HOST: '10.1.2.3', RTMP_PORT: '1936', RTMP_APP: 'in' }).out, /^rtmp:\/\/10\.1\.2\.3:1936\/in\/cam1\?exp=\d+&sig=[0-9a-f]{64}\n$/);
  assert.match(run(['--key', 'cam1', '--host', 'box.example:2000', '--app', 'other']).out, /^rtmp:\/\/box\.example:2000\/other\/cam1\?/);
});

test('--playback prints a signed HLS master URL', () => {
  const { code, out } = run(['--key', 'cam1', '--ttl', '15m', '--playback']);
  assert.equal(code, 0);
  const url = new URL(out.trim());
  assert.equal(`${url.origin}${url.pathname}`, 'http://edge-box:8080/streams/cam1/master.m3u8');
  const check = checkSignature({
    subject: playbackSubject('cam1'),
    exp: url.searchParams.get('exp') ?? undefined,
    sig: url.searchParams.get('sig') ?? undefined,
    secrets: [SECRET],
    nowS: Math.floor(NOW_MS / 1000),
    maxTtlS: 900,
  });
  assert.equal(check.ok, true);
});

test('clear errors: bad ttl, ttl above the maximum, no secret, bad key, missing key, unknown option', () => {
  const cases: [string[], Record<string, string>, number, RegExp][] = [
    [['--key', 'cam1', '--ttl', '1y'], {}, 2, /--ttl: expected a duration such as 90s, 15m, 1h or 7d/],
    [['--key', 'cam1', '--ttl', '2h'], { RTMP_AUTH_MAX_TTL_SECONDS: '3600' }, 2, /7200 s is above auth\.signedUrlMaxTtlSeconds \(3600 s\)/],
    [['--key', 'cam1'], { RTMP_AUTH_SECRETS: '[]' }, 78, /no secret configured: set auth\.secrets \(RTMP_AUTH_SECRETS\)/],
    [['--key', 'bad/key'], {}, 2, /stream key may hold only/],
    [['--key', 'cam1?x=1'], {}, 2, /without a query/],
    [[], {}, 2, /--key is required/],
    [['--key', 'cam1', '--bogus'], {}, 2, /Unknown option '--bogus'/],
    [['--key', 'cam1'], { RTMP_AUTH_SECRETS: '["short"]' }, 78, /configuration error: auth\.secrets\[0\].*\(hidden\)/],
  ];
  for (const [argv, env, code, message] of cases) {
    const r = run(argv, env);
    assert.equal(r.code, code, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
    assert.equal(r.out, '');
    assert.ok(!r.err.includes(SECRET));
  }
});

test('proxy-rtmp sign runs from the command line and is in --help', async () => {
  const env = { ...process.env, RTMP_AUTH_SECRETS: JSON.stringify([SECRET]) };
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'sign', '--key', 'cli_key', '--ttl', '90s', '--host', '127.0.0.1'], { env });
  assert.match(stdout, /^rtmp:\/\/127\.0\.0\.1\/live\/cli_key\?exp=\d+&sig=[0-9a-f]{64}\n$/);
  const help = await execFileAsync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--help']);
  assert.match(help.stdout, /proxy-rtmp sign --key KEY \[--ttl TTL\]/);
  assert.match(help.stdout, /--show-secrets/);
  await assert.rejects(
    execFileAsync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'sign', '--key', 'k', '--ttl', 'soon'], { env }),
    (err: { code: number; stderr: string }) => err.code === 2 && /--ttl/.test(err.stderr),
  );
});
