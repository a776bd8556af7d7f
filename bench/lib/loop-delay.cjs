// Bench-only preload (`node --require bench/lib/loop-delay.cjs …`): measures the process's
// event-loop delay (perf_hooks, 1 ms resolution) and its GC pauses. Each SIGUSR2 writes one
// line to stderr with the figures since the previous SIGUSR2 (or the start), then resets:
//   LOOP-DELAY {"p50":…,"p99":…,"max":…,"gcCount":…,"gcMs":…,"gcMaxMs":…}   (ms)
// SIGUSR2, not SIGUSR1: Node starts its inspector on SIGUSR1.
'use strict';
const { monitorEventLoopDelay, PerformanceObserver } = require('node:perf_hooks');

const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
let gc = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gc.push(entry.duration);
}).observe({ entryTypes: ['gc'] });
process.on('SIGUSR2', () => {
  const line = {
    p50: loop.percentile(50) / 1e6,
    p99: loop.percentile(99) / 1e6,
    max: loop.max / 1e6,
    gcCount: gc.length,
    gcMs: gc.reduce((a, b) => a + b, 0),
    gcMaxMs: Math.max(0, ...gc),
  };
  process.stderr.write(`LOOP-DELAY ${JSON.stringify(line)}\n`);
  loop.reset();
  gc = [];
});
