/**
 * The README's test command (`npm test`): sees to the suite's prerequisites,
 * type-checks, then runs every test file with a per-test timeout.
 *
 * 1. What npm cannot install (test/prerequisites.ts) is looked for on the PATH.
 *    Missing pieces are installed with apt when this runs as root, or with
 *    passwordless sudo, where apt-get exists; otherwise, or when that fails,
 *    one message names each missing piece and the command that installs it,
 *    and the run stops within seconds instead of failing test after test.
 * 2. `tsc -p tsconfig.json`.
 * 3. `node --test`, one file at a time. Each test and hook that sets no
 *    timeout of its own gets TEST_TIMEOUT_MS (default 180 s; see
 *    test/support/default-timeouts.ts), each file TEST_FILE_TIMEOUT_MS (default
 *    10 min) and the whole run TEST_RUN_LIMIT_MS (default 30 min): nothing can
 *    hang.
 *
 * `npm test -- test/rtmp test/media/avc.test.ts` runs only those files or folders.
 * PROXY_RTMP_TEST_INSTALL=0 forbids installing (then a missing piece stops the run).
 */
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { whichOnPath } from '../src/ffmpeg/locate.ts';
import {
  REQUIREMENTS,
  aptPackages,
  missingMessage,
  missingRequirements,
  parseGstInspectList,
  type Inventory,
  type Requirement,
} from './prerequisites.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FILE_TIMEOUT_MS = Number(process.env['TEST_FILE_TIMEOUT_MS'] ?? 10 * 60_000);
const RUN_LIMIT_MS = Number(process.env['TEST_RUN_LIMIT_MS'] ?? 30 * 60_000);
/** apt must not sit for minutes on a network it cannot reach. */
const APT_NETWORK = ['-o', 'Acquire::Retries=0', '-o', 'Acquire::http::Timeout=20', '-o', 'Acquire::https::Timeout=20'];

/** What is installed now: each required tool on the PATH, and GStreamer's elements. */
async function inventory(): Promise<Inventory> {
  const tools = new Set<string>();
  const names = [...new Set(REQUIREMENTS.filter((r) => r.kind === 'tool').map((r) => r.name))];
  await Promise.all(names.map(async (name) => {
    if (await whichOnPath(name, process.env['PATH'])) tools.add(name);
  }));
  let gstElements = new Set<string>();
  if (tools.has('gst-inspect-1.0')) {
    const list = spawnSync('gst-inspect-1.0', [], { encoding: 'utf8', timeout: 30_000, maxBuffer: 16 << 20 });
    gstElements = parseGstInspectList(list.stdout ?? '');
  }
  return { tools, gstElements };
}

/** Runs a command to its end with a bound; returns its exit code (null: killed) and its last output. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; tail: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (d: Buffer): void => {
      out = (out + d.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      out += `\n(killed: still running after ${timeoutMs / 1000} s)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, tail: String(err) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, tail: out.trim().split('\n').slice(-8).join('\n') });
    });
  });
}

/** Installs `missing` with apt, or says why it cannot (undefined: it worked). */
async function aptInstall(missing: Requirement[], asRoot: boolean): Promise<string | undefined> {
  if (process.env['PROXY_RTMP_TEST_INSTALL'] === '0') return 'PROXY_RTMP_TEST_INSTALL=0 forbids installing';
  if (!(await whichOnPath('apt-get', process.env['PATH']))) return 'there is no apt-get on the PATH';
  if (!asRoot) {
    if (!(await whichOnPath('sudo', process.env['PATH']))) return 'this is not root and there is no sudo';
    if (spawnSync('sudo', ['-n', 'true'], { timeout: 10_000 }).status !== 0) return 'this is not root and sudo asks for a password';
  }
  const packages = aptPackages(missing);
  console.log(`npm test: installing with apt what the tests need and npm cannot bring: ${packages.join(' ')}`);
  const apt = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...APT_NETWORK];
  const exec = (args: string[], ms: number) => (asRoot ? run(apt[0]!, [...apt.slice(1), ...args], ms) : run('sudo', ['-n', ...apt, ...args], ms));
  const started = Date.now();
  const update = await exec(['update', '-qq'], 180_000);
  if (update.code !== 0) return `apt-get update failed (exit ${update.code}):\n${indent(update.tail)}`;
  const install = await exec(['install', '-y', '-qq', '--no-install-recommends', ...packages], 900_000);
  if (install.code !== 0) return `apt-get install failed (exit ${install.code}):\n${indent(install.tail)}`;
  console.log(`npm test: installed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return undefined;
}

const indent = (text: string): string => text.split('\n').map((l) => `    ${l}`).join('\n');

/** Every *.test.ts under the given files or folders (default: test/), sorted. */
function testFiles(roots: string[]): string[] {
  const found: string[] = [];
  const walk = (path: string): void => {
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path)) walk(join(path, name));
    } else if (path.endsWith('.test.ts')) {
      found.push(relative(ROOT, path));
    }
  };
  for (const root of roots.length > 0 ? roots : ['test']) walk(join(ROOT, root));
  return [...new Set(found)].sort();
}

/** Runs a child with inherited output and the whole-run bound; resolves with its exit code. */
function inherit(cmd: string, args: string[], deadline: number, what: string, options: SpawnOptions = {}): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit', cwd: ROOT, ...options });
    const timer = setTimeout(() => {
      console.error(`npm test: ${what} still running after TEST_RUN_LIMIT_MS=${RUN_LIMIT_MS} ms; stopping it`);
      child.kill('SIGKILL');
    }, Math.max(0, deadline - Date.now()));
    child.on('error', (err) => {
      clearTimeout(timer);
      console.error(`npm test: could not start ${what}: ${err.message}`);
      resolve(1);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

async function main(): Promise<number> {
  const deadline = Date.now() + RUN_LIMIT_MS;
  const asRoot = process.getuid?.() === 0;
  let missing = missingRequirements(REQUIREMENTS, await inventory());
  if (missing.length > 0) {
    const cannot = await aptInstall(missing, asRoot);
    if (cannot === undefined) missing = missingRequirements(REQUIREMENTS, await inventory());
    if (missing.length > 0) {
      console.error(missingMessage(missing, cannot ?? 'apt installed them but they are still not found on this PATH', asRoot));
      return 1;
    }
  }

  const tsc = await inherit(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], deadline, 'tsc');
  if (tsc !== 0) return tsc;

  const files = testFiles(process.argv.slice(2));
  if (files.length === 0) {
    console.error('npm test: no *.test.ts file found');
    return 1;
  }
  return inherit(process.execPath, [
    '--import', 'tsx',
    '--import', './test/support/default-timeouts.ts',
    '--test',
    '--test-concurrency=1',
    // In Node 20 this bounds each file; the per-test bound is default-timeouts.ts's.
    `--test-timeout=${FILE_TIMEOUT_MS}`,
    // No --test-force-exit: on Node 20 it ends a file's process before its
    // report is flushed, and the run then counts tests at random (1,246 to
    // 1,263 here). A file that leaves a handle open is bounded by the file
    // timeout above and fails, naming itself.
    ...files,
  ], deadline, 'the test run');
}

process.exitCode = await main();
