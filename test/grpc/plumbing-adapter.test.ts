import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Metadata, Server, ServerCredentials, credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { ModuleService, type HealthCheckResponse, type MetricsResponse, type RoutesResponse, type StatusResponse } from '../../src/gen/marchproxy/module/v1/module_pb.ts';
import { GRPC_STATUS_OF_ERROR, GrpcCode, GrpcStatusError, grpcDefinition, grpcService, toGrpcStatus, type ServiceImpl } from '../../src/grpc/adapter.ts';
import * as errors from '../../src/errors.ts';
import { DrainingError, ProxyRtmpError, StreamLimitError } from '../../src/errors.ts';

/** Calls a unary method of a generic grpc-js client and resolves with the response. */
function unary<T>(client: Client, name: string, req: unknown, deadline?: Date): Promise<T> {
  const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[name];
  assert.ok(fn, `client has ${name}`);
  return new Promise((resolve, reject) => {
    fn.call(client, req, new Metadata(), deadline ? { deadline } : {}, (err: ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    );
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
}

describe('grpc adapter: ModuleService round trip', () => {
  const server = new Server();
  let client: Client;
  let mode: 'ok' | 'not-found' | 'ours' | 'limit' | 'draining' | 'stray' | 'slow' | 'late-reader' = 'ok';
  let slowAborted: Promise<unknown> | undefined;
  let lateSeen: Promise<{ aborted: boolean; reason: unknown; peer: string }> | undefined;

  const impl: ServiceImpl<typeof ModuleService> = {
    async getStatus(_req, _call) {
      if (mode === 'not-found') throw new GrpcStatusError(GrpcCode.NOT_FOUND, 'no such module');
      if (mode === 'ours') throw new ProxyRtmpError('ERR_TEST_BROKEN', 'the widget broke');
      if (mode === 'limit') throw new StreamLimitError('100 streams already');
      if (mode === 'draining') throw new DrainingError('server is draining');
      if (mode === 'stray') throw new Error('secret internals');
      if (mode === 'late-reader') {
        // The signal is made on first read: one first read after the deadline must already be aborted.
        lateSeen = new Promise((seen) => setTimeout(() => seen({ aborted: _call.signal.aborted, reason: _call.signal.reason, peer: _call.peer }), 300));
        await lateSeen;
      }
      if (mode === 'slow') {
        return new Promise((_resolve, reject) => {
          slowAborted = new Promise((seen) => _call.signal.addEventListener('abort', () => seen(_call.signal.reason)));
          _call.signal.addEventListener('abort', () => reject(_call.signal.reason));
        });
      }
      return {
        moduleName: 'proxy-rtmp',
        version: '1.0.0',
        status: 'running',
        activeStreams: 2,
        totalBytesIn: 9_007_199_254_740_993n,
        totalBytesOut: 42n,
        uptime: '1h2m3s',
      };
    },
    async getRoutes() {
      return {
        routes: [
          {
            streamKey: 'live/cam1',
            source: 'rtmp://10.0.0.5',
            status: 'live',
            encoder: 'libx264',
            inputBitrate: 4500,
            inputResolution: 1080,
            bytesProcessed: 123_456_789_012n,
            profiles: [{ name: '720p', codec: 'h264', bitrate: 2500, resolution: 720, status: 'running' }],
          },
        ],
      };
    },
    async getMetrics() {
      return { cpuPercent: 37, gpuPercent: 0, memoryMb: 512, streams: [{ streamKey: 'live/cam1', fps: 29.5, duration: 61.25, droppedFrames: 3, encoderSpeed: 1 }] };
    },
    async healthCheck() {
      return { status: 'healthy', message: 'all good', responseTimeMs: 1, errors: ['none', 'really'] };
    },
  };

  before(async () => {
    const binding = grpcService(ModuleService, impl);
    server.addService(binding.definition, binding.implementation);
    const port = await listen(server);
    const Ctor = makeGenericClientConstructor(grpcDefinition(ModuleService), 'ModuleService');
    client = new Ctor(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  after(() => {
    client?.close();
    server.forceShutdown();
  });

  it('serves methods at /package.Service/Method', () => {
    const def = grpcDefinition(ModuleService);
    assert.equal(def['getStatus']?.path, '/marchproxy.module.v1.ModuleService/GetStatus');
    assert.equal(def['healthCheck']?.path, '/marchproxy.module.v1.ModuleService/HealthCheck');
    assert.equal(def['getStatus']?.responseStream, false);
  });

  it('GetStatus round-trips, int64 as bigint', async () => {
    mode = 'ok';
    const res = await unary<StatusResponse>(client, 'getStatus', {});
    assert.equal(res.$typeName, 'marchproxy.module.v1.StatusResponse');
    assert.equal(res.moduleName, 'proxy-rtmp');
    assert.equal(res.version, '1.0.0');
    assert.equal(res.status, 'running');
    assert.equal(res.activeStreams, 2);
    assert.equal(res.totalBytesIn, 9_007_199_254_740_993n);
    assert.equal(res.totalBytesOut, 42n);
    assert.equal(res.uptime, '1h2m3s');
  });

  it('GetRoutes round-trips nested repeated messages', async () => {
    const res = await unary<RoutesResponse>(client, 'getRoutes', {});
    assert.equal(res.routes.length, 1);
    const route = res.routes[0];
    assert.ok(route);
    assert.equal(route.streamKey, 'live/cam1');
    assert.equal(route.inputBitrate, 4500);
    assert.equal(route.bytesProcessed, 123_456_789_012n);
    assert.deepEqual(
      route.profiles.map((p) => [p.name, p.codec, p.bitrate, p.resolution, p.status]),
      [['720p', 'h264', 2500, 720, 'running']],
    );
  });

  it('GetMetrics round-trips floats (as float32)', async () => {
    const res = await unary<MetricsResponse>(client, 'getMetrics', {});
    assert.equal(res.cpuPercent, 37);
    assert.equal(res.memoryMb, 512);
    const s = res.streams[0];
    assert.ok(s);
    assert.equal(s.fps, Math.fround(29.5));
    assert.equal(s.duration, 61.25);
    assert.equal(s.droppedFrames, 3);
  });

  it('HealthCheck round-trips repeated strings', async () => {
    const res = await unary<HealthCheckResponse>(client, 'healthCheck', {});
    assert.equal(res.status, 'healthy');
    assert.equal(res.message, 'all good');
    assert.equal(res.responseTimeMs, 1);
    assert.deepEqual(res.errors, ['none', 'really']);
  });

  it('an error with grpcCode NOT_FOUND surfaces as status 5', async () => {
    mode = 'not-found';
    await assert.rejects(unary(client, 'getStatus', {}), (err: ServiceError) => {
      assert.equal(err.code, 5);
      assert.equal(err.details, 'no such module');
      return true;
    });
  });

  it('our ERR_ errors become INTERNAL with message and x-error-code trailer', async () => {
    mode = 'ours';
    await assert.rejects(unary(client, 'getStatus', {}), (err: ServiceError) => {
      assert.equal(err.code, GrpcCode.INTERNAL);
      assert.equal(err.details, 'the widget broke');
      assert.deepEqual(err.metadata.get('x-error-code'), ['ERR_TEST_BROKEN']);
      return true;
    });
  });

  it('a stream limit surfaces as RESOURCE_EXHAUSTED, with its message and x-error-code', async () => {
    mode = 'limit';
    await assert.rejects(unary(client, 'getStatus', {}), (err: ServiceError) => {
      assert.equal(err.code, GrpcCode.RESOURCE_EXHAUSTED);
      assert.equal(err.details, '100 streams already');
      assert.deepEqual(err.metadata.get('x-error-code'), ['ERR_STREAM_LIMIT']);
      return true;
    });
  });

  it('draining surfaces as UNAVAILABLE, with x-error-code', async () => {
    mode = 'draining';
    await assert.rejects(unary(client, 'getStatus', {}), (err: ServiceError) => {
      assert.equal(err.code, GrpcCode.UNAVAILABLE);
      assert.deepEqual(err.metadata.get('x-error-code'), ['ERR_SERVER_DRAINING']);
      return true;
    });
  });

  it('other errors become INTERNAL without leaking their message', async () => {
    mode = 'stray';
    await assert.rejects(unary(client, 'getStatus', {}), (err: ServiceError) => {
      assert.equal(err.code, GrpcCode.INTERNAL);
      assert.equal(err.details, 'internal error');
      return true;
    });
  });

  it('a passed deadline aborts the handler signal and fails DEADLINE_EXCEEDED', async () => {
    mode = 'slow';
    await assert.rejects(unary(client, 'getStatus', {}, new Date(Date.now() + 150)), (err: ServiceError) => {
      assert.equal(err.code, GrpcCode.DEADLINE_EXCEEDED);
      return true;
    });
    assert.ok(slowAborted);
    const reason = await slowAborted;
    assert.ok(reason instanceof GrpcStatusError);
  });

  it('a signal first read after the deadline is already aborted; the late answer is not sent as OK', async () => {
    mode = 'late-reader';
    await assert.rejects(unary(client, 'getStatus', {}, new Date(Date.now() + 100)), (err: ServiceError) => {
      assert.equal(err.code, GrpcCode.DEADLINE_EXCEEDED);
      return true;
    });
    const seen = await lateSeen!;
    assert.equal(seen.aborted, true);
    assert.ok(seen.reason instanceof GrpcStatusError);
    assert.match(seen.peer, /127\.0\.0\.1:\d+/); // read when the call came, not when asked
  });

  it('rejects an implementation missing a method', () => {
    const partial = { ...impl } as Partial<typeof impl>;
    delete partial.healthCheck;
    assert.throws(() => grpcService(ModuleService, partial as typeof impl), /no handler for healthCheck/);
  });

  it('toGrpcStatus ignores out-of-range grpcCode', () => {
    assert.equal(toGrpcStatus({ grpcCode: 99, message: 'x' }).code, GrpcCode.INTERNAL);
    assert.equal(toGrpcStatus('nope').code, GrpcCode.INTERNAL);
  });
});

describe('grpc adapter: our error codes map to gRPC statuses (spec "gRPC Status Codes")', () => {
  const { INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, RESOURCE_EXHAUSTED, UNAVAILABLE, INTERNAL, PERMISSION_DENIED, UNAUTHENTICATED, ALREADY_EXISTS } =
    GrpcCode;
  const expected: [new (message: string) => ProxyRtmpError, number][] = [
    [errors.HandshakeVersionError, INVALID_ARGUMENT],
    [errors.HandshakeTimeoutError, DEADLINE_EXCEEDED],
    [errors.ChunkSizeError, INVALID_ARGUMENT],
    [errors.MessageTooLargeError, RESOURCE_EXHAUSTED],
    [errors.TooManyChunkStreamsError, RESOURCE_EXHAUSTED],
    [errors.BufferLimitError, RESOURCE_EXHAUSTED],
    [errors.ChunkHeaderError, INVALID_ARGUMENT],
    [errors.ProtocolError, INVALID_ARGUMENT],
    [errors.IdleTimeoutError, DEADLINE_EXCEEDED],
    [errors.AmfTruncatedError, INVALID_ARGUMENT],
    [errors.AmfDepthError, INVALID_ARGUMENT],
    [errors.AmfUnsupportedError, INVALID_ARGUMENT],
    [errors.AmfInvalidError, INVALID_ARGUMENT],
    [errors.MediaTruncatedError, INVALID_ARGUMENT],
    [errors.MediaInvalidError, INVALID_ARGUMENT],
    [errors.MediaUnsupportedError, INVALID_ARGUMENT],
    [errors.Mp4InvalidError, INVALID_ARGUMENT],
    [errors.Mp4TooLargeError, RESOURCE_EXHAUSTED],
    [errors.Mp4UnsupportedError, INVALID_ARGUMENT],
    [errors.CommandError, INVALID_ARGUMENT],
    [errors.AppRejectedError, NOT_FOUND],
    [errors.StreamKeyError, INVALID_ARGUMENT],
    [errors.StreamBusyError, ALREADY_EXISTS],
    [errors.StreamLimitError, RESOURCE_EXHAUSTED],
    [errors.ResolutionLimitError, RESOURCE_EXHAUSTED],
    [errors.BitrateLimitError, RESOURCE_EXHAUSTED],
    [errors.DrainingError, UNAVAILABLE],
    [errors.ConfigError, INVALID_ARGUMENT],
    [errors.FfmpegNotFoundError, INTERNAL],
    [errors.FfmpegUnusableError, INTERNAL],
    [errors.FfmpegExtractError, INTERNAL],
    [errors.EncoderUnavailableError, INTERNAL],
    [errors.AuthUnknownKeyError, PERMISSION_DENIED],
    [errors.AuthDeniedError, UNAUTHENTICATED],
    [errors.AuthWebhookDeniedError, PERMISSION_DENIED],
    [errors.AuthUnavailableError, UNAVAILABLE],
    [errors.SignUsageError, INVALID_ARGUMENT],
  ];

  const statusName = (code: number): string => Object.entries(GrpcCode).find(([, v]) => v === code)?.[0] ?? String(code);
  for (const [Cls, status] of expected) {
    it(`${Cls.name} → ${statusName(status)}`, () => {
      const err = new Cls(`about ${Cls.name}`);
      const got = toGrpcStatus(err);
      assert.equal(got.code, status);
      assert.equal(got.details, `about ${Cls.name}`);
      assert.deepEqual(got.metadata.get('x-error-code'), [err.code]);
    });
  }

  it('every error class in src/errors.ts has a status in the table, and the table nothing else', () => {
    const codes = Object.values(errors)
      .filter((v): v is typeof errors.ProtocolError => typeof v === 'function' && v.prototype instanceof ProxyRtmpError)
      .map((cls) => cls.code);
    assert.equal(codes.length, expected.length, 'the table test above lists every error class');
    assert.deepEqual(Object.keys(GRPC_STATUS_OF_ERROR).sort(), [...codes].sort());
  });

  it('an explicit grpcCode wins over the code table', () => {
    const err = Object.assign(new errors.StreamLimitError('full'), { grpcCode: GrpcCode.UNAVAILABLE });
    assert.equal(toGrpcStatus(err).code, GrpcCode.UNAVAILABLE);
    assert.deepEqual(toGrpcStatus(err).metadata.get('x-error-code'), ['ERR_STREAM_LIMIT']);
  });

  it('a code not in the table is INTERNAL; a Node system error is INTERNAL without trailer or message', () => {
    assert.equal(toGrpcStatus(new ProxyRtmpError('ERR_SOMETHING_NEW', 'x')).code, INTERNAL);
    const enoent = Object.assign(new Error('ENOENT: /secret/path'), { code: 'ENOENT' });
    const got = toGrpcStatus(enoent);
    assert.equal(got.code, INTERNAL);
    assert.equal(got.details, 'internal error');
    assert.deepEqual(got.metadata.get('x-error-code'), []);
  });
});
