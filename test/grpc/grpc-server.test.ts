import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Client, credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';
import { ModuleService, type StatusResponse } from '../../src/gen/marchproxy/module/v1/module_pb.ts';
import { grpcDefinition } from '../../src/grpc/adapter.ts';
import { GrpcServer } from '../../src/grpc/grpc-server.ts';
import { ModuleServiceHandlers } from '../../src/grpc/module-service.ts';
import { createLogger } from '../../src/log.ts';

const log = createLogger({ level: 'silent', format: 'json' });
const ModuleClient = makeGenericClientConstructor(grpcDefinition(ModuleService), 'ModuleService');

function getStatus(client: Client): Promise<StatusResponse> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)['GetStatus']!;
  return new Promise((resolve, reject) => {
    fn.call(client, {}, new Metadata(), { deadline: Date.now() + 5000 }, (err: ServiceError | null, res: StatusResponse) => (err ? reject(err) : resolve(res)));
  });
}

describe('GrpcServer status codes and limits', () => {
  let hang = false;
  const handlers = new ModuleServiceHandlers({
    version: '9.9.9',
    startedAt: Date.now(),
    streams: () => [],
    totals: () => ({ bytesIn: 10, bytesOut: 20 }),
    rtmpListening: () => true,
    ffmpegUsable: () => true,
    draining: () => false,
    system: () => (hang ? new Promise(() => {}) : Promise.resolve({ cpuPercent: 1, cpuCorePercent: 2, memoryMb: 3, gpuPercent: 0, processes: 1 })),
    outputDir: undefined,
  });
  const server = new GrpcServer({ host: '127.0.0.1', port: 0, defaultDeadlineMs: 300 }, handlers, log);
  let client: Client;
  after(async () => {
    client?.close();
    await server.close();
  });

  test('UNAVAILABLE while starting, answers once ready, UNAVAILABLE again while draining', async () => {
    const port = await server.listen();
    client = new ModuleClient(`127.0.0.1:${port}`, credentials.createInsecure());
    await assert.rejects(getStatus(client), { code: 14, details: 'server is starting' });
    server.setReady();
    const status = await getStatus(client);
    assert.equal(status.version, '9.9.9');
    assert.equal(status.totalBytesOut, 20n);
    hang = true;
    await assert.rejects(getStatus(client), { code: 4 }, 'a call that carries a long deadline still gets the server default');
    hang = false;
    server.drain();
    await assert.rejects(getStatus(client), { code: 14, details: 'server is draining' });
  });
});
