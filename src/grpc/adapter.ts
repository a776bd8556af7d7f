/**
 * The one bridge between protobuf-es (generated code in src/gen) and
 * @grpc/grpc-js. No other file imports both: services are written against
 * {@link ServiceImpl} and {@link CallContext}, and the composition root hands
 * the resulting {@link GrpcServiceBinding} to a grpc-js `Server`.
 *
 * A method is served at `/${service.typeName}/${method.name}` (gRPC over
 * HTTP/2, "Path" in PROTOCOL-HTTP2.md), with messages in protobuf binary via
 * `toBinary`/`fromBinary` of the method's input and output schemas.
 *
 * ```ts
 * const binding = grpcService(ModuleService, {
 *   async getStatus(_req, _call) { return { moduleName: 'proxy-rtmp', totalBytesIn: 1n }; },
 *   …
 * });
 * server.addService(binding.definition, binding.implementation);
 * ```
 */
import type { EventEmitter } from 'node:events';
import {
  status as grpcStatus,
  Metadata,
  type MethodDefinition,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from '@bufbuild/protobuf';
import * as errors from '../errors.ts';

/** gRPC status codes (grpc/doc/statuscodes.md), so services need not import grpc-js. */
export const GrpcCode = grpcStatus;

/**
 * An error that chooses its gRPC status. Any thrown value with a numeric
 * `grpcCode` property is treated the same way; this class is a convenience.
 */
export class GrpcStatusError extends Error {
  readonly grpcCode: number;
  constructor(grpcCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.grpcCode = grpcCode;
    this.name = 'GrpcStatusError';
  }
}

/** What a handler may know about its call, without touching grpc-js. */
export interface CallContext {
  /** Aborted when the client cancels, the deadline passes, or the connection drops. */
  readonly signal: AbortSignal;
  /** The client's deadline, or undefined when it set none. */
  readonly deadline: Date | undefined;
  /** The peer address, as grpc-js reports it (e.g. `ipv4:127.0.0.1:51234`). */
  readonly peer: string;
  /** Request metadata value(s) for a header name (lower-case). */
  metadata(name: string): string[];
}

type In<M extends Pick<DescMethod, 'input'>> = MessageShape<M['input']>;
type Out<M extends Pick<DescMethod, 'output'>> = MessageInitShape<M['output']>;

/**
 * The handler for one method, chosen by its kind:
 * - unary: `(req, call) => Promise<output init>`
 * - server_streaming: `(req, call) => AsyncIterable<output init>`
 * - client_streaming: `(reqs: AsyncIterable<input>, call) => Promise<output init>`
 * - bidi_streaming: `(reqs: AsyncIterable<input>, call) => AsyncIterable<output init>`
 *
 * Output values are init shapes (plain objects; int64 fields as bigint) or
 * messages made with `create()`.
 */
export type MethodImpl<M extends Pick<DescMethod, 'input' | 'output' | 'methodKind'>> =
  M['methodKind'] extends 'unary'
    ? (req: In<M>, call: CallContext) => Promise<Out<M>> | Out<M>
    : M['methodKind'] extends 'server_streaming'
      ? (req: In<M>, call: CallContext) => AsyncIterable<Out<M>>
      : M['methodKind'] extends 'client_streaming'
        ? (reqs: AsyncIterable<In<M>>, call: CallContext) => Promise<Out<M>>
        : (reqs: AsyncIterable<In<M>>, call: CallContext) => AsyncIterable<Out<M>>;

/** One handler per method of `S`, keyed by the method's generated `localName` (e.g. `getStatus`). */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S['method']]: MethodImpl<S['method'][K]>;
};

/** What grpc-js `Server.addService` takes. */
export interface GrpcServiceBinding {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

/**
 * The grpc-js definition of a protobuf-es service, usable on both sides:
 * servers (with {@link grpcService}) and clients (`makeGenericClientConstructor`,
 * where requests may be init shapes and responses arrive as messages).
 * Keys are the methods' `localName`s; `originalName` is the proto name.
 */
export function grpcDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      originalName: method.name,
      requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
    };
  }
  return definition;
}

/**
 * Binds an implementation of `service` for grpc-js. Every method must be
 * implemented (a missing one throws here, not at call time). Handler errors
 * become gRPC statuses through {@link toGrpcStatus}.
 */
export function grpcService<S extends DescService>(service: S, impl: ServiceImpl<S>): GrpcServiceBinding {
  const implementation: UntypedServiceImplementation = {};
  const handlers = impl as Record<string, unknown>;
  for (const method of service.methods) {
    const handler = handlers[method.localName];
    if (typeof handler !== 'function') {
      throw new TypeError(`grpcService: ${service.typeName} has no handler for ${method.localName}`);
    }
    implementation[method.localName] = bindHandler(method, handler.bind(impl) as AnyHandler);
  }
  return { definition: grpcDefinition(service), implementation };
}

/** A status for grpc-js: code, details and trailing metadata. */
export interface GrpcStatusObject {
  code: number;
  details: string;
  metadata: Metadata;
}

/**
 * The gRPC status of each of our error codes (src/errors.ts), after the
 * spec's "gRPC Status Codes" table: bad input → INVALID_ARGUMENT, something
 * asked for that is not here → NOT_FOUND, a limit → RESOURCE_EXHAUSTED,
 * draining or a dependency out of reach → UNAVAILABLE, a timeout →
 * DEADLINE_EXCEEDED, the server's own setup → INTERNAL. Conditions the spec's
 * table has no row for take the standard code (grpc/doc/statuscodes.md), in
 * line with the RTMP side's statuses (src/ingest/refusal.ts): a bad publish
 * signature (401) → UNAUTHENTICATED, a refused publish (403) →
 * PERMISSION_DENIED, a key already being published → ALREADY_EXISTS.
 * A code missing here is INTERNAL.
 */
export const GRPC_STATUS_OF_ERROR: Readonly<Record<string, number>> = Object.freeze({
  // RTMP handshake and chunk stream: malformed input, a parser limit, a peer too slow.
  [errors.HandshakeVersionError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.HandshakeTimeoutError.code]: grpcStatus.DEADLINE_EXCEEDED,
  [errors.ChunkSizeError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.MessageTooLargeError.code]: grpcStatus.RESOURCE_EXHAUSTED,
  [errors.TooManyChunkStreamsError.code]: grpcStatus.RESOURCE_EXHAUSTED,
  [errors.BufferLimitError.code]: grpcStatus.RESOURCE_EXHAUSTED,
  [errors.ChunkHeaderError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.ProtocolError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.IdleTimeoutError.code]: grpcStatus.DEADLINE_EXCEEDED,
  // AMF0, FLV and codec configuration: input we cannot or will not decode.
  [errors.AmfTruncatedError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.AmfDepthError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.AmfUnsupportedError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.AmfInvalidError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.MediaTruncatedError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.MediaInvalidError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.MediaUnsupportedError.code]: grpcStatus.INVALID_ARGUMENT,
  // Fragmented MP4 from ffmpeg or built by the packager: malformed, over a limit, or unsupported.
  [errors.Mp4InvalidError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.Mp4TooLargeError.code]: grpcStatus.RESOURCE_EXHAUSTED,
  [errors.Mp4UnsupportedError.code]: grpcStatus.INVALID_ARGUMENT,
  // Commands and stream policy.
  [errors.CommandError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.AppRejectedError.code]: grpcStatus.NOT_FOUND,
  [errors.StreamKeyError.code]: grpcStatus.INVALID_ARGUMENT,
  [errors.StreamBusyError.code]: grpcStatus.ALREADY_EXISTS,
  [errors.StreamLimitError.code]: grpcStatus.RESOURCE_EXHAUSTED,
  [errors.ResolutionLimitError.code]: grpcStatus.RESOURCE_EXHAUSTED,
  [errors.BitrateLimitError.code]: grpcStatus.RESOURCE_EXHAUSTED,
  [errors.DrainingError.code]: grpcStatus.UNAVAILABLE,
  // Configuration: the message names the bad key.
  [errors.ConfigError.code]: grpcStatus.INVALID_ARGUMENT,
  // ffmpeg and the encoder: the server's own setup, which a retry does not cure.
  [errors.FfmpegNotFoundError.code]: grpcStatus.INTERNAL,
  [errors.FfmpegUnusableError.code]: grpcStatus.INTERNAL,
  [errors.FfmpegExtractError.code]: grpcStatus.INTERNAL,
  [errors.EncoderUnavailableError.code]: grpcStatus.INTERNAL,
  // Publish authentication.
  [errors.AuthUnknownKeyError.code]: grpcStatus.PERMISSION_DENIED,
  [errors.AuthDeniedError.code]: grpcStatus.UNAUTHENTICATED,
  [errors.AuthWebhookDeniedError.code]: grpcStatus.PERMISSION_DENIED,
  [errors.AuthUnavailableError.code]: grpcStatus.UNAVAILABLE,
  [errors.SignUsageError.code]: grpcStatus.INVALID_ARGUMENT,
});

/**
 * Maps a thrown value to a gRPC status: a numeric `grpcCode` is used as is;
 * our errors (a `code` starting `ERR_`, see src/errors.ts) take their status
 * from {@link GRPC_STATUS_OF_ERROR} (INTERNAL for a code not listed) with their
 * message, and the code in the `x-error-code` trailer; anything else is
 * INTERNAL with a generic message, so stray internals do not leak to clients.
 */
export function toGrpcStatus(err: unknown): GrpcStatusObject {
  const metadata = new Metadata();
  if (isObject(err)) {
    const message = typeof err['message'] === 'string' ? err['message'] : '';
    const code = err['code'];
    if (typeof code === 'string' && code.startsWith('ERR_')) metadata.set('x-error-code', code);
    const grpcCode = err['grpcCode'];
    if (typeof grpcCode === 'number' && Number.isInteger(grpcCode) && grpcCode >= 0 && grpcCode <= 16) {
      return { code: grpcCode, details: message, metadata };
    }
    if (typeof code === 'string' && code.startsWith('ERR_')) {
      return { code: GRPC_STATUS_OF_ERROR[code] ?? grpcStatus.INTERNAL, details: message, metadata };
    }
  }
  return { code: grpcStatus.INTERNAL, details: 'internal error', metadata };
}

type AnyHandler = (input: unknown, call: CallContext) => unknown;
type AnyCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerReadableStream<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

function serializer(schema: DescMessage): (value: unknown) => Buffer {
  return (value) => {
    const msg = create(schema, value as MessageInitShape<DescMessage>);
    const bytes = toBinary(schema, msg);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer(schema: DescMessage): (bytes: Buffer) => unknown {
  return (bytes) => fromBinary(schema, bytes);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/**
 * Builds the call context and ties its signal to grpc-js: `cancelled` fires on
 * client cancel, on deadline expiry (grpc-js enforces it) and on a dropped
 * connection; a timer at the deadline is a second guard. The signal, its
 * listener and its timer are made when a handler first reads `signal` (the
 * streaming ones): a unary handler that never looks pays for none of them,
 * and `aborted()` still says, from `call.cancelled` and the deadline, whether
 * its answer came too late (issue 16: an AbortController and a timer per
 * HealthCheck were a third of the adapter's time). `done()` releases the timer
 * and listener.
 */
function contextFor(call: AnyCall): { ctx: CallContext; aborted: () => GrpcStatusError | undefined; done: () => void } {
  const raw = call.getDeadline();
  const ms = raw instanceof Date ? raw.getTime() : raw;
  const deadline = Number.isFinite(ms) ? new Date(ms) : undefined;
  const cancelled = () => new GrpcStatusError(grpcStatus.CANCELLED, 'call cancelled');
  const expired = () => new GrpcStatusError(grpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded');
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  const events: EventEmitter = call;
  const onCancel = () => controller!.abort(cancelled());
  const signal = (): AbortSignal => {
    if (controller !== undefined) return controller.signal;
    controller = new AbortController();
    events.on('cancelled', onCancel);
    if (call.cancelled) onCancel();
    if (deadline !== undefined && !controller.signal.aborted) {
      const left = deadline.getTime() - Date.now();
      if (left <= 0) controller.abort(expired());
      else {
        const c = controller;
        timer = setTimeout(() => c.abort(expired()), left);
        timer.unref();
      }
    }
    return controller.signal;
  };
  const ctx: CallContext = {
    get signal() {
      return signal();
    },
    deadline,
    // Read now: grpc-js answers 'unknown' once the call has ended.
    peer: call.getPeer(),
    metadata: (name) => call.metadata.get(name).map((v) => (typeof v === 'string' ? v : v.toString('utf8'))),
  };
  return {
    ctx,
    aborted: () => {
      if (controller !== undefined) return controller.signal.aborted ? (controller.signal.reason as GrpcStatusError) : undefined;
      if (call.cancelled) return cancelled();
      return deadline !== undefined && Date.now() >= deadline.getTime() ? expired() : undefined;
    },
    done: () => {
      if (timer !== undefined) clearTimeout(timer);
      if (controller !== undefined) events.removeListener('cancelled', onCancel);
    },
  };
}

/** Writes each item of `items` to a grpc-js stream, honouring back-pressure and cancellation, then ends it. */
async function pipeOut(
  items: unknown,
  call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  ctx: CallContext,
): Promise<void> {
  if (!isAsyncIterable(items)) throw new TypeError('streaming handler must return an AsyncIterable');
  for await (const item of items) {
    if (ctx.signal.aborted) return;
    if (!call.write(item)) {
      await new Promise<void>((resolve) => {
        const finish = (): void => {
          call.removeListener('drain', finish);
          ctx.signal.removeEventListener('abort', finish);
          resolve();
        };
        call.once('drain', finish);
        ctx.signal.addEventListener('abort', finish, { once: true });
      });
      if (ctx.signal.aborted) return;
    }
  }
  if (!ctx.signal.aborted) call.end();
}

/**
 * The request stream as an AsyncIterable. Node's default Readable iterator
 * destroys the stream when the loop ends, which for a grpc-js duplex also kills
 * the response side before the status is sent; this one leaves it open.
 */
function requests(call: ServerReadableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>): AsyncIterable<unknown> {
  return { [Symbol.asyncIterator]: () => call.iterator({ destroyOnReturn: false }) };
}

function failStream(call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>, err: unknown) {
  if (call.cancelled) return;
  call.emit('error', toGrpcStatus(err));
}

/** Runs a handler that answers with one message (unary, client streaming) and reports its outcome. */
function answerOnce(
  call: Parameters<typeof contextFor>[0],
  callback: sendUnaryData<unknown>,
  run: (ctx: CallContext) => unknown,
): void {
  const { ctx, aborted, done } = contextFor(call);
  Promise.resolve()
    .then(() => run(ctx))
    .then(
      (res) => {
        const late = aborted();
        if (late !== undefined) callback(toGrpcStatus(late));
        else callback(null, res);
      },
      (err: unknown) => callback(toGrpcStatus(err)),
    )
    .finally(done);
}

function bindHandler(method: DescMethod, handler: AnyHandler): UntypedHandleCall {
  switch (method.methodKind) {
    case 'unary':
      return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
        answerOnce(call, callback, (ctx) => handler(call.request, ctx));
    case 'client_streaming':
      return (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>) =>
        answerOnce(call, callback, (ctx) => handler(requests(call), ctx));
    case 'server_streaming':
      return (call: ServerWritableStream<unknown, unknown>) => {
        const { ctx, done } = contextFor(call);
        Promise.resolve()
          .then(() => pipeOut(handler(call.request, ctx), call, ctx))
          .catch((err: unknown) => failStream(call, err))
          .finally(done);
      };
    case 'bidi_streaming':
      return (call: ServerDuplexStream<unknown, unknown>) => {
        const { ctx, done } = contextFor(call);
        Promise.resolve()
          .then(() => pipeOut(handler(requests(call), ctx), call, ctx))
          .catch((err: unknown) => failStream(call, err))
          .finally(done);
      };
  }
}
