import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  Client,
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  makeGenericClientConstructor,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckResponse,
  type HealthListResponse,
} from '../../src/gen/grpc/health/v1/health_pb.ts';
import { grpcDefinition, grpcService } from '../../src/grpc/adapter.ts';
import { HealthService } from '../../src/grpc/health.ts';

type Method = (...args: unknown[]) => unknown;

function method(client: Client, name: string): Method {
  const fn = (client as unknown as Record<string, Method>)[name];
  assert.ok(fn, `client has ${name}`);
  return fn.bind(client);
}

function unary<T>(client: Client, name: string, req: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    method(client, name)(req, new Metadata(), {}, (err: ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/** Collects a server stream's messages; `next()` resolves with the next one. */
function reader(stream: ClientReadableStream<HealthCheckResponse>) {
  const queue: HealthCheckResponse[] = [];
  const waiting: ((m: HealthCheckResponse) => void)[] = [];
  stream.on('data', (m: HealthCheckResponse) => {
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  return {
    next(): Promise<HealthCheckResponse> {
      const m = queue.shift();
      if (m) return Promise.resolve(m);
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

describe('grpc health service', () => {
  const server = new Server();
  const health = new HealthService();
  let client: Client;

  before(async () => {
    const binding = grpcService(Health, health.implementation());
    server.addService(binding.definition, binding.implementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const Ctor = makeGenericClientConstructor(grpcDefinition(Health), 'Health');
    client = new Ctor(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  after(() => {
    client?.close();
    server.forceShutdown();
  });

  it('Check of the whole server ("") is SERVING by default', async () => {
    const res = await unary<HealthCheckResponse>(client, 'check', { service: '' });
    assert.equal(res.status, ServingStatus.SERVING);
  });

  it('Check of an unknown service fails NOT_FOUND', async () => {
    await assert.rejects(unary(client, 'check', { service: 'nope' }), (err: ServiceError) => err.code === 5);
  });

  it('Check follows setStatus; List shows every service', async () => {
    health.setStatus('marchproxy.module.v1.ModuleService', 'NOT_SERVING');
    const res = await unary<HealthCheckResponse>(client, 'check', { service: 'marchproxy.module.v1.ModuleService' });
    assert.equal(res.status, ServingStatus.NOT_SERVING);
    const list = await unary<HealthListResponse>(client, 'list', {});
    assert.deepEqual(
      Object.fromEntries(Object.entries(list.statuses).map(([k, v]) => [k, v.status])),
      { '': ServingStatus.SERVING, 'marchproxy.module.v1.ModuleService': ServingStatus.NOT_SERVING },
    );
    health.setStatus('marchproxy.module.v1.ModuleService', 'SERVICE_UNKNOWN');
    await assert.rejects(unary(client, 'check', { service: 'marchproxy.module.v1.ModuleService' }), (err: ServiceError) => err.code === 5);
  });

  it('Watch sends the current status, then each change, until cancelled', async () => {
    health.setStatus('ingest', 'SERVING');
    const stream = method(client, 'watch')({ service: 'ingest' }, new Metadata(), {}) as ClientReadableStream<HealthCheckResponse>;
    const r = reader(stream);
    assert.equal((await r.next()).status, ServingStatus.SERVING);
    health.setStatus('ingest', 'SERVING'); // no change, no message
    health.setStatus('ingest', 'NOT_SERVING');
    assert.equal((await r.next()).status, ServingStatus.NOT_SERVING);
    const ended = once(stream, 'error');
    stream.cancel();
    const [err] = (await ended) as [ServiceError];
    assert.equal(err.code, 1); // CANCELLED
  });

  it('Watch of an unknown service says SERVICE_UNKNOWN and keeps the call open', async () => {
    const stream = method(client, 'watch')({ service: 'later' }, new Metadata(), {}) as ClientReadableStream<HealthCheckResponse>;
    const r = reader(stream);
    assert.equal((await r.next()).status, ServingStatus.SERVICE_UNKNOWN);
    health.setStatus('later', 'SERVING');
    assert.equal((await r.next()).status, ServingStatus.SERVING);
    stream.on('error', () => {});
    stream.cancel();
  });
});
