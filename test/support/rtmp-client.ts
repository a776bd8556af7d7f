import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChunkDecoder, type RawMessage } from '../../src/rtmp/chunk-decoder.ts';
import { ChunkEncoder } from '../../src/rtmp/chunk-encoder.ts';
import { command, decodeCommand, type Command } from '../../src/rtmp/command.ts';
import type { OutgoingMessage } from '../../src/rtmp/control.ts';
import type { AmfValue } from '../../src/rtmp/amf0.ts';
import { HANDSHAKE_SIZE } from '../../src/rtmp/handshake.ts';

/**
 * A minimal RTMP publisher for tests: plain handshake, then commands and media
 * built with our own encoder, and every command the server sends collected.
 * It lets tests see exact onStatus codes and send hostile bytes on purpose.
 */
export class TestRtmpClient {
  readonly socket: Socket;
  readonly commands: Command[] = [];
  readonly messages: RawMessage[] = [];
  #decoder = new ChunkDecoder({ maxChunkStreams: 1000 });
  #encoder = new ChunkEncoder();
  #handshakeLeft = 1 + 2 * HANDSHAKE_SIZE;
  #closed: Promise<void>;
  #waiters: (() => void)[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    // Not events.once: it rejects on 'error', and a reset by the server is an expected way to close.
    this.#closed = new Promise<void>((resolve) => socket.once('close', () => resolve())).then(() => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.#onData(data));
  }

  static async open(port: number, host = '127.0.0.1'): Promise<TestRtmpClient> {
    const socket = connect({ port, host });
    await once(socket, 'connect');
    return new TestRtmpClient(socket);
  }

  /** Opens a socket and completes the plain handshake. */
  static async handshake(port: number): Promise<TestRtmpClient> {
    const client = await TestRtmpClient.open(port);
    const c1 = randomBytes(HANDSHAKE_SIZE);
    c1.writeUInt32BE(0, 4);
    client.socket.write(Buffer.concat([Buffer.from([3]), c1]));
    await client.waitFor(() => client.#handshakeLeft === 0, 'S0S1S2');
    client.socket.write(randomBytes(HANDSHAKE_SIZE));
    return client;
  }

  /** Handshake + connect + createStream; resolves with the stream id. */
  static async connected(port: number, app = 'live'): Promise<{ client: TestRtmpClient; streamId: number }> {
    const client = await TestRtmpClient.handshake(port);
    const result = await client.call('connect', { app, type: 'nonprivate', flashVer: 'FMLE/3.0', tcUrl: `rtmp://127.0.0.1:${port}/${app}` });
    if (result.name !== '_result') throw new Error(`connect answered ${result.name}`);
    const created = await client.call('createStream', null);
    return { client, streamId: created.args[0] as number };
  }

  #txid = 1;

  /** Sends a command and waits for its _result/_error. */
  async call(name: string, obj: AmfValue, ...args: AmfValue[]): Promise<Command> {
    const txid = this.#txid++;
    this.send(command(name, txid, obj, args));
    await this.waitFor(() => this.commands.some((c) => c.transactionId === txid && (c.name === '_result' || c.name === '_error')), `${name} result`);
    return this.commands.find((c) => c.transactionId === txid && (c.name === '_result' || c.name === '_error'))!;
  }

  /** Sends publish and waits for the first onStatus on that stream. */
  async publish(streamId: number, name: AmfValue): Promise<{ code: string; level: string; description: string; status?: number }> {
    const before = this.statuses().length;
    this.send({ ...command('publish', 0, null, [name, 'live']), streamId, csid: 8 });
    await this.waitFor(() => this.statuses().length > before || this.closed, 'publish status');
    const s = this.statuses()[before];
    if (s === undefined) throw new Error('closed without a status');
    return s;
  }

  statuses(): { code: string; level: string; description: string; status?: number }[] {
    return this.commands
      .filter((c) => c.name === 'onStatus' || c.name === '_error')
      .map((c) => c.args[0] as { code: string; level: string; description: string; status?: number });
  }

  send(message: OutgoingMessage): void {
    this.socket.write(this.#encoder.encode(message));
  }

  write(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }

  /** Sends a message whose chunks use `size`, after telling the server. */
  setChunkSize(size: number): void {
    const body = Buffer.alloc(4);
    body.writeUInt32BE(size);
    this.send({ csid: 2, typeId: 1, streamId: 0, timestamp: 0, payload: body });
    this.#encoder.setChunkSize(size);
  }

  #onData(data: Buffer): void {
    if (this.#handshakeLeft > 0) {
      const take = Math.min(this.#handshakeLeft, data.length);
      this.#handshakeLeft -= take;
      data = data.subarray(take);
    }
    if (data.length > 0) {
      for (const m of this.#decoder.push(data)) {
        this.messages.push(m);
        if (m.typeId === 20) this.commands.push(decodeCommand(20, m.payload));
      }
    }
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  async waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      if (this.closed && !predicate()) {
        await sleep(10);
        if (!predicate()) throw new Error(`connection closed while waiting for ${what}`);
        return;
      }
      await Promise.race([new Promise<void>((r) => this.#waiters.push(r)), sleep(50)]);
    }
  }

  /** Resolves when the server closes the connection (rejects after timeoutMs). */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    await Promise.race([
      this.#closed,
      sleep(timeoutMs).then(() => {
        throw new Error('connection still open');
      }),
    ]);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
