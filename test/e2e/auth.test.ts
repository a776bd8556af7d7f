import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac, createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { RunningApp } from '../../src/app.ts';
import { keyId } from '../../src/auth/keys.ts';
import { runSignCommand } from '../../src/auth/sign-command.ts';
import { playbackSubject, publishSubject, signedQuery } from '../../src/auth/signed-url.ts';
import { ffmpegPublish } from '../support/ffmpeg.ts';
import { TestRtmpClient } from '../support/rtmp-client.ts';
import { serverPool, startTestServer } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';

const execFileAsync = promisify(execFile);

type Server = RunningApp & { port: number; httpPort: number };

const SECRET = 'e2e-current-secret-0123';
const OLD_SECRET = 'e2e-previous-secret-4567';
const WEBHOOK_SECRET = 'e2e-webhook-secret-89ab';
const nowS = () => Math.floor(Date.now() / 1000);
const signedPublish = (key: string, exp = nowS() + 300, secret = SECRET, app = 'live') =>
  `${key}?${signedQuery(secret, publishSubject(app, key), exp)}`;
const signedPlay = (key: string, exp = nowS() + 300, secret = SECRET) => signedQuery(secret, playbackSubject(key), exp);

/** Starts the app like startTestServer, with its log lines (JSON, debug) captured. */
async function startCapturing(env: Record<string, string>): Promise<{ server: Server; logs: () => string }> {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const server = await startTestServer({ RTMP_LOG_LEVEL: 'debug', RTMP_LOG_FORMAT: 'json', ...env }, { logTo: sink });
  return { server, logs: () => text };
}

/** Publishes for about a second with ffmpeg; resolves with its exit code and stderr. */
async function ffmpegTry(server: Server, path: string): Promise<{ code: number | null; stderr: string }> {
  const pub = ffmpegPublish(`rtmp://127.0.0.1:${server.port}/live/${path}`, { seconds: 1, videoKbps: 150 });
  const code = await pub.exited;
  return { code, stderr: pub.stderr() };
}

/** Keys that reached NetStream.Publish.Start on `server`. */
function published(server: Server): string[] {
  const keys: string[] = [];
  server.registry.on('publish', (entry) => keys.push(entry.key));
  return keys;
}

/** A publish with our test client: the exact onStatus, and whether the server then closed. */
async function tryPublish(server: Server, name: string, connect?: { app?: string; tcUrl?: string }) {
  const client = await TestRtmpClient.handshake(server.port);
  const app = connect?.app ?? 'live';
  const result = await client.call('connect', { app, type: 'nonprivate', tcUrl: connect?.tcUrl ?? `rtmp://127.0.0.1:${server.port}/live` });
  assert.equal(result.name, '_result');
  const created = await client.call('createStream', null);
  const status = await client.publish(created.args[0] as number, name);
  if (status.code !== 'NetStream.Publish.Start') await client.waitClosed();
  client.destroy();
  return status;
}

/** Asserts a refusal's onStatus, and that its description names neither the key nor the signature. */
function assertRefused(status: { code: string; level: string; description: string; status?: number }, code: string, httpStatus: number, name: string): void {
  assert.equal(status.level, 'error');
  assert.equal(status.code, code);
  assert.equal(status.status, httpStatus);
  const [key, query = ''] = name.split('?');
  assert.ok(!status.description.includes(key!), `description names the key: ${status.description}`);
  const sig = new URLSearchParams(query).get('sig');
  if (sig) assert.ok(!status.description.includes(sig), 'description names the signature');
}

describe('publish authentication, seen from real publishers', () => {
  const server = serverPool();

  test('static keys: a listed key and a listed sha256 hash publish; any other key gets BadName', async () => {
    const hash = createHash('sha256').update('hashed_cam').digest('hex');
    const s = await server({ RTMP_AUTH: 'true', RTMP_AUTH_KEYS: JSON.stringify(['plain_cam', `sha256:${hash}`]) });
    const seen = published(s);
    assert.equal((await ffmpegTry(s, 'plain_cam')).code, 0);
    assert.equal((await ffmpegTry(s, 'hashed_cam')).code, 0);
    const refused = await ffmpegTry(s, 'stranger_cam');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Server error: this stream key may not publish here/);
    assert.deepEqual(seen, ['plain_cam', 'hashed_cam']);
    assertRefused(await tryPublish(s, 'stranger_cam'), 'NetStream.Publish.BadName', 403, 'stranger_cam');
    // The hash itself is not a key.
    assertRefused(await tryPublish(s, hash), 'NetStream.Publish.BadName', 403, hash);
    assert.equal(s.registry.refusals.get('auth'), 3);
  });

  test('signed URLs: the current and the previous secret publish; expired, too far ahead, forged, other key, other app and malformed do not', async () => {
    const s = await server({ RTMP_AUTH: 'true', RTMP_AUTH_SECRETS: JSON.stringify([SECRET, OLD_SECRET]), RTMP_AUTH_MAX_TTL_SECONDS: '3600' });
    const seen = published(s);
    assert.equal((await ffmpegTry(s, signedPublish('signed_cam'))).code, 0, 'current secret');
    assert.equal((await ffmpegTry(s, signedPublish('old_cam', nowS() + 60, OLD_SECRET))).code, 0, 'second secret');
    const expired = await ffmpegTry(s, signedPublish('signed_cam', nowS() - 5));
    assert.notEqual(expired.code, 0);
    assert.match(expired.stderr, /Server error: publish refused: the signed URL has expired/);
    assert.deepEqual(seen, ['signed_cam', 'old_cam']);

    const forged = `signed_cam?exp=${nowS() + 60}&sig=${'0'.repeat(64)}`;
    const otherKey = `signed_cam?${new URLSearchParams(signedPublish('another_cam').split('?')[1]).toString()}`;
    const otherApp = signedPublish('signed_cam', nowS() + 60, SECRET, 'otherapp');
    const playToken = `signed_cam?${signedPlay('signed_cam')}`;
    const cases: [string, string][] = [
      [signedPublish('signed_cam', nowS() - 1), 'has expired'],
      [signedPublish('signed_cam', nowS() + 7200), 'expires further ahead than allowed'],
      [forged, 'signature is not valid'],
      [otherKey, 'signature is not valid'],
      [otherApp, 'signature is not valid'],
      [playToken, 'signature is not valid'],
      [`signed_cam?exp=tomorrow&sig=${'a'.repeat(64)}`, 'malformed'],
      [`signed_cam?exp=${nowS() + 60}`, 'malformed'],
      ['signed_cam', 'a signed URL (exp and sig) is required'],
    ];
    for (const [name, why] of cases) {
      const status = await tryPublish(s, name);
      assertRefused(status, 'NetStream.Publish.Unauthorized', 401, name);
      assert.ok(status.description.includes(why), `${name}: ${status.description}`);
    }
    assert.deepEqual(seen, ['signed_cam', 'old_cam']);
  });

  test('a signature on the connect URL (OBS: server rtmp://host/live?exp=…&sig=…) works too', async () => {
    const s = await server({ RTMP_AUTH: 'true', RTMP_AUTH_SECRETS: JSON.stringify([SECRET]) });
    const query = signedPublish('obs_cam').split('?')[1]!;
    const viaApp = await tryPublish(s, 'obs_cam', { app: `live?${query}`, tcUrl: `rtmp://127.0.0.1:${s.port}/live?${query}` });
    assert.equal(viaApp.code, 'NetStream.Publish.Start');
    await waitUntil(() => s.registry.get('obs_cam') === undefined, 'obs_cam unpublished');
    const viaTcUrl = await tryPublish(s, 'obs_cam', { tcUrl: `rtmp://127.0.0.1:${s.port}/live?${query}` });
    assert.equal(viaTcUrl.code, 'NetStream.Publish.Start');
    // The key is registered without its query.
    assert.equal(s.registry.get('obs_cam?exp'), undefined);
  });

  test('proxy-rtmp sign prints a URL ffmpeg publishes with', async () => {
    const env = { RTMP_AUTH: 'true', RTMP_AUTH_SECRETS: JSON.stringify([SECRET]) };
    const s = await server(env);
    let url = '';
    const code = runSignCommand(['--key', 'signed_by_cli', '--ttl', '15m', '--host', `127.0.0.1:${s.port}`], {
      stdout: (t) => void (url += t),
      stderr: () => {},
      env,
    });
    assert.equal(code, 0);
    assert.match(url, /^rtmp:\/\/127\.0\.0\.1:\d+\/live\/signed_by_cli\?exp=\d+&sig=[0-9a-f]{64}\n$/);
    const seen = published(s);
    const pub = ffmpegPublish(url.trim(), { seconds: 1, videoKbps: 150 });
    assert.equal(await pub.exited, 0, pub.stderr());
    assert.deepEqual(seen, ['signed_by_cli']);
  });
});

describe('publish webhook, against a local HTTP receiver', () => {
  const servers: Server[] = [];
  let receiver: HttpServer;
  let hookUrl: string;
  const calls: { key: string; clientAddress: string; query: Record<string, string>; action: string; signed: boolean; time: number; timestamp: string }[] = [];
  const held: ServerResponse[] = [];

  before(async () => {
    receiver = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        // What an operator's receiver does: HMAC over the raw body, compared in constant time.
        const expected = Buffer.from(`sha256=${createHmac('sha256', WEBHOOK_SECRET).update(raw).digest('hex')}`);
        const given = Buffer.from(String(req.headers['x-proxy-rtmp-signature'] ?? ''));
        const signed = given.length === expected.length && timingSafeEqual(given, expected);
        const body = JSON.parse(raw.toString());
        calls.push({ ...body, signed, timestamp: String(req.headers['x-proxy-rtmp-timestamp']) });
        if (!signed) return void res.writeHead(401).end();
        if (body.key.startsWith('allow')) return void res.writeHead(204).end();
        if (body.key.startsWith('slow')) return void setTimeout(() => res.writeHead(200).end(), 1500);
        if (body.key.startsWith('hang')) return void held.push(res);
        res.writeHead(403).end('go away');
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/publish`;
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    for (const res of held) res.destroy();
    receiver?.closeAllConnections();
    receiver?.close();
  });
  async function server(env: Record<string, string>): Promise<Server> {
    const s = await startTestServer({
      RTMP_AUTH: 'true',
      RTMP_AUTH_WEBHOOK_URL: hookUrl,
      RTMP_AUTH_WEBHOOK_SECRET: WEBHOOK_SECRET,
      RTMP_AUTH_WEBHOOK_TIMEOUT_MS: '400',
      ...env,
    });
    servers.push(s);
    return s;
  }

  test('2xx allows, 403 denies; the receiver verifies the signature and gets key, client address and query', async () => {
    const s = await server({});
    const seen = published(s);
    assert.equal((await ffmpegTry(s, 'allow_cam?token=abc&room=7')).code, 0);
    const call = calls.find((c) => c.key === 'allow_cam')!;
    assert.equal(call.signed, true);
    assert.equal(call.action, 'publish');
    assert.equal(call.clientAddress, '127.0.0.1');
    assert.deepEqual(call.query, { token: 'abc', room: '7' });
    assert.equal(call.timestamp, String(call.time));
    assert.ok(Math.abs(call.time - nowS()) < 10);
    const denied = await ffmpegTry(s, 'deny_cam');
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /Server error: the authorisation service refused this publish \(HTTP 403\)/);
    assertRefused(await tryPublish(s, 'deny_cam?token=xyz'), 'NetStream.Publish.Unauthorized', 403, 'deny_cam?token=xyz');
    assert.deepEqual(seen, ['allow_cam']);
  });

  test('a listed key still needs the webhook; a key refused locally never reaches it', async () => {
    const s = await server({ RTMP_AUTH_KEYS: JSON.stringify(['allow_listed', 'deny_listed']) });
    assert.equal((await tryPublish(s, 'allow_listed')).code, 'NetStream.Publish.Start');
    assertRefused(await tryPublish(s, 'deny_listed'), 'NetStream.Publish.Unauthorized', 403, 'deny_listed');
    const before = calls.length;
    assertRefused(await tryPublish(s, 'allow_unlisted'), 'NetStream.Publish.BadName', 403, 'allow_unlisted');
    assert.equal(calls.length, before);
  });

  test('timeout: fail-closed refuses with 503, fail-open allows; an unreachable webhook follows the same rule', async () => {
    const closed = await server({});
    const t0 = Date.now();
    assertRefused(await tryPublish(closed, 'hang_cam'), 'NetStream.Publish.Unauthorized', 503, 'hang_cam');
    assert.ok(Date.now() - t0 >= 390, 'waited for the timeout');
    const open = await server({ RTMP_AUTH_WEBHOOK_FAIL_OPEN: 'true' });
    assert.equal((await tryPublish(open, 'hang_cam2')).code, 'NetStream.Publish.Start');
    const dead = createServer();
    dead.listen(0, '127.0.0.1');
    await once(dead, 'listening');
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}/publish`;
    dead.close();
    const unreachable = await server({ RTMP_AUTH_WEBHOOK_URL: deadUrl });
    const refused = await ffmpegTry(unreachable, 'allow_but_nobody_home');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /the authorisation service did not answer \(unreachable\)/);
    const unreachableOpen = await server({ RTMP_AUTH_WEBHOOK_URL: deadUrl, RTMP_AUTH_WEBHOOK_FAIL_OPEN: 'true' });
    assert.equal((await tryPublish(unreachableOpen, 'anyone')).code, 'NetStream.Publish.Start');
  });

  test('a slow webhook blocks only its own publish', async () => {
    const s = await server({ RTMP_AUTH_WEBHOOK_TIMEOUT_MS: '5000' });
    const t0 = Date.now();
    const slow = tryPublish(s, 'slow_cam');
    await waitUntil(() => calls.some((c) => c.key === 'slow_cam'), 'the slow call under way');
    const fast = await tryPublish(s, 'allow_fast');
    const fastMs = Date.now() - t0;
    assert.equal(fast.code, 'NetStream.Publish.Start');
    assert.equal(s.registry.get('slow_cam'), undefined, 'not registered while the webhook thinks');
    assert.equal((await slow).code, 'NetStream.Publish.Start');
    assert.ok(fastMs < 1400, `the other publish went through in ${fastMs} ms`);
  });
});

describe('per-address connection limits', () => {
  const servers: Server[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  /** Connects from `from` and sends C0+C1: 'open' when the server answers S0, 'refused' when it closes without a byte. */
  async function probe(port: number, from = '127.0.0.1'): Promise<{ verdict: 'open' | 'refused'; socket: Socket }> {
    const socket = connect({ port, host: '127.0.0.1', localAddress: from });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)]));
    const verdict = await new Promise<'open' | 'refused'>((resolve) => {
      socket.once('data', () => resolve('open'));
      socket.once('close', () => resolve('refused'));
    });
    return { verdict, socket };
  }

  test('the N+1th concurrent connection of an address is refused at once, another address is not, a close frees a slot', async () => {
    const s = await startTestServer({ RTMP_MAX_CONNECTIONS_PER_ADDRESS: '2' });
    servers.push(s);
    const a = await probe(s.port);
    const b = await probe(s.port);
    assert.deepEqual([a.verdict, b.verdict], ['open', 'open']);
    const c = await probe(s.port);
    assert.equal(c.verdict, 'refused');
    // The whole 127/8 is loopback on Linux: 127.0.0.2 is another client address.
    const other = await probe(s.port, '127.0.0.2');
    assert.equal(other.verdict, 'open');
    const ffmpegRefused = await ffmpegTry(s, 'no_room');
    assert.notEqual(ffmpegRefused.code, 0);
    a.socket.destroy();
    await waitUntil(() => s.rtmp.sessions.size === 2, 'the closed connection released');
    const d = await probe(s.port);
    assert.equal(d.verdict, 'open');
    for (const x of [b, c, other, d]) x.socket.destroy();
    const metrics = await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
    assert.match(metrics, /^proxy_rtmp_connections_refused_total\{reason="max-per-address"\} 2$/m);
  });

  test('connections beyond the per-minute rate are refused; other addresses are unaffected; counted at /metrics', async () => {
    const s = await startTestServer({ RTMP_CONNECTIONS_PER_MINUTE: '3' });
    servers.push(s);
    for (let i = 0; i < 3; i++) {
      const p = await probe(s.port);
      assert.equal(p.verdict, 'open', `connection ${i + 1}`);
      p.socket.destroy();
    }
    assert.equal((await probe(s.port)).verdict, 'refused');
    assert.equal((await probe(s.port)).verdict, 'refused');
    const other = await probe(s.port, '127.0.0.3');
    assert.equal(other.verdict, 'open');
    other.socket.destroy();
    const metrics = await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
    assert.match(metrics, /^proxy_rtmp_connections_refused_total\{reason="rate-per-address"\} 2$/m);
    assert.match(metrics, /^proxy_rtmp_connections_refused_total\{reason="max-per-address"\} 0$/m);
  });
});

describe('signed playback and secrets in logs (transcoding a tiny one-rung ladder)', () => {
  const KEY = 'Zq7cam_secret_name';
  let server: Server;
  let logs: () => string;
  let publishUrlName: string;
  let pub: ReturnType<typeof ffmpegPublish>;
  const get = async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
    const res = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, { headers, method });
    return { status: res.status, body: await res.text(), headers: res.headers };
  };

  before(async () => {
    ({ server, logs } = await startCapturing({
      RTMP_TRANSCODE: 'true',
      RTMP_TRANSCODE_PRESET: 'ultrafast',
      RTMP_LADDER: JSON.stringify([{ name: '240p', width: 320, height: 240, bitrateKbps: 300, fps: 30, codec: 'h264' }]),
      RTMP_SEGMENT_SECONDS: '1',
      RTMP_AUTH: 'true',
      RTMP_AUTH_SECRETS: JSON.stringify([SECRET, OLD_SECRET]),
      RTMP_AUTH_PLAYBACK: 'true',
    }));
    publishUrlName = signedPublish(KEY);
    // A refused publish first (expired), then the real one.
    assertRefused(await tryPublish(server, signedPublish(KEY, nowS() - 60)), 'NetStream.Publish.Unauthorized', 401, KEY);
    pub = ffmpegPublish(`rtmp://127.0.0.1:${server.port}/live/${publishUrlName}`, { seconds: 8, videoKbps: 300 });
    const token = signedPlay(KEY);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const m = await get(`/streams/${KEY}/master.m3u8?${token}`);
      if (m.status === 200 && m.body.includes('#EXT-X-STREAM-INF')) {
        const variant = m.body.split('\n').find((l) => l !== '' && !l.startsWith('#'))!;
        const v = await get(`/streams/${KEY}/${variant}`);
        if (v.status === 200 && /\.m4s/.test(v.body)) break;
      }
      if (Date.now() > deadline) throw new Error(`not playable: ${m.status} ${m.body} ${pub.stderr()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(async () => {
    pub?.kill('SIGKILL');
    await server?.close();
  });

  test('HLS: no token or a bad one is 403; with a token every URI carries it and variant, init and segments load', async () => {
    const token = signedPlay(KEY);
    assert.equal((await get(`/streams/${KEY}/master.m3u8`)).status, 403);
    assert.equal((await get(`/streams/${KEY}/master.m3u8?${signedPlay(KEY, nowS() - 1)}`)).status, 403, 'expired');
    assert.equal((await get(`/streams/${KEY}/master.m3u8?${signedPlay('other_key')}`)).status, 403, "another key's token");
    assert.equal((await get(`/streams/${KEY}/master.m3u8?${signedPlay(KEY, nowS() + 60, 'not-our-secret-0000')}`)).status, 403, 'forged');
    const publishToken = signedPublish(KEY).split('?')[1]!;
    assert.equal((await get(`/streams/${KEY}/master.m3u8?${publishToken}`)).status, 403, 'a publish token cannot play');
    // No key enumeration: an unknown key without a token is 403, not 404.
    const unknown = await get('/streams/no_such_key/master.m3u8');
    assert.equal(unknown.status, 403);
    assert.equal(unknown.body, 'forbidden\n');

    const master = await get(`/streams/${KEY}/master.m3u8?${token}`);
    assert.equal(master.status, 200);
    assert.equal(master.headers.get('content-length'), String(Buffer.byteLength(master.body)));
    const uris = master.body.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    assert.ok(uris.length >= 1);
    for (const uri of uris) assert.ok(uri.endsWith(`?${token}`), uri);
    const variant = await get(`/streams/${KEY}/${uris[0]}`);
    assert.equal(variant.status, 200);
    const map = /#EXT-X-MAP:URI="([^"]+)"/.exec(variant.body)?.[1];
    assert.ok(map?.endsWith(`?${token}`), variant.body);
    const segments = variant.body.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    assert.ok(segments.length >= 1 && segments.every((s) => s.endsWith(`?${token}`)), variant.body);
    const init = await fetch(`http://127.0.0.1:${server.httpPort}/streams/${KEY}/${map}`);
    assert.equal(init.status, 200);
    assert.ok((await init.arrayBuffer()).byteLength > 0);
    const segment = await fetch(`http://127.0.0.1:${server.httpPort}/streams/${KEY}/${segments.at(-1)}`, { headers: { Range: 'bytes=0-99' } });
    assert.equal(segment.status, 206, 'segments keep their ranges');
    assert.equal((await segment.arrayBuffer()).byteLength, 100);
    assert.equal((await get(`/streams/${KEY}/${segments.at(-1)!.split('?')[0]}`)).status, 403, 'a segment without the token');

    // ETag/304 and HEAD on a rewritten playlist.
    const etag = master.headers.get('etag')!;
    assert.match(etag, /^W\/"[A-Za-z0-9_-]+"$/);
    assert.equal((await get(`/streams/${KEY}/master.m3u8?${token}`, { 'If-None-Match': etag })).status, 304);
    const head = await get(`/streams/${KEY}/master.m3u8?${token}`, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), master.headers.get('content-length'));
    const ranged = await get(`/streams/${KEY}/master.m3u8?${token}`, { Range: 'bytes=0-9' });
    assert.equal(ranged.status, 206, 'a range on a playlist is honoured');
    assert.equal(ranged.body, master.body.slice(0, 10));
    const otherToken = signedPlay(KEY, nowS() + 120, OLD_SECRET);
    const again = await get(`/streams/${KEY}/master.m3u8?${otherToken}`, { 'If-None-Match': etag });
    assert.equal(again.status, 200, 'another token never matches the first one’s ETag');
    assert.ok(again.body.includes(otherToken));

    // A player given only the signed master URL plays.
    const { stdout } = await execFileAsync(
      'ffprobe',
      ['-v', 'error', '-of', 'json', '-show_entries', 'stream=codec_name,width', `http://127.0.0.1:${server.httpPort}/streams/${KEY}/master.m3u8?${token}`],
      { timeout: 30_000 },
    );
    assert.ok((JSON.parse(stdout).streams as { codec_name: string; width?: number }[]).some((x) => x.codec_name === 'h264' && x.width === 320));
  });

  test('DASH: the manifest needs the token and carries it into SegmentTemplate URLs', async () => {
    const token = signedPlay(KEY);
    assert.equal((await get(`/streams/${KEY}/dash/manifest.mpd`)).status, 403);
    const mpd = await get(`/streams/${KEY}/dash/manifest.mpd?${token}`);
    assert.equal(mpd.status, 200);
    const xmlToken = token.replace('&', '&amp;');
    const init = /initialization="([^"]+)"/.exec(mpd.body)?.[1];
    const media = /media="([^"]+)"/.exec(mpd.body)?.[1];
    assert.ok(init?.endsWith(`?${xmlToken}`), mpd.body);
    assert.ok(media?.endsWith(`?${xmlToken}`), mpd.body);
    const initUrl = init!.replace(/&amp;/g, '&');
    assert.equal((await fetch(`http://127.0.0.1:${server.httpPort}/streams/${KEY}/dash/${initUrl}`)).status, 200);
    const startNumber = /startNumber="(\d+)"/.exec(mpd.body)![1]!;
    const mediaUrl = media!.replace('$Number$', startNumber).replace(/&amp;/g, '&');
    assert.equal((await fetch(`http://127.0.0.1:${server.httpPort}/streams/${KEY}/dash/${mediaUrl}`)).status, 200);
  });

  test('playback failures are counted; /metrics needs no token', async () => {
    const metrics = await get('/metrics');
    assert.equal(metrics.status, 200);
    const forbidden = Number(/^proxy_rtmp_auth_failures_total\{kind="play",reason="missing"\} (\d+)$/m.exec(metrics.body)?.[1]);
    assert.ok(forbidden >= 3, `missing: ${forbidden}`);
    assert.match(metrics.body, /^proxy_rtmp_auth_failures_total\{kind="publish",reason="expired"\} 1$/m);
  });

  test('keys, signatures and secrets never reach the log: streams are named by key id', async () => {
    pub.kill('SIGINT');
    await pub.exited;
    await waitUntil(() => server.registry.get(KEY) === undefined, 'unpublished');
    const text = logs();
    const sig = new URLSearchParams(publishUrlName.split('?')[1]).get('sig')!;
    for (const secret of [KEY, sig, SECRET, OLD_SECRET, signedPlay(KEY).split('sig=')[1]!]) {
      assert.ok(!text.includes(secret), `the log holds ${secret.slice(0, 12)}…`);
    }
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const id = keyId(KEY);
    assert.ok(lines.some((l) => l['msg'] === 'publish started' && l['key'] === id), 'publish started names the key id');
    assert.ok(lines.some((l) => l['level'] === 40 && l['reason'] === 'auth' && l['key'] === id), 'the refusal is logged with the key id');
    assert.ok(lines.some((l) => l['msg'] === 'transcode planned' && l['key'] === id), 'the transcoder names the key id');
    assert.ok(lines.some((l) => l['msg'] === 'publish authentication on'));
  });
});

describe('playback off', () => {
  test('no token is needed, and unknown keys are plain 404s', async () => {
    const s = await startTestServer({ RTMP_AUTH: 'true', RTMP_AUTH_SECRETS: JSON.stringify([SECRET]) });
    try {
      const res = await fetch(`http://127.0.0.1:${s.httpPort}/streams/some_key/master.m3u8`);
      assert.equal(res.status, 404);
      await res.text();
    } finally {
      await s.close();
    }
  });
});
