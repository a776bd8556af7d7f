import type { AddressInfo } from 'node:net';
import { parseResolution, type Config } from './config/index.ts';
import { RtmpServer } from './ingest/rtmp-server.ts';
import type { Logger } from './log.ts';
import { StreamRegistry } from './streams/registry.ts';

/** What a running app exposes to main and to tests. */
export interface RunningApp {
  readonly registry: StreamRegistry;
  readonly rtmp: RtmpServer;
  readonly rtmpAddress: AddressInfo;
  close(): Promise<void>;
}

/**
 * Composition root: the only place that knows the concrete classes and wires
 * them together from the frozen config.
 */
export async function startApp(config: Config, log: Logger): Promise<RunningApp> {
  const registry = new StreamRegistry({
    maxStreams: config.limits.maxStreams,
    bitrateWindowMs: config.limits.bitrateWindowMs,
    onListenerError: (err, event) => log.error({ err, event }, 'registry listener failed'),
  });
  registry.on('refused', (reason, detail) => {
    log.debug({ reason, key: detail.key, peer: detail.peer }, 'refusal counted');
  });
  const rtmp = new RtmpServer(
    {
      host: config.rtmp.host,
      port: config.rtmp.port,
      app: config.rtmp.app,
      chunkSize: config.rtmp.chunkSize,
      windowAckSize: config.rtmp.windowAckSize,
      handshakeTimeoutMs: config.rtmp.handshakeTimeoutMs,
      idleTimeoutMs: config.rtmp.idleTimeoutMs,
      decoderLimits: {
        maxChunkSize: config.rtmp.maxIncomingChunkSize,
        maxMessageSize: config.rtmp.maxMessageSize,
        maxChunkStreams: config.rtmp.maxChunkStreams,
        maxBufferedBytes: config.rtmp.maxBufferedBytes,
      },
      maxBitrateBps: config.limits.maxBitrateMbps * 1e6,
      bitrateWindowMs: config.limits.bitrateWindowMs,
      maxResolution: parseResolution(config.limits.maxResolution),
    },
    registry,
    log,
  );
  const rtmpAddress = await rtmp.listen();
  let closing: Promise<void> | undefined;
  return {
    registry,
    rtmp,
    rtmpAddress,
    close() {
      closing ??= (async () => {
        registry.drain();
        await rtmp.close();
        log.info('stopped');
      })();
      return closing;
    },
  };
}
