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
 *   node net-floor.cjs <port> [--sampler]   (bundled into bench/.cache by startNodeFloor)
 */
import { createServer } from 'node:net';
import { SystemSampler } from '../../src/metrics/sampler.ts';
import { SystemMonitor } from '../../src/metrics/system.ts';
import { ServerConnection } from '../../src/rtmp/server-connection.ts';

const EMPTY = Buffer.alloc(0);
const port = Number(process.argv[2]);
const options = { app: 'live', chunkSize: 4096, windowAckSize: 5_000_000, decoderLimits: {}, maxResolution: 4320 };

const server = createServer({ noDelay: true }, (socket) => {
  const conn = new ServerConnection(options, () => {});
  let live = false;
  socket.on('error', () => {});
  socket.on('data', (data: Buffer) => {
    if (live) return;
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
        live = true;
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
