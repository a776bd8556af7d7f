import { EventEmitter } from 'node:events';

/** Event name → listener argument tuple. */
export type EventMap = Record<string, unknown[]>;

/**
 * An EventEmitter typed by an event map whose `safeEmit` never lets a throwing
 * listener unwind into the emitter (mediasoup's habit): the error is handed to
 * `onListenerError` instead.
 */
export class TypedEmitter<T extends EventMap> {
  readonly #emitter = new EventEmitter();
  readonly #onListenerError: (err: unknown, event: string) => void;

  constructor(onListenerError: (err: unknown, event: string) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  on<K extends keyof T & string>(event: K, listener: (...args: T[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof T & string>(event: K, listener: (...args: T[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof T & string>(event: K, listener: (...args: T[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Calls every listener; one that throws is reported and the rest still run. */
  safeEmit<K extends keyof T & string>(event: K, ...args: T[K]): void {
    for (const listener of this.#emitter.listeners(event)) {
      try {
        (listener as (...a: T[K]) => void)(...args);
      } catch (err) {
        try {
          this.#onListenerError(err, event);
        } catch {
          // The error reporter itself failed; nothing sensible is left to do.
        }
      }
    }
  }
}
