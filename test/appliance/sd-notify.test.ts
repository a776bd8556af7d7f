import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { notifyArgs, SdNotifier, watchdogIntervalMs } from '../../src/util/sd-notify.ts';
import { tempOutputDir } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';

const MAIN = ['--import', 'tsx', 'src/main.ts'];

/** Listens on an AF_UNIX datagram socket, as the service manager does, and prints each datagram with its arrival time. */
const LISTENER = `
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"bound": True}), flush=True)
while True:
    # recv() without room for ancillary data: the kernel closes the fd that BARRIER=1 carries,
    # which is how systemd-notify learns the message was processed (sd_notify_barrier(3)).
    data = s.recv(65536)
    print(json.dumps({"t": time.time() * 1000, "msg": data.decode()}), flush=True)
`;
import { closedWithin } from '../support/process.ts';

interface Datagram {
  t: number;
  fields: Map<string, string>;
}

function startListener(path: string): { child: ChildProcess; datagrams: Datagram[]; bound: () => boolean } {
  const child = spawn('python3', ['-c', LISTENER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const datagrams: Datagram[] = [];
  let bound = false;
  let pending = '';
  child.stdout!.on('data', (d: Buffer) => {
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const m = JSON.parse(line) as { bound?: boolean; t?: number; msg?: string };
      if (m.bound) bound = true;
      else datagrams.push({ t: m.t!, fields: new Map(m.msg!.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])) });
    }
  });
  return { child, datagrams, bound: () => bound };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

function serverEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RTMP_HOST: '127.0.0.1', RTMP_PORT: '0', RTMP_HTTP_HOST: '127.0.0.1', RTMP_HTTP_PORT: '0', RTMP_GRPC_HOST: '127.0.0.1', RTMP_GRPC_PORT: '0',
    RTMP_TRANSCODE: 'false', RTMP_DRAIN_GRACE_MS: '300', RTMP_OUTPUT_DIR: tempOutputDir(), RTMP_LOG_FORMAT: 'json',
  };
  delete env['NOTIFY_SOCKET'];
  delete env['WATCHDOG_USEC'];
  delete env['WATCHDOG_PID'];
  return { ...env, ...extra };
}

describe('sd_notify messages', () => {
  test('notifyArgs: one VARIABLE=VALUE per field, the status kept to one line', () => {
    assert.deepEqual(notifyArgs({}), []);
    assert.deepEqual(notifyArgs({ ready: true, status: 'serving' }), ['READY=1', 'STATUS=serving']);
    assert.deepEqual(notifyArgs({ stopping: true }), ['STOPPING=1']);
    assert.deepEqual(notifyArgs({ watchdog: true, status: 'a\nREADY=1\r\nb ' }), ['WATCHDOG=1', 'STATUS=a READY=1 b']);
  });

  test('watchdogIntervalMs: half of WATCHDOG_USEC, only for this PID', () => {
    assert.equal(watchdogIntervalMs('30000000', undefined, 7), 15_000);
    assert.equal(watchdogIntervalMs('30000000', '7', 7), 15_000);
    assert.equal(watchdogIntervalMs('30000000', '8', 7), undefined);
    assert.equal(watchdogIntervalMs(undefined, undefined, 7), undefined);
    assert.equal(watchdogIntervalMs('-5', undefined, 7), undefined);
    assert.equal(watchdogIntervalMs('1000', undefined, 7), undefined, 'below 2 ms rounds to no watchdog');
  });

  test('fromEnv: nothing without NOTIFY_SOCKET; the variables are taken out of the environment either way', () => {
    const unset: NodeJS.ProcessEnv = { WATCHDOG_USEC: '1000000', PATH: '/bin' };
    assert.equal(SdNotifier.fromEnv(unset), undefined);
    assert.deepEqual(unset, { PATH: '/bin' });
    const set: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '42', PATH: '/bin' };
    const n = SdNotifier.fromEnv(set, {}, 42);
    assert.ok(n);
    assert.equal(n.watchdogMs, 500);
    assert.deepEqual(set, { PATH: '/bin' }, 'children (ffmpeg) never inherit them');
  });

  test('a missing systemd-notify is reported, not thrown', async () => {
    const errors: string[] = [];
    const n = new SdNotifier({ socket: '/nonexistent', command: 'proxy-rtmp-no-such-notify', onError: (err) => errors.push(err.message) });
    await n.notify({ ready: true });
    await n.close();
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /ENOENT/);
  });
});

describe('readiness of the real server', () => {
  test('READY=1 only once RTMP, HTTP and gRPC accept; WATCHDOG=1 while it runs; STOPPING=1 after SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-notify-'));
    const socketPath = join(dir, 'notify.sock');
    const listener = startListener(socketPath);
    let server: ChildProcess | undefined;
    try {
      await waitUntil(listener.bound, 'the notify socket to be bound');
      server = spawn(process.execPath, MAIN, {
        env: serverEnv({ NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '400000' }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      server.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      server.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const exited = closedWithin(server, 60_000, 'the server', () => log);
      const ready = () => listener.datagrams.find((d) => d.fields.get('READY') === '1');
      await waitUntil(() => ready() !== undefined, `READY=1 (${log})`, 20_000);
      const r = ready()!;
      const ports = /RTMP :(\d+), HTTP :(\d+), gRPC :(\d+)/.exec(r.fields.get('STATUS') ?? '');
      assert.ok(ports, `STATUS names the ports: ${r.fields.get('STATUS')}`);
      assert.match(r.fields.get('STATUS')!, /^serving 0 streams;/);
      for (const port of ports.slice(1).map(Number)) assert.ok(await accepts(port), `port ${port} accepts at READY`);
      // Every listener had logged "listening" before READY reached the socket.
      const lines = log.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; time: string });
      const listening = lines.filter((l) => / listening$/.test(l.msg));
      assert.deepEqual(listening.map((l) => l.msg).sort(), ['HTTP listening', 'RTMP listening', 'gRPC listening']);
      for (const l of listening) assert.ok(Date.parse(l.time) <= r.t, `${l.msg} at ${l.time} before READY at ${new Date(r.t).toISOString()}`);
      // systemd-notify waited for the manager (BARRIER=1), so the message is attributed to the unit.
      await waitUntil(() => listener.datagrams.some((d) => d.fields.has('BARRIER')), 'the BARRIER=1 round trip');

      await waitUntil(() => listener.datagrams.filter((d) => d.fields.get('WATCHDOG') === '1').length >= 2, 'two watchdog pings 200 ms apart', 5000);
      assert.ok(listener.datagrams.filter((d) => d.fields.get('WATCHDOG') === '1').every((d) => d.t >= r.t), 'the watchdog starts after READY');
      assert.ok(!listener.datagrams.some((d) => d.fields.has('STOPPING')));

      const killedAt = Date.now();
      server.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0, log);
      const stopping = listener.datagrams.find((d) => d.fields.get('STOPPING') === '1');
      assert.ok(stopping, 'STOPPING=1 arrived before the process exited');
      assert.ok(stopping.t >= killedAt, 'and only after SIGTERM');
      assert.equal(stopping.fields.get('STATUS'), 'stopping (SIGTERM)');
    } finally {
      server?.kill('SIGKILL');
      listener.child.kill('SIGKILL');
    }
  });

  test('without NOTIFY_SOCKET nothing is spawned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-notify-'));
    const record = join(dir, 'called');
    // A systemd-notify first on PATH that records any call.
    writeFileSync(join(dir, 'systemd-notify'), `#!/bin/sh\necho "$@" >> '${record}'\n`);
    chmodSync(join(dir, 'systemd-notify'), 0o755);
    const server = spawn(process.execPath, MAIN, {
      env: serverEnv({ PATH: `${dir}:${process.env['PATH']}`, WATCHDOG_USEC: '200000' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    server.stdout.on('data', (d: Buffer) => (log += d.toString()));
    const exited = closedWithin(server, 60_000, 'the server', () => log);
    try {
      await waitUntil(() => log.includes('gRPC listening'), `the server to listen (${log})`, 20_000);
      await new Promise((r) => setTimeout(r, 500));
      server.kill('SIGTERM');
      assert.equal((await exited)[0], 0, log);
      assert.equal(existsSync(record), false, existsSync(record) ? readFileSync(record, 'utf8') : '');
    } finally {
      server.kill('SIGKILL');
    }
  });
});
