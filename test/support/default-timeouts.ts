/**
 * Preloaded into every test file by the test command (test/run.ts): gives each
 * test and each hook that names no timeout of its own a default one, so that a
 * stuck test fails on its own instead of holding the whole run.
 *
 * Node 20's `--test-timeout` bounds each test *file* when files run in
 * subprocesses, and never bounds hooks; hence this. It rewrites node:test's
 * exports before any test file imports them (syncBuiltinESMExports carries the
 * change over to `import { test } from 'node:test'`).
 *
 * TEST_TIMEOUT_MS sets the default (180 s); a test's own `{ timeout }` wins.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';

const require = createRequire(import.meta.url);
const nodeTest = require('node:test') as Record<string, unknown>;
const timeoutMs = Number(process.env['TEST_TIMEOUT_MS'] ?? 180_000);

type Fn = (...args: unknown[]) => unknown;

/** test/it: (name?, options?, fn?) in any of its forms; adds `timeout` where the options have none. */
function forTests(original: Fn): Fn {
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    const at = args.findIndex((a) => typeof a === 'object' && a !== null);
    if (at !== -1) {
      const options = args[at] as { timeout?: number };
      if (options.timeout === undefined) args[at] = { ...options, timeout: timeoutMs };
    } else {
      const fn = args.findIndex((a) => typeof a === 'function');
      args.splice(fn === -1 ? args.length : fn, 0, { timeout: timeoutMs });
    }
    return original.apply(this, args);
  };
  return Object.assign(wrapped, original); // test.skip, test.only, test.todo
}

/** before/after/beforeEach/afterEach: (fn, options?). */
function forHooks(original: Fn): Fn {
  return function (this: unknown, fn: unknown, options: unknown): unknown {
    const given = (options ?? {}) as { timeout?: number };
    return original.call(this, fn, { ...given, timeout: given.timeout ?? timeoutMs });
  };
}

for (const name of ['test', 'it']) nodeTest[name] = forTests(nodeTest[name] as Fn);
for (const name of ['before', 'after', 'beforeEach', 'afterEach']) nodeTest[name] = forHooks(nodeTest[name] as Fn);
syncBuiltinESMExports();
