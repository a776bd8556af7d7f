import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ModuleService } from '../gen/marchproxy/module/v1/module_pb.ts';
import { Health } from '../gen/grpc/health/v1/health_pb.ts';
import { ServerReflection as ServerReflectionV1 } from '../gen/grpc/reflection/v1/reflection_pb.ts';
import { ServerReflection as ServerReflectionV1Alpha } from '../gen/grpc/reflection/v1alpha/reflection_pb.ts';
import type { Logger } from '../log.ts';
import { GrpcCode, GrpcStatusError, grpcService } from './adapter.ts';
import { HealthService } from './health.ts';
import { freeSlots } from '../metrics/capacity.ts';
import type { ModuleServiceHandlers } from './module-service.ts';
import { ReflectionService } from './reflection.ts';
import { serviceInPackage } from './service-alias.ts';

/** The ModuleService's full name, as load balancers ask the health service for it. */
export const MODULE_SERVICE_NAME = ModuleService.typeName;

/**
 * The same ModuleService in the package the sibling MarchProxy modules are
 * documented under (the contract names none): served by the same handlers.
 */
export const MODULE_SERVICE_ALIAS = serviceInPackage(ModuleService, 'marchproxy.module');

/** Listener settings and server limits. */
export interface GrpcServerOptions {
  host: string;
  port: number;
  /** Largest request accepted (requests here are all Empty; 1 MiB is generous). */
  maxReceiveMessageBytes?: number;
  /** HTTP/2 streams per connection. */
  maxConcurrentStreams?: number;
  /** Deadline applied to calls that carry none. */
  defaultDeadlineMs?: number;
}

/**
 * The gRPC endpoint: ModuleService (spec "gRPC ModuleService API") under both
 * `marchproxy.module.v1.ModuleService` and `marchproxy.module.ModuleService`,
 * the standard grpc.health.v1.Health for load balancers (NOT_SERVING until
 * ready, while the encoder probe of start-up runs, while draining, and with no
 * stream slot free), and server reflection
 * v1/v1alpha listing both names, so grpcurl and `buf curl` work without proto
 * files. Plaintext, as the spec says (internal network).
 */
export class GrpcServer {
  readonly health = new HealthService({
    '': 'NOT_SERVING',
    [MODULE_SERVICE_NAME]: 'NOT_SERVING',
    [MODULE_SERVICE_ALIAS.typeName]: 'NOT_SERVING',
  });
  readonly #server: Server;
  readonly #options: GrpcServerOptions;
  readonly #log: Logger;
  readonly #handlers: ModuleServiceHandlers;
  #ready = false;
  #draining = false;
  #full = false;
  #starting = false;

  constructor(options: GrpcServerOptions, handlers: ModuleServiceHandlers, log: Logger) {
    this.#options = options;
    this.#log = log;
    this.#handlers = handlers;
    this.#server = new Server({
      'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? 1024 * 1024,
      'grpc.max_concurrent_streams': options.maxConcurrentStreams ?? 100,
    });
    const deadlineMs = options.defaultDeadlineMs ?? 5000;
    // UNAVAILABLE while starting or draining (spec "gRPC Status Codes"); a deadline for every call.
    const guard = <T>(run: () => Promise<T>) => async (): Promise<T> => {
      if (!this.#ready || this.#draining) {
        throw new GrpcStatusError(GrpcCode.UNAVAILABLE, this.#draining ? 'server is draining' : 'server is starting');
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new GrpcStatusError(GrpcCode.DEADLINE_EXCEEDED, `no answer within ${deadlineMs} ms`)), deadlineMs);
      });
      try {
        return await Promise.race([run(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    };
    const moduleImpl = {
      getStatus: guard(() => handlers.getStatus()),
      getRoutes: guard(() => handlers.getRoutes()),
      getMetrics: guard(() => handlers.getMetrics()),
      healthCheck: guard(() => handlers.healthCheck()),
    };
    const module = grpcService(ModuleService, moduleImpl);
    const moduleAlias = grpcService(MODULE_SERVICE_ALIAS, moduleImpl);
    const health = grpcService(Health, this.health.implementation());
    const reflection = new ReflectionService([ModuleService, MODULE_SERVICE_ALIAS, Health]);
    const reflectionV1 = grpcService(ServerReflectionV1, reflection.implementationV1());
    const reflectionV1Alpha = grpcService(ServerReflectionV1Alpha, reflection.implementationV1alpha());
    for (const binding of [module, moduleAlias, health, reflectionV1, reflectionV1Alpha]) {
      this.#server.addService(binding.definition, binding.implementation);
    }
    // No slot left: a new publish would be refused, so load balancers should look elsewhere now.
    // Starting: the encoder is not proven yet, so streams should go elsewhere until it is.
    handlers.onReport((report) => {
      const full = report.capacity !== undefined && freeSlots(report.capacity) === 0;
      if (full === this.#full && report.starting === this.#starting) return;
      this.#full = full;
      this.#starting = report.starting;
      this.#applyHealth();
    });
  }

  /** SERVING once ready, unless starting, draining or full; the same for the server and both service names. */
  #applyHealth(): void {
    const status = this.#ready && !this.#starting && !this.#draining && !this.#full ? 'SERVING' : 'NOT_SERVING';
    for (const name of ['', MODULE_SERVICE_NAME, MODULE_SERVICE_ALIAS.typeName]) this.health.setStatus(name, status);
  }

  /** Binds the port; resolves with it. */
  listen(): Promise<number> {
    const address = `${this.#options.host.includes(':') ? `[${this.#options.host}]` : this.#options.host}:${this.#options.port}`;
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => {
        if (err) {
          reject(err);
          return;
        }
        this.#log.info({ host: this.#options.host, port }, 'gRPC listening');
        resolve(port);
      });
    });
  }

  /**
   * The listeners are up: the ModuleService answers, and health turns SERVING
   * unless the encoder probe still runs or no stream slot is free (judged now).
   * Call {@link ModuleServiceHandlers.report} when the probe ends.
   */
  setReady(): void {
    this.#ready = true;
    this.#handlers.report();
    this.#applyHealth();
  }

  /** SIGTERM step one: NOT_SERVING, so load balancers move away before we stop. */
  drain(): void {
    this.#draining = true;
    this.#applyHealth();
  }

  /** Lets calls in flight finish for up to `graceMs`, then cuts the rest. */
  close(graceMs = 2000): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
