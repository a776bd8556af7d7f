import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SystemSampler, type SampleSource, type SamplerClock } from '../../src/metrics/sampler.ts';
import { EMPTY_SAMPLE, SystemMonitor, type GpuReading, type SystemReading } from '../../src/metrics/system.ts';

/** A clock moved by hand; `every` only records the timer. */
function fakeClock(start = 1_000_000): SamplerClock & { t: number; timers: { ms: number; fn: () => void }[]; cancelled: number } {
  const clock = {
    t: start,
    timers: [] as { ms: number; fn: () => void }[],
    cancelled: 0,
    now: () => clock.t,
    every(ms: number, fn: () => void) {
      clock.timers.push({ ms, fn });
      return () => void clock.cancelled++;
    },
  };
  return clock;
}

/** One process using `rate` CPU seconds per second, and a machine `machineRate` busy (0–1); time in seconds from the clock. */
function fakeSource(clock: { t: number }, opts: { rate: () => number; machineRate?: () => number; gpu?: () => Promise<GpuReading> }) {
  let cpu = 0;
  let busy = 0;
  let total = 0;
  let last = clock.t;
  const source: SampleSource & { reads: number; gpuReads: number } = {
    cores: 2,
    reads: 0,
    gpuReads: 0,
    async read(): Promise<SystemReading> {
      source.reads++;
      const dt = (clock.t - last) / 1000;
      last = clock.t;
      cpu += opts.rate() * dt;
      busy += (opts.machineRate?.() ?? 0) * dt * 100;
      total += dt * 100;
      return { atS: clock.t / 1000, startS: clock.t / 1000, cpuS: new Map([['1:1', cpu]]), machine: { busy, total }, rssBytes: 64 * 1024 * 1024, processes: 1 };
    },
    readGpu() {
      source.gpuReads++;
      return opts.gpu?.() ?? Promise.resolve({ gpuPercent: undefined, encoderPercent: undefined, decoderPercent: undefined });
    },
  };
  return source;
}

describe('SystemSampler', () => {
  test('before the first sample: zeros, nothing reported; start() takes one and arms the timer', async () => {
    const clock = fakeClock();
    const sampler = new SystemSampler(fakeSource(clock, { rate: () => 1 }), { clock, periodMs: 1000 });
    assert.equal(sampler.latest(), EMPTY_SAMPLE);
    assert.equal(sampler.sampledAt, undefined);
    await sampler.start();
    assert.equal(sampler.sampledAt, 1_000_000);
    assert.deepEqual(clock.timers.map((t) => t.ms), [1000]);
    assert.equal(sampler.latest().memoryMb, 64);
    sampler.stop();
    assert.equal(clock.cancelled, 1);
  });

  test('CPU over the window, not since the last call; reading latest() measures nothing', async () => {
    const clock = fakeClock();
    let rate = 0.2;
    const source = fakeSource(clock, { rate: () => rate, machineRate: () => rate / 2 });
    const sampler = new SystemSampler(source, { clock, periodMs: 1000, windowMs: 3000 });
    await sampler.tick();
    for (let i = 0; i < 5; i++) {
      clock.t += 1000;
      await sampler.tick();
    }
    assert.ok(Math.abs(sampler.latest().cpuCorePercent - 20) < 1e-9, `${sampler.latest().cpuCorePercent}`);
    assert.ok(Math.abs(sampler.latest().machineCpuPercent! - 10) < 1e-9);
    // A burst of 2 cores for one second moves a 3 s window by a third of it.
    rate = 2;
    clock.t += 1000;
    await sampler.tick();
    assert.ok(Math.abs(sampler.latest().cpuCorePercent - (0.2 * 2 + 2) / 3 * 100) < 1e-9, `${sampler.latest().cpuCorePercent}`);
    assert.ok(Math.abs(sampler.latest().cpuPercent - (0.2 * 2 + 2) / 3 * 50) < 1e-9, 'normalised by the 2 cores');
    const reads = source.reads;
    const a = sampler.latest();
    const b = sampler.latest();
    assert.equal(a, b, 'two calls close together get the same sample');
    assert.equal(source.reads, reads, 'and read nothing');
  });

  test('the GPU is read at most every gpuPeriodMs and a slow nvidia-smi never holds a tick', async () => {
    const clock = fakeClock();
    let release: ((g: GpuReading) => void) | undefined;
    const source = fakeSource(clock, { rate: () => 0, gpu: () => new Promise((resolve) => (release = resolve)) });
    const sampler = new SystemSampler(source, { clock, periodMs: 1000, gpuPeriodMs: 5000 });
    for (let i = 0; i < 8; i++) {
      await sampler.tick();
      clock.t += 1000;
    }
    assert.equal(source.reads, 8, 'every tick sampled while nvidia-smi hung');
    assert.equal(source.gpuReads, 1, 'one GPU reading in flight at a time');
    assert.equal(sampler.latest().gpuEncoderPercent, undefined);
    release!({ gpuPercent: 40, encoderPercent: 70, decoderPercent: 5 });
    await new Promise((r) => setImmediate(r));
    await sampler.tick();
    assert.equal(sampler.latest().gpuEncoderPercent, 70);
    assert.equal(sampler.latest().gpuPercent, 40);
    assert.equal(source.gpuReads, 2, 'the next reading starts once the period has passed');
    clock.t += 1000;
    await sampler.tick();
    assert.equal(source.gpuReads, 2);
  });

  test('a failed reading keeps the previous sample and is reported; overlapping ticks are skipped', async () => {
    const clock = fakeClock();
    const errors: unknown[] = [];
    const source = fakeSource(clock, { rate: () => 0.5 });
    const sampler = new SystemSampler(source, { clock, onError: (e) => errors.push(e) });
    await sampler.tick();
    const before = sampler.latest();
    const read = source.read;
    source.read = async () => {
      throw new Error('EMFILE');
    };
    clock.t += 1000;
    await sampler.tick();
    assert.equal(sampler.latest(), before);
    assert.equal((errors[0] as Error).message, 'EMFILE');
    source.read = read;
    const seen: number[] = [];
    sampler.on('sample', (_s, at) => seen.push(at));
    await Promise.all([sampler.tick(), sampler.tick()]);
    assert.deepEqual(seen, [clock.t]);
  });

  test('over the real /proc: two reads of latest() in a row agree, and the figures are sane', async () => {
    const sampler = new SystemSampler(new SystemMonitor({ nvidiaSmi: false, drmRoot: false }), { periodMs: 50, windowMs: 200 });
    await sampler.start();
    await new Promise((r) => setTimeout(r, 300));
    sampler.stop();
    const s = sampler.latest();
    assert.equal(sampler.latest(), s);
    assert.ok(s.cpuPercent >= 0 && s.cpuPercent <= 100, `${s.cpuPercent}`);
    assert.ok(s.machineCpuPercent !== undefined && s.machineCpuPercent >= 0 && s.machineCpuPercent <= 100);
    assert.ok(s.memoryMb > 10 && s.processes >= 1);
  });
});
