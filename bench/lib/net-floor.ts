/**
 * The Node floor for ingest: a bare `node:net` server that negotiates each
 * publish with proxy-rtmp's pure ServerConnection (handshake, connect,
 * createStream, publish: a few messages), then reads and discards every byte
 * after it, unparsed. Its CPU is what any RTMP server on Node pays to read the
 * same sockets at the same pace, before parsing a chunk.
 *
 * With `--sampler` it also runs proxy-rtmp's SystemSampler as the server
 * does (a /proc reading every second): the idle figures show what that costs.
 *
 * With `--coalesce=MS` (an experiment of issue 18, not in the product) a live
 * publisher's socket is read only on a shared MS timer: each tick starts every
 * such socket reading for one turn of the event loop, so the kernel
 * gathers what arrives between ticks and the process wakes once per tick
 * whatever the number of publishers, at up to MS of added latency.
 *
 *   node net-floor.cjs <port> [--sampler] [--coalesce=MS]   (bundled into bench/.cache by startNodeFloor)
 */
import { createServer } from 'node:net';
import { SystemSampler } from '../../src/metrics/sampler.ts';
import { SystemMonitor } from '../../src/metrics/system.ts';
import { ServerConnection } from '../../src/rtmp/server-connection.ts';

const EMPTY = Buffer.alloc(0);
const port = Number(process.argv[2]);
const options = { app: 'live', chunkSize: 4096, windowAckSize: 5_000_000, decoderLimits: {}, maxResolution: 4320 };

/** libuv's stream handle under a net.Socket (internal, for this experiment only). */
interface StreamHandle {
  readStart(): number;
  readStop(): number;
}
const coalesceMs = Number(process.argv.find((a) => a.startsWith('--coalesce='))?.slice('--coalesce='.length) ?? 0);
const live = new Set<StreamHandle>();
if (coalesceMs > 0) {
  setInterval(() => {
    for (const h of live) h.readStart();
    // Read only in this turn of the loop (the poll phase that follows): a socket still empty
    // must not wake the process before the next tick.
    setImmediate(() => { for (const h of live) h.readStop(); });
  }, coalesceMs);
}

const server = createServer({ noDelay: true }, (socket) => {
  const conn = new ServerConnection(options, () => {});
  let publishing = false;
  const handle = (socket as unknown as { _handle: StreamHandle })._handle;
  socket.on('error', () => {});
  socket.on('close', () => live.delete(handle));
  socket.on('data', (data: Buffer) => {
    if (publishing) {
      if (coalesceMs > 0) handle.readStop();
      return;
    }
    const now = Date.now();
    let result = conn.push(data, now);
    for (;;) {
      for (const bytes of result.out) socket.write(bytes);
      if (result.events.some((e) => e.type === 'error')) {
        socket.destroy();
        return;
      }
      if (result.events.some((e) => e.type === 'publish')) {
        for (const bytes of conn.accept('floor')) socket.write(bytes);
        // From here on: read and discard (what is left of this read included).
        publishing = true;
        if (coalesceMs > 0) live.add(handle);
        return;
      }
      if (!result.paused) return;
      result = conn.push(EMPTY, now);
    }
  });
});
server.listen(port, '127.0.0.1');
if (process.argv.includes('--sampler')) {
  const sampler = new SystemSampler(new SystemMonitor());
  void sampler.start();
  // The sampler's timer is unref'd; the listening server keeps the process alive.
}
process.on('SIGTERM', () => process.exit(0));
