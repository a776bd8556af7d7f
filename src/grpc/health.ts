/**
 * The standard gRPC health service, grpc.health.v1.Health
 * (grpc/doc/health-checking.md): Check, List and Watch over a table of
 * per-service statuses that the application updates with `setStatus`.
 *
 * The empty service name `""` is the server as a whole; like grpc-go's health
 * server it starts SERVING. Bind with
 * `grpcService(Health, health.implementation())` from ./adapter.ts.
 */
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '../gen/grpc/health/v1/health_pb.ts';
import { GrpcCode, GrpcStatusError, type CallContext, type ServiceImpl } from './adapter.ts';

/** A status the application can set; `SERVICE_UNKNOWN` forgets the service. */
export type HealthStatus = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** health-checking.md: List answers RESOURCE_EXHAUSTED above this many services. */
const LIST_LIMIT = 100;

/** Health table plus the Health service implementation. */
export class HealthService {
  #statuses = new Map<string, ServingStatus>();
  #watchers = new Set<(service: string) => void>();

  /** `initial` defaults to the whole server (`""`) SERVING. */
  constructor(initial: Record<string, HealthStatus> = { '': 'SERVING' }) {
    for (const [service, status] of Object.entries(initial)) this.setStatus(service, status);
  }

  /** Records `service`'s status and wakes every Watch on it (health-checking.md, "Watch"). */
  setStatus(service: string, status: HealthStatus): void {
    if (status === 'SERVICE_UNKNOWN') this.#statuses.delete(service);
    else this.#statuses.set(service, status === 'SERVING' ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    for (const wake of this.#watchers) wake(service);
  }

  /** The current status as Watch reports it (unknown services are SERVICE_UNKNOWN). */
  statusOf(service: string): ServingStatus {
    return this.#statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
  }

  /** The handlers for grpc.health.v1.Health. */
  implementation(): ServiceImpl<typeof Health> {
    return {
      check: async (req) => {
        const status = this.#statuses.get(req.service);
        if (status === undefined) throw new GrpcStatusError(GrpcCode.NOT_FOUND, `unknown service "${req.service}"`);
        return { status };
      },
      list: async () => {
        if (this.#statuses.size > LIST_LIMIT) {
          throw new GrpcStatusError(GrpcCode.RESOURCE_EXHAUSTED, `more than ${LIST_LIMIT} services`);
        }
        const statuses: Record<string, { status: ServingStatus }> = {};
        for (const [service, status] of this.#statuses) statuses[service] = { status };
        return { statuses };
      },
      watch: (req, call) => this.#watch(req.service, call),
    };
  }

  /** Sends the current status, then each change, until the call ends. */
  async *#watch(service: string, call: CallContext): AsyncGenerator<{ status: ServingStatus }> {
    let changed = true;
    let wake: (() => void) | undefined;
    const onChange = (name: string): void => {
      if (name !== service) return;
      changed = true;
      wake?.();
    };
    const onAbort = (): void => wake?.();
    this.#watchers.add(onChange);
    call.signal.addEventListener('abort', onAbort);
    try {
      let last: ServingStatus | undefined;
      while (!call.signal.aborted) {
        if (changed) {
          changed = false;
          const status = this.statusOf(service);
          if (status !== last) {
            last = status;
            yield { status };
            continue;
          }
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      this.#watchers.delete(onChange);
      call.signal.removeEventListener('abort', onAbort);
    }
  }
}
