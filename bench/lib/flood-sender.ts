/**
 * A flood publisher much faster than any server under test, so that the
 * server is the bottleneck (one `ffmpeg -stream_loop k -c copy` is not: it
 * tops out near 160 MB/s on this machine, whatever the server).
 *
 * It runs as its own process (bundled into bench/.cache by floodPublish), so
 * its CPU is neither the bench's nor the server's. It does the handshake,
 * connect, createStream and publish with the test suite's RTMP client, then
 * writes a pre-serialized RTMP chunk stream of the FLV file's tags: every
 * message as one type 0 chunk and type 3 continuations at the chunk size it
 * announced (4096 by default, as ffmpeg does, so the server parses as many
 * chunks as it would from ffmpeg). The file is looped like `-stream_loop`:
 * metadata and sequence headers once, then the coded frames again and again
 * with timestamps that keep increasing (each pass offset by the previous
 * one's length), written as fast as the socket takes them (awaiting 'drain').
 *
 * At the end it sends a createStream command and waits for its _result: RTMP
 * is in order, so the answer proves the server read and parsed every byte
 * before it, and the clock stops there (bytes that only sit in socket buffers
 * do not count). `--no-sync` skips that for a server that stops parsing after
 * the publish (the Node floor); the clock then stops when the last byte is in
 * the kernel. It also announces a Window Acknowledgement Size, so servers
 * that honour it acknowledge what they received; the highest such count is
 * reported too.
 *
 *   node flood-sender.cjs <port> <key> <file.flv> <bytes> [--chunk-size=4096] [--no-sync]
 *
 * Prints one JSON line: { bytes, seconds, acked, senderCpuSeconds, chunkSize }
 * or { error } (exit code 1) when the publish is refused, the connection is
 * closed before the end, or the server does not answer.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { decodeAcknowledgement } from '../../src/rtmp/messages/acknowledgement.ts';
import { TestRtmpClient } from '../../test/support/rtmp-client.ts';
import { readFlvTags } from './flv-publisher.ts';
import { passes, shift, type Pass } from './flood-stream.ts';

/** Writes `head`, then passes of `body` (timestamps shifted by `period` each) until `total` bytes; resolves with the bytes written. */
async function pump(socket: Socket, head: Buffer, body: Pass, period: number, total: number): Promise<number> {
  let closed = false;
  socket.once('close', () => (closed = true));
  const drained = () => new Promise<void>((resolve) => {
    const done = () => { socket.off('drain', done); socket.off('close', done); resolve(); };
    socket.once('drain', done);
    socket.once('close', done);
  });
  // A fresh copy per pass. (Reusing copies once write's callback says they left was 6× slower
  // here, sys time mostly; not looked into.)
  let sent = head.length;
  socket.write(head);
  for (let pass = 0; sent < total && !closed; pass++) {
    const bytes = shift(Buffer.from(body.bytes), body, pass * period);
    sent += bytes.length;
    if (!socket.write(bytes)) await drained();
  }
  if (closed) throw new Error(`the server closed the connection after ${(sent / 1e6).toFixed(0)} MB were written`);
  return sent;
}

/** The sender's own ceiling: the same chunk stream, no handshake, to a plain sink (`nc -l PORT > /dev/null`). */
async function raw(port: number, tags: ReturnType<typeof readFlvTags>, chunkSize: number, total: number): Promise<void> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  const { head, body, period } = passes(tags, 1, chunkSize);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const sent = await pump(socket, head, body, period, total);
  await new Promise<void>((resolve) => socket.end(resolve));
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`${JSON.stringify({ bytes: sent, seconds: (performance.now() - t0) / 1000, acked: 0, senderCpuSeconds: (cpu.user + cpu.system) / 1e6, chunkSize, synced: false })}\n`);
  socket.destroy();
}

async function main(): Promise<void> {
  const [portArg, key, file, bytesArg] = process.argv.slice(2);
  if (portArg === undefined || key === undefined || file === undefined || bytesArg === undefined) throw new Error('usage: flood-sender <port> <key> <file.flv> <bytes> [--chunk-size=N] [--no-sync]');
  const chunkSize = Number(process.argv.find((a) => a.startsWith('--chunk-size='))?.slice(13) ?? 4096);
  const sync = !process.argv.includes('--no-sync');
  const total = Number(bytesArg);

  const tags = readFlvTags(file);
  if (process.argv.includes('--raw')) return raw(Number(portArg), tags, chunkSize, total);
  const { client, streamId } = await TestRtmpClient.connected(Number(portArg));
  // Window Acknowledgement Size (type 5): ask the server to acknowledge every 5 MB it reads.
  const window = Buffer.alloc(4);
  window.writeUInt32BE(5_000_000);
  client.send({ csid: 2, typeId: 5, streamId: 0, timestamp: 0, payload: window });
  client.setChunkSize(chunkSize);
  const status = await client.publish(streamId, key);
  if (status.code !== 'NetStream.Publish.Start') throw new Error(`publish answered ${status.code}: ${status.description}`);

  const { head, body, period } = passes(tags, streamId, chunkSize);
  const socket = client.socket;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const sent = await pump(socket, head, body, period, total);
  if (sync) {
    // In order: its _result means the server parsed every byte written before it.
    await client.call('createStream', null).catch((err: Error) => {
      throw new Error(`no answer after the flood (${err.message})`);
    });
  } else {
    await new Promise<void>((resolve) => (socket.writableLength === 0 ? resolve() : socket.once('drain', () => resolve())));
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  let acked = 0;
  for (const m of client.messages) if (m.typeId === 3) acked = Math.max(acked, decodeAcknowledgement(m.payload));
  if (client.closed) throw new Error('the server closed the connection at the end of the flood');
  process.stdout.write(`${JSON.stringify({ bytes: sent, seconds, acked, senderCpuSeconds: (cpu.user + cpu.system) / 1e6, chunkSize, synced: sync })}\n`);
  client.destroy();
}

main().catch((err: Error) => {
  process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
  process.exit(1);
});
