import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { Client, Metadata, Server, ServerCredentials, credentials, makeGenericClientConstructor, type ClientDuplexStream } from '@grpc/grpc-js';
import { fromBinary, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { ModuleService } from '../../src/gen/marchproxy/module/v1/module_pb.ts';
import { Health } from '../../src/gen/grpc/health/v1/health_pb.ts';
import { ServerReflection as ReflectionV1 } from '../../src/gen/grpc/reflection/v1/reflection_pb.ts';
import {
  ServerReflection as ReflectionV1alpha,
  type ServerReflectionResponse,
} from '../../src/gen/grpc/reflection/v1alpha/reflection_pb.ts';
import { grpcDefinition, grpcService, type GrpcServiceBinding } from '../../src/grpc/adapter.ts';
import { HealthService } from '../../src/grpc/health.ts';
import { ReflectionService } from '../../src/grpc/reflection.ts';
import { serviceInPackage } from '../../src/grpc/service-alias.ts';

const ModuleAlias = serviceInPackage(ModuleService, 'marchproxy.module');

const run = promisify(execFile);
const buf = resolve('node_modules/.bin/buf');

describe('grpc reflection', () => {
  const server = new Server();
  let base: string;
  let port: number;

  before(async () => {
    const reflection = new ReflectionService([ModuleService, ModuleAlias, Health]);
    const impl = {
      getStatus: async () => ({ moduleName: 'proxy-rtmp', activeStreams: 3, totalBytesIn: 9_007_199_254_740_993n }),
      getRoutes: async () => ({ routes: [{ streamKey: 'k', profiles: [{ name: '720p', resolution: 720 }] }] }),
      getMetrics: async () => ({}),
      healthCheck: async () => ({ status: 'healthy' }),
    };
    const bindings: GrpcServiceBinding[] = [
      grpcService(ModuleService, impl),
      grpcService(ModuleAlias, impl),
      grpcService(Health, new HealthService().implementation()),
      grpcService(ReflectionV1, reflection.implementationV1()),
      grpcService(ReflectionV1alpha, reflection.implementationV1alpha()),
    ];
    for (const b of bindings) server.addService(b.definition, b.implementation);
    port = await new Promise<number>((ok, fail) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? fail(err) : ok(p))),
    );
    base = `http://127.0.0.1:${port}`;
  });
  after(() => server?.forceShutdown());

  it('buf curl --list-methods lists every method without .proto files', async () => {
    const { stdout } = await run(buf, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-methods', base], { timeout: 20_000 });
    const methods = stdout.trim().split('\n').sort();
    for (const m of ['GetStatus', 'GetRoutes', 'GetMetrics', 'HealthCheck']) {
      assert.ok(methods.includes(`marchproxy.module.v1.ModuleService/${m}`), `${m} in ${stdout}`);
      assert.ok(methods.includes(`marchproxy.module.ModuleService/${m}`), `${m} under the package-less contract name in ${stdout}`);
    }
    assert.ok(methods.includes('grpc.health.v1.Health/Watch'));
    assert.ok(methods.includes('grpc.reflection.v1.ServerReflection/ServerReflectionInfo'));
  });

  it('buf curl calls GetStatus through reflection', async () => {
    const { stdout } = await run(
      buf,
      ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', '{}', `${base}/marchproxy.module.v1.ModuleService/GetStatus`],
      { timeout: 20_000 },
    );
    assert.deepEqual(JSON.parse(stdout), { moduleName: 'proxy-rtmp', activeStreams: 3, totalBytesIn: '9007199254740993' });
  });

  it('buf curl calls both names through reflection, nested messages included', async () => {
    for (const service of ['marchproxy.module.v1.ModuleService', 'marchproxy.module.ModuleService']) {
      const { stdout } = await run(buf, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', '{}', `${base}/${service}/GetRoutes`], { timeout: 20_000 });
      assert.deepEqual(JSON.parse(stdout), { routes: [{ streamKey: 'k', profiles: [{ name: '720p', resolution: 720 }] }] }, service);
    }
  });

  it('buf curl calls the health Check', async () => {
    const { stdout } = await run(
      buf,
      ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', '{"service":""}', `${base}/grpc.health.v1.Health/Check`],
      { timeout: 20_000 },
    );
    assert.deepEqual(JSON.parse(stdout), { status: 'SERVING' });
  });

  it('v1alpha over a raw bidi stream: list, symbol, filename and errors', async () => {
    const Ctor = makeGenericClientConstructor(grpcDefinition(ReflectionV1alpha as DescService), 'ServerReflection');
    const client: Client = new Ctor(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const info = (client as unknown as Record<string, (md: Metadata) => ClientDuplexStream<unknown, ServerReflectionResponse>>)[
        'serverReflectionInfo'
      ];
      assert.ok(info);
      const stream = info.call(client, new Metadata());
      const answers: ServerReflectionResponse[] = [];
      const done = new Promise<void>((ok, fail) => {
        stream.on('data', (m: ServerReflectionResponse) => answers.push(m));
        stream.on('status', (s: { code: number }) => (s.code === 0 ? ok() : fail(new Error(`status ${s.code}`))));
        stream.on('error', fail);
      });
      stream.write({ host: 'h', messageRequest: { case: 'listServices', value: '' } });
      stream.write({ messageRequest: { case: 'fileContainingSymbol', value: 'marchproxy.module.v1.StreamRoute' } });
      stream.write({ messageRequest: { case: 'fileByFilename', value: 'grpc/health/v1/health.proto' } });
      stream.write({ messageRequest: { case: 'fileContainingSymbol', value: 'no.such.Thing' } });
      stream.end();
      await done;

      assert.equal(answers.length, 4);
      const [list, symbol, byName, missing] = answers;
      assert.equal(list?.validHost, 'h');
      assert.equal(list?.messageResponse.case, 'listServicesResponse');
      assert.deepEqual(
        list?.messageResponse.case === 'listServicesResponse' ? list.messageResponse.value.service.map((s) => s.name) : [],
        [
          'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection',
          'marchproxy.module.ModuleService', 'marchproxy.module.v1.ModuleService',
        ],
      );
      for (const [answer, name] of [
        [symbol, 'marchproxy/module/v1/module.proto'],
        [byName, 'grpc/health/v1/health.proto'],
      ] as const) {
        assert.equal(answer?.messageResponse.case, 'fileDescriptorResponse');
        if (answer?.messageResponse.case !== 'fileDescriptorResponse') continue;
        const first = answer.messageResponse.value.fileDescriptorProto[0];
        assert.ok(first);
        assert.equal(fromBinary(FileDescriptorProtoSchema, first).name, name);
      }
      assert.equal(missing?.messageResponse.case, 'errorResponse');
      assert.equal(missing?.messageResponse.case === 'errorResponse' ? missing.messageResponse.value.errorCode : -1, 5);
    } finally {
      client.close();
    }
  });
});
