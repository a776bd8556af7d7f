import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookClient, webhookSignature, type WebhookRequest } from '../../src/auth/webhook.ts';

const SECRET = 'webhook-secret-0123456789';

/** What the receiver got, after checking the signature the way an operator would. */
interface Received {
  body: WebhookRequest;
  signatureValid: boolean | undefined;
  timestamp: string | undefined;
  contentType: string | undefined;
}

describe('auth webhook client against a local HTTP receiver', () => {
  let server: Server;
  let base: string;
  const received: Received[] = [];
  const pending: ServerResponse[] = [];
  let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(204).end();

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const header = req.headers[SIGNATURE_HEADER];
        let signatureValid: boolean | undefined;
        if (typeof header === 'string') {
          const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`);
          const given = Buffer.from(header);
          signatureValid = given.length === expected.length && timingSafeEqual(given, expected);
        }
        received.push({
          body: JSON.parse(raw.toString('utf8')),
          signatureValid,
          timestamp: req.headers[TIMESTAMP_HEADER] as string | undefined,
          contentType: req.headers['content-type'],
        });
        answer(req, res);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const res of pending) res.destroy();
    server?.closeAllConnections();
    server?.close();
  });

  const body: WebhookRequest = {
    action: 'publish',
    app: 'live',
    key: 'cam1',
    clientAddress: '127.0.0.1',
    query: { token: 'abc', exp: '1' },
    time: 1_700_000_000,
  };

  test('2xx allows; the body is signed with the secret and carries key, address, query and time', async () => {
    const client = new WebhookClient({ url: `${base}/auth`, secret: SECRET, timeoutMs: 2000, userAgent: 'proxy-rtmp/test' });
    try {
      for (const status of [200, 204, 299]) {
        answer = (_req, res) => res.writeHead(status).end('ok');
        assert.deepEqual(await client.check(body), { outcome: 'allow', status });
      }
      const last = received.at(-1)!;
      assert.deepEqual(last.body, body);
      assert.equal(last.signatureValid, true);
      assert.equal(last.timestamp, '1700000000');
      assert.equal(last.contentType, 'application/json');
      assert.equal(webhookSignature(SECRET, JSON.stringify(body)), `sha256=${createHmac('sha256', SECRET).update(JSON.stringify(body)).digest('hex')}`);
    } finally {
      await client.close();
    }
  });

  test('any other status denies, redirects included (not followed)', async () => {
    const client = new WebhookClient({ url: `${base}/auth`, secret: SECRET, timeoutMs: 2000 });
    try {
      for (const status of [403, 401, 404, 500, 302, 304]) {
        answer = (_req, res) => res.writeHead(status, status === 302 ? { location: '/elsewhere' } : {}).end('no');
        assert.deepEqual(await client.check(body), { outcome: 'deny', status }, String(status));
      }
    } finally {
      await client.close();
    }
  });

  test('no answer within the timeout is unavailable (timeout); a closed port is unavailable (unreachable)', async () => {
    answer = (_req, res) => void pending.push(res);
    const client = new WebhookClient({ url: `${base}/slow`, secret: SECRET, timeoutMs: 200 });
    try {
      const t0 = Date.now();
      assert.deepEqual(await client.check(body), { outcome: 'unavailable', why: 'timeout' });
      const took = Date.now() - t0;
      assert.ok(took >= 190 && took < 1500, `gave up after ${took} ms`);
    } finally {
      await client.close();
    }
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const unreachable = new WebhookClient({ url: `http://127.0.0.1:${port}/auth`, secret: SECRET, timeoutMs: 2000 });
    try {
      assert.deepEqual(await unreachable.check(body), { outcome: 'unavailable', why: 'unreachable' });
    } finally {
      await unreachable.close();
    }
  });

  test('without a secret the request is unsigned', async () => {
    answer = (_req, res) => res.writeHead(200).end();
    const client = new WebhookClient({ url: `${base}/auth`, secret: '', timeoutMs: 2000 });
    try {
      assert.equal((await client.check(body)).outcome, 'allow');
      assert.equal(received.at(-1)!.signatureValid, undefined);
    } finally {
      await client.close();
    }
  });
});
