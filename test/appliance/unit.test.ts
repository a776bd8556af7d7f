import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG } from '../../src/config/index.ts';

const UNIT = readFileSync('appliance/proxy-rtmp.service', 'utf8');
const BINARY = '/usr/local/bin/proxy-rtmp';

/** systemd.syntax(7), enough of it: sections of `Key=value` lines, keys repeatable, `#`/`;` comments. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current && eq > 0, `not a Key=value line inside a section: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/**
 * Open files proxy-rtmp needs at `maxStreams`, the arithmetic of the unit's
 * LimitNOFILE comment: per stream 1 RTMP socket + 3 ffmpeg pipes + 16 HTTP
 * clients each with a socket and a segment file; 256 for everything else.
 */
function filesNeeded(maxStreams: number): number {
  return maxStreams * (1 + 3 + 16 * 2) + 256;
}

interface Run {
  code: number;
  out: string;
}

function run(cmd: string, args: string[]): Promise<Run | undefined> {
  return new Promise((done) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return done(undefined);
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, out: stdout + stderr });
    });
  });
}

/**
 * A copy of the unit whose ExecStart= binary exists (systemd-analyze verify
 * checks that it is executable), with `edit` applied, in a fresh directory.
 */
function unitCopy(edit: (text: string) => string = (t) => t): string {
  const dir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-unit-'));
  const binary = join(dir, 'proxy-rtmp');
  writeFileSync(binary, '#!/bin/sh\nexit 0\n');
  chmodSync(binary, 0o755);
  const path = join(dir, 'proxy-rtmp.service');
  writeFileSync(path, edit(UNIT.replaceAll(BINARY, binary)));
  return path;
}

const verify = (path: string) => run('systemd-analyze', ['verify', '--man=no', '--generators=no', path]);

describe('appliance/proxy-rtmp.service', () => {
  const unit = parseUnit(UNIT);
  const service = unit.get('Service')!;
  const one = (key: string) => {
    const values = service.get(key);
    assert.ok(values, `${key}= is set`);
    return values.at(-1)!;
  };

  test('readiness, restarts and the config check', () => {
    assert.equal(one('Type'), 'notify');
    assert.equal(one('NotifyAccess'), 'all', 'READY=1 comes from a systemd-notify child');
    assert.equal(one('Restart'), 'on-failure');
    assert.equal(one('RestartPreventExitStatus'), '78', 'the exit status of a bad config (src/main.ts)');
    assert.equal(one('ExecStart'), BINARY);
    assert.equal(one('ExecStartPre'), `${BINARY} --check-config`);
    assert.equal(one('Environment'), 'RTMP_CONFIG=%d/config.yaml');
    assert.equal(one('LoadCredential'), 'config.yaml:/etc/proxy-rtmp/config.yaml');
    assert.equal(one('KillMode'), 'mixed', 'SIGTERM to proxy-rtmp only: it lets ffmpeg finish the playlists');
    assert.ok(Number.parseInt(one('WatchdogSec'), 10) >= 10);
    assert.deepEqual(unit.get('Install')?.get('WantedBy'), ['multi-user.target']);
  });

  test('a dynamic user, its own directories, and the usual hardening', () => {
    assert.equal(one('DynamicUser'), 'yes');
    assert.equal(one('StateDirectory'), 'proxy-rtmp');
    assert.equal(one('CacheDirectory'), 'proxy-rtmp');
    assert.equal(one('RuntimeDirectory'), 'proxy-rtmp');
    for (const [key, value] of [
      ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'], ['NoNewPrivileges', 'yes'],
      ['ProtectKernelTunables', 'yes'], ['ProtectKernelModules', 'yes'], ['ProtectControlGroups', 'yes'],
      ['RestrictNamespaces', 'yes'], ['LockPersonality', 'yes'], ['CapabilityBoundingSet', ''],
      ['SystemCallFilter', '~@privileged'],
    ] as const) {
      assert.equal(one(key), value, key);
    }
    assert.ok(!service.has('MemoryDenyWriteExecute'), 'V8 needs W+X pages');
  });

  test('GPU device nodes for VAAPI/QSV and NVENC, nothing else', () => {
    assert.equal(one('DevicePolicy'), 'closed');
    assert.notEqual(one('PrivateDevices'), 'yes', 'a private /dev has no /dev/dri or /dev/nvidia*');
    assert.deepEqual(service.get('DeviceAllow'), ['char-drm rw', 'char-nvidia-frontend rw', 'char-nvidia rw', 'char-nvidia-uvm rw', 'char-nvidia-caps rw']);
    assert.equal(one('SupplementaryGroups'), 'video render');
  });

  test('LimitNOFILE covers limits.maxStreams', () => {
    const limit = Number(one('LimitNOFILE'));
    const need = filesNeeded(DEFAULT_CONFIG.limits.maxStreams);
    assert.equal(need, 3856);
    assert.ok(limit >= need, `LimitNOFILE=${limit} < ${need}`);
    assert.match(UNIT, new RegExp(`= ${need}\\.`), 'the comment shows the same arithmetic');
  });

  test('systemd-analyze verify accepts it, and rejects broken copies', async (t) => {
    const good = await verify(unitCopy());
    if (good === undefined) {
      t.diagnostic('systemd-analyze not found (no systemd on this machine): verified by parsing only; .ci/run installs it');
      return;
    }
    assert.equal(good.code, 0, good.out);
    assert.equal(good.out, '', 'no warning at all');
    const typo = await verify(unitCopy((u) => u.replace(/^ProtectSystem=strict$/m, 'ProtectSytem=strict')));
    assert.match(typo!.out, /Unknown key 'ProtectSytem'/);
    const badValue = await verify(unitCopy((u) => u.replace(/^Type=notify$/m, 'Type=notfy')));
    assert.match(badValue!.out, /Failed to parse service type.*notfy/);
    const missing = await verify(unitCopy((u) => u.replace(/^ExecStart=.*$/m, 'ExecStart=/nonexistent/proxy-rtmp')));
    assert.notEqual(missing!.code, 0);
    assert.match(missing!.out, /\/nonexistent\/proxy-rtmp is not executable/);
  });

  test('systemd-analyze security rates it OK', async (t) => {
    const r = await run('systemd-analyze', ['security', '--offline=true', '--man=no', unitCopy()]);
    if (r === undefined) {
      t.diagnostic('systemd-analyze not found: exposure not measured');
      return;
    }
    const level = /Overall exposure level for proxy-rtmp\.service: ([\d.]+)/.exec(r.out);
    assert.ok(level, r.out);
    t.diagnostic(`exposure ${level[1]}`);
    assert.ok(Number(level[1]) <= 2.5, `exposure ${level[1]} (0 best, 10 worst)`);
  });
});
