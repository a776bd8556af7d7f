/**
 * CPU time and memory of a process tree, read from procfs (proc(5)).
 *
 * A process tree's cumulative CPU is Σ over its live members of
 * utime + stime + cutime + cstime: when a child exits and is reaped, its own
 * time moves into its parent's cutime/cstime, so the sum never loses the CPU of
 * an ffmpeg that finished between two readings.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { parseProcStat, type ProcStat } from '../../src/metrics/system.ts';

/** USER_HZ, the unit of the stat CPU fields. */
export const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const PAGE_SIZE = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096;

interface FullStat extends ProcStat {
  /** cutime + cstime: reaped children, in ticks (fields 16 and 17). */
  childTicks: number;
}

function readStat(pid: number | string): FullStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const base = parseProcStat(text);
  if (base === undefined) return undefined;
  const rest = text.slice(text.lastIndexOf(')') + 2).trim().split(/\s+/);
  return { ...base, childTicks: Number(rest[13]) + Number(rest[14]) };
}

/** `root` and its live descendants. */
function tree(root: number): FullStat[] {
  const all: FullStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(name);
    if (s !== undefined) all.push(s);
  }
  const byParent = new Map<number, FullStat[]>();
  let self: FullStat | undefined;
  for (const s of all) {
    if (s.pid === root) self = s;
    const list = byParent.get(s.ppid);
    if (list === undefined) byParent.set(s.ppid, [s]);
    else list.push(s);
  }
  if (self === undefined) return [];
  const out = [self];
  for (let i = 0; i < out.length; i++) out.push(...(byParent.get(out[i]!.pid) ?? []));
  return out;
}

/** Cumulative CPU seconds of `pid` and its descendants, reaped ones included. */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of tree(pid)) ticks += p.cpuTicks + p.childTicks;
  return ticks / CLOCK_TICKS;
}

/** CPU seconds of `pid` alone (utime + stime), without any child. */
export function ownCpuSeconds(pid: number): number {
  const s = readStat(pid);
  return s === undefined ? 0 : s.cpuTicks / CLOCK_TICKS;
}

/** CPU seconds of the children this process has reaped (cutime + cstime of ourselves). */
export function reapedChildrenCpuSeconds(): number {
  return (readStat(process.pid)?.childTicks ?? 0) / CLOCK_TICKS;
}

/** Resident memory of `pid` and its descendants, in bytes. */
export function treeRssBytes(pid: number): number {
  let pages = 0;
  for (const p of tree(pid)) {
    try {
      pages += Number(readFileSync(`/proc/${p.pid}/statm`, 'utf8').split(' ')[1]) || 0;
    } catch {
      // exited meanwhile
    }
  }
  return pages * PAGE_SIZE;
}

/** Pids of the live descendants of `pid` (not `pid` itself), only those named `comm` when given. */
export function descendants(pid: number, comm?: string): number[] {
  return tree(pid).slice(1).filter((p) => comm === undefined || p.comm === comm).map((p) => p.pid);
}

/** Samples the peak RSS of a tree every `everyMs` until stopped. */
export function peakRss(pid: number, everyMs = 100): { stop(): number } {
  let peak = treeRssBytes(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRssBytes(pid));
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, treeRssBytes(pid));
    },
  };
}

/**
 * Voluntary context switches of `pid`'s tree, all threads: each is a sleep the
 * process chose (a wait in epoll, a futex), so their rate is about its wake-ups.
 */
export function treeWakeups(pid: number): number {
  let n = 0;
  for (const p of tree(pid)) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p.pid}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        const m = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${p.pid}/task/${t}/status`, 'utf8'));
        n += Number(m?.[1] ?? 0);
      } catch {
        // exited meanwhile
      }
    }
  }
  return n;
}
