import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = resolve('appliance/install.sh');
const MAIN = resolve('src/main.ts');
const TSX = fileURLToPath(import.meta.resolve('tsx'));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs install.sh with POSIX sh (dash on Debian); async so the event loop keeps running. */
function install(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((done) => {
    execFile('sh', [SCRIPT, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

/**
 * A work area: a stand-in proxy-rtmp executable that runs the real CLI (so
 * --check-config is the real check), and a systemctl first on PATH that records
 * any call.
 */
function workArea(): { dir: string; root: string; binary: string; systemctlLog: string; env: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-install-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const binary = join(dir, 'proxy-rtmp');
  writeFileSync(binary, `#!/bin/sh\n# build 1\nexec '${process.execPath}' --import '${TSX}' '${MAIN}' "$@"\n`);
  chmodSync(binary, 0o755);
  const systemctlLog = join(dir, 'systemctl.log');
  writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "$@" >> '${systemctlLog}'\n`);
  chmodSync(join(bin, 'systemctl'), 0o755);
  const root = join(dir, 'root');
  return { dir, root, binary, systemctlLog, env: { DESTDIR: root, PATH: `${bin}:${process.env['PATH']}` } };
}

const mode = (path: string) => statSync(path).mode & 0o7777;

describe('appliance/install.sh', () => {
  test('is POSIX sh', async () => {
    const r = await new Promise<Run>((done) => execFile('dash', ['-n', SCRIPT], (err, stdout, stderr) => done({ code: err ? 1 : 0, stdout, stderr })));
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(SCRIPT, 'utf8'), /^#!\/bin\/sh\n[^]*\nset -eu\n/);
    assert.equal(mode(SCRIPT) & 0o111, 0o111, 'executable');
  });

  test('DESTDIR: binary, config, unit and notes land with their modes; enabled without systemctl', async () => {
    const w = workArea();
    const r = await install(['--binary', w.binary], w.env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const bin = join(w.root, 'usr/local/bin/proxy-rtmp');
    const config = join(w.root, 'etc/proxy-rtmp/config.yaml');
    const unit = join(w.root, 'etc/systemd/system/proxy-rtmp.service');
    const wants = join(w.root, 'etc/systemd/system/multi-user.target.wants/proxy-rtmp.service');
    assert.equal(mode(bin), 0o755);
    assert.equal(mode(config), 0o600, 'the config may hold secrets');
    assert.equal(mode(unit), 0o644);
    assert.equal(mode(join(w.root, 'usr/local/share/doc/proxy-rtmp/README.md')), 0o644);
    const sysusers = join(w.root, 'etc/sysusers.d/proxy-rtmp.conf');
    assert.equal(mode(sysusers), 0o644);
    const groups = readFileSync(sysusers, 'utf8').split('\n').filter((l) => l.startsWith('g ')).map((l) => l.split(/\s+/)[1]);
    const unitGroups = /^SupplementaryGroups=(.*)$/m.exec(readFileSync('appliance/proxy-rtmp.service', 'utf8'))![1]!.split(' ');
    assert.deepEqual(groups.sort(), unitGroups.sort(), 'every group the unit needs is created at boot if missing');
    assert.equal(readFileSync(config, 'utf8'), readFileSync('appliance/config.yaml', 'utf8'));
    assert.equal(readFileSync(unit, 'utf8'), readFileSync('appliance/proxy-rtmp.service', 'utf8'));
    assert.equal(readFileSync(join(w.root, 'usr/local/share/doc/proxy-rtmp/config.yaml'), 'utf8'), readFileSync('appliance/config.yaml', 'utf8'));
    assert.ok(lstatSync(wants).isSymbolicLink());
    assert.equal(readlinkSync(wants), '/etc/systemd/system/proxy-rtmp.service', 'the link systemctl enable makes, valid inside the image');
    assert.match(r.stdout, /configuration OK: .*etc\/proxy-rtmp\/config\.yaml/, 'the real --check-config ran on the installed file');
    assert.equal(existsSync(w.systemctlLog), false, 'no systemctl call under DESTDIR');
  });

  test('a second run keeps a modified config and replaces the binary', async () => {
    const w = workArea();
    assert.equal((await install(['--binary', w.binary], w.env)).code, 0);
    const config = join(w.root, 'etc/proxy-rtmp/config.yaml');
    const mine = 'rtmp:\n  port: 1936\nlimits:\n  maxStreams: 8\n';
    writeFileSync(config, mine);
    writeFileSync(w.binary, readFileSync(w.binary, 'utf8').replace('# build 1', '# build 2'));
    const r = await install(['--binary', w.binary], w.env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(readFileSync(config, 'utf8'), mine);
    assert.match(r.stdout, /kept the existing .*config\.yaml/);
    assert.match(readFileSync(join(w.root, 'usr/local/bin/proxy-rtmp'), 'utf8'), /# build 2/);
    assert.equal(mode(join(w.root, 'usr/local/bin/proxy-rtmp')), 0o755);
  });

  test('an invalid config stops the install before the service is enabled', async () => {
    const w = workArea();
    mkdirSync(join(w.root, 'etc/proxy-rtmp'), { recursive: true });
    writeFileSync(join(w.root, 'etc/proxy-rtmp/config.yaml'), 'rtmp:\n  prot: 1935\n');
    const r = await install(['--binary', w.binary], w.env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /rtmp\.prot/, 'the check names the bad key');
    assert.match(r.stderr, /does not load/);
    assert.equal(existsSync(join(w.root, 'etc/systemd/system/multi-user.target.wants/proxy-rtmp.service')), false);
    assert.equal(readFileSync(join(w.root, 'etc/proxy-rtmp/config.yaml'), 'utf8'), 'rtmp:\n  prot: 1935\n', 'still not overwritten');
  });

  test('refuses what it cannot do', async () => {
    const w = workArea();
    const missing = await install(['--binary', join(w.dir, 'nope')], w.env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope: not a file/);
    const unknown = await install(['--frobnicate'], w.env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option: --frobnicate/);
    assert.equal(existsSync(w.root), false, 'nothing was written');
  });
});
