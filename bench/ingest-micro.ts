/**
 * The ingest path's own JavaScript, without sockets: what one RtmpSession
 * (session adapter, pure ServerConnection, chunk decoder, media classifier,
 * stream figures) costs per socket read and per RTMP message, on the bench's
 * 720p 4 Mbps file chunked as ffmpeg sends it (chunk size 4096) and split into
 * one read per message, about the pattern a realtime publisher gives. No
 * wake-ups, no kernel: set against the realtime CPU per GB of figure 1, it shows
 * how much of that is parsing and how much is I/O.
 *
 *   node --import tsx bench/ingest-micro.ts [--passes 30]
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../src/log.ts';
import { RtmpSession } from '../src/ingest/session.ts';
import { ChunkEncoder } from '../src/rtmp/chunk-encoder.ts';
import { StreamRegistry } from '../src/streams/registry.ts';
import { ClientBytes, clientHandshake } from '../test/support/rtmp-bytes.ts';
import { MemorySocket } from '../test/support/memory-socket.ts';
import { FakeClock } from '../test/support/session-harness.ts';
import { readFlvTags } from './lib/flv-publisher.ts';
import { input, LADDER_SOURCE } from './lib/inputs.ts';

const { values } = parseArgs({ options: { passes: { type: 'string', default: '30' } } });
const log = (line: string) => process.stderr.write(`${line}\n`);
const file = await input(LADDER_SOURCE, log);
const tags = readFlvTags(file.path);

/** Handshake and publish in one read, then one read per FLV tag, chunked at 4096 as ffmpeg does. */
function reads(): Buffer[] {
  const setup = new ClientBytes().raw(2, 1, 0, 0, Buffer.from([0, 0, 0x10, 0])).publish('micro').bytes();
  const encoder = new ChunkEncoder();
  encoder.setChunkSize(4096);
  const csid = { 8: 4, 9: 6, 18: 5 } as const;
  const out: Buffer[] = [Buffer.concat([clientHandshake(), setup])];
  for (const t of tags) out.push(encoder.encode({ csid: csid[t.type], typeId: t.type, streamId: 1, timestamp: t.timestamp, payload: t.body }));
  return out;
}

const OPTIONS = {
  app: 'live', chunkSize: 4096, windowAckSize: 2_500_000, handshakeTimeoutMs: 10_000, idleTimeoutMs: 30_000,
  decoderLimits: { maxChunkSize: 0xffffff, maxMessageSize: 0xffffff, maxChunkStreams: 64, maxBufferedBytes: 32 << 20 },
  maxBitrateBps: 1e12, bitrateWindowMs: 5000, maxResolution: 2160,
};
const logger = createLogger({ level: 'silent', format: 'json' });
const input_ = reads();
const bytes = input_.reduce((a, b) => a + b.length, 0);
let sunk = 0;

/** One publish of the whole file through a fresh session; the clock moves 33 ms per read. */
function pass(): void {
  const clock = new FakeClock();
  const registry = new StreamRegistry({ maxStreams: 4, bitrateWindowMs: 5000, now: () => clock.now(), sinks: { open: () => ({ push: () => void sunk++, end: () => {} }) } });
  const socket = new MemorySocket(false);
  new RtmpSession(1, socket.socket, OPTIONS, registry, logger, undefined, clock);
  for (const data of input_) {
    clock.advance(33);
    socket.emit('data', data);
  }
  if (socket.destroyed) throw new Error('the session closed during the pass');
  socket.destroy();
}

for (let i = 0; i < 5; i++) pass(); // warm-up: JIT
const passes = Number(values.passes);
sunk = 0;
const c0 = process.cpuUsage();
for (let i = 0; i < passes; i++) pass();
const c = process.cpuUsage(c0);
const cpuS = (c.user + c.system) / 1e6;
const messages = sunk / passes;
process.stdout.write(`${passes} passes of ${(bytes / 1e6).toFixed(1)} MB, ${input_.length} reads, ${messages} media messages each: `
  + `${((cpuS / passes / input_.length) * 1e6).toFixed(2)} µs per read, ${(cpuS / (passes * bytes / 1e9)).toFixed(3)} CPU-s per GB `
  + `(${((cpuS / passes / (file.seconds)) * 1000).toFixed(3)} ms of CPU per second of a ${file.videoKbps} kbps stream)\n`);
