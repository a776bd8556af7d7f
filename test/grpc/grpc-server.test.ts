import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Client, credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';
import { Health } from '../../src/gen/grpc/health/v1/health_pb.ts';
import { ModuleService, type StatusResponse } from '../../src/gen/marchproxy/module/v1/module_pb.ts';
import { grpcDefinition } from '../../src/grpc/adapter.ts';
import { GrpcServer, MODULE_SERVICE_ALIAS } from '../../src/grpc/grpc-server.ts';
import { ModuleServiceHandlers, type ModuleSources } from '../../src/grpc/module-service.ts';
import { createLogger } from '../../src/log.ts';
import { EMPTY_SAMPLE } from '../../src/metrics/system.ts';
import { StreamEntry } from '../../src/streams/registry.ts';

const log = createLogger({ level: 'silent', format: 'json' });
const ModuleClient = makeGenericClientConstructor(grpcDefinition(ModuleService), 'ModuleService');
const AliasClient = makeGenericClientConstructor(grpcDefinition(MODULE_SERVICE_ALIAS), 'ModuleService');
const HealthClient = makeGenericClientConstructor(grpcDefinition(Health), 'Health');

function call<T>(client: Client, method: string, req: object = {}): Promise<T> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
  return new Promise((resolve, reject) => {
    fn.call(client, req, new Metadata(), { deadline: Date.now() + 5000 }, (err: ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

function sources(over: Partial<ModuleSources> = {}): ModuleSources {
  return {
    version: '9.9.9',
    startedAt: Date.now(),
    streams: () => [],
    totals: () => ({ bytesIn: 10, bytesOut: 20 }),
    rtmpListening: () => true,
    ffmpegUsable: () => true,
    draining: () => false,
    system: { latest: () => ({ ...EMPTY_SAMPLE, cpuPercent: 1, memoryMb: 3 }), on: () => {} },
    outputDir: undefined,
    ...over,
  };
}

describe('GrpcServer status codes and limits', () => {
  let hang = false;
  class Hanging extends ModuleServiceHandlers {
    override getStatus() {
      return hang ? new Promise<never>(() => {}) : super.getStatus();
    }
  }
  const server = new GrpcServer({ host: '127.0.0.1', port: 0, defaultDeadlineMs: 300 }, new Hanging(sources()), log);
  let client: Client;
  after(async () => {
    client?.close();
    await server.close();
  });

  test('UNAVAILABLE while starting, answers once ready, UNAVAILABLE again while draining', async () => {
    const port = await server.listen();
    client = new ModuleClient(`127.0.0.1:${port}`, credentials.createInsecure());
    await assert.rejects(call<StatusResponse>(client, 'GetStatus'), { code: 14, details: 'server is starting' });
    server.setReady();
    const status = await call<StatusResponse>(client, 'GetStatus');
    assert.equal(status.version, '9.9.9');
    assert.equal(status.totalBytesOut, 20n);
    hang = true;
    await assert.rejects(call<StatusResponse>(client, 'GetStatus'), { code: 4 }, 'a call that carries a long deadline still gets the server default');
    hang = false;
    server.drain();
    await assert.rejects(call<StatusResponse>(client, 'GetStatus'), { code: 14, details: 'server is draining' });
  });
});

describe('GrpcServer under both service names, and grpc.health with capacity', () => {
  const streams: StreamEntry[] = [];
  const handlers = new ModuleServiceHandlers(sources({ streams: () => streams, maxStreams: 1 }));
  const server = new GrpcServer({ host: '127.0.0.1', port: 0 }, handlers, log);
  const clients: Client[] = [];
  let port = 0;
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
  });

  test('the same handlers answer as marchproxy.module.v1.ModuleService and marchproxy.module.ModuleService', async () => {
    port = await server.listen();
    server.setReady();
    const v1 = new ModuleClient(`127.0.0.1:${port}`, credentials.createInsecure());
    const plain = new AliasClient(`127.0.0.1:${port}`, credentials.createInsecure());
    clients.push(v1, plain);
    assert.equal(MODULE_SERVICE_ALIAS.typeName, 'marchproxy.module.ModuleService');
    assert.equal(grpcDefinition(MODULE_SERVICE_ALIAS)['getStatus']!.path, '/marchproxy.module.ModuleService/GetStatus');
    const [a, b] = await Promise.all([call<StatusResponse>(v1, 'GetStatus'), call<StatusResponse>(plain, 'GetStatus')]);
    assert.deepEqual({ ...b, uptime: a.uptime }, { ...a, $typeName: 'marchproxy.module.StatusResponse' });
    assert.equal(b.moduleName, 'rtmp-proxy');
    assert.equal(b.totalBytesIn, 10n);
    const health = await call<{ status: string; message: string }>(plain, 'HealthCheck');
    assert.equal(health.status, 'healthy');
    assert.equal(health.message, 'All systems operational; 1 of 1 stream slots free, no stream encoding');
  });

  test('grpc.health NOT_SERVING for every name when no slot is left, SERVING again when one frees', async () => {
    const health = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
    clients.push(health);
    const statusOf = async (service: string) => (await call<{ status: number }>(health, 'Check', { service })).status;
    const names = ['', ModuleService.typeName, MODULE_SERVICE_ALIAS.typeName];
    for (const n of names) assert.equal(await statusOf(n), 1, `SERVING ${n}`);
    streams.push(new StreamEntry({ key: 'a', app: 'live', query: {}, peer: '127.0.0.1:1', sourceUrl: 'rtmp://h/live/a' }, Date.now(), 5000));
    await handlers.observe();
    for (const n of names) assert.equal(await statusOf(n), 2, `NOT_SERVING ${n}`);
    streams.pop();
    await handlers.observe();
    for (const n of names) assert.equal(await statusOf(n), 1, `SERVING again ${n}`);
  });
});
