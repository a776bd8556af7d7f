import type { AddressInfo } from 'node:net';
import { parseResolution, type Config } from './config/index.ts';
import pkg from '../package.json' with { type: 'json' };
import { GrpcServer } from './grpc/grpc-server.ts';
import { ModuleServiceHandlers } from './grpc/module-service.ts';
import { HttpServer } from './http/http-server.ts';
import { createMetrics } from './metrics/prometheus.ts';
import { SystemMonitor } from './metrics/system.ts';
import { RtmpServer } from './ingest/rtmp-server.ts';
import type { Logger } from './log.ts';
import { StreamRegistry } from './streams/registry.ts';
import { probeFfmpeg, type FfmpegProbe } from './transcode/ffmpeg-probe.ts';
import { resolveOutputRoot, TranscodeManager } from './transcode/manager.ts';

/** What a running app exposes to main and to tests. */
export interface RunningApp {
  readonly registry: StreamRegistry;
  readonly rtmp: RtmpServer;
  readonly rtmpAddress: AddressInfo;
  /** Present when transcoding is enabled. */
  readonly transcoder: TranscodeManager | undefined;
  readonly http: HttpServer;
  /** CPU, memory and GPU of the service and its ffmpeg children. */
  readonly system: SystemMonitor;
  readonly grpc: GrpcServer;
  readonly grpcPort: number;
  readonly httpAddress: AddressInfo;
  /** The ffmpeg that transcodes, as probed at start (undefined when transcoding is off). */
  readonly ffmpeg: FfmpegProbe | undefined;
  /** When the app started (ms since the epoch), for uptime. */
  readonly startedAt: number;
  /** True once close() has begun. */
  readonly draining: boolean;
  close(): Promise<void>;
}

/**
 * Composition root: the only place that knows the concrete classes and wires
 * them together from the frozen config.
 */
export async function startApp(config: Config, log: Logger): Promise<RunningApp> {
  const startedAt = Date.now();
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
  const maxHeight = parseResolution(config.limits.maxResolution);
  let transcoder: TranscodeManager | undefined;
  const outputRoot = resolveOutputRoot(config.transcode.outputDir);
  let ffmpeg: FfmpegProbe | undefined;
  if (config.transcode.enabled) {
    const ffmpegPath = config.ffmpeg.path || process.env['FFMPEG_PATH'] || 'ffmpeg';
    const why = config.ffmpeg.path ? 'ffmpeg.path' : process.env['FFMPEG_PATH'] ? 'FFMPEG_PATH' : 'PATH';
    ffmpeg = await probeFfmpeg(ffmpegPath);
    if (ffmpeg.ok) log.info({ ffmpeg: ffmpegPath, from: why, version: ffmpeg.version }, 'ffmpeg found');
    else log.error({ ffmpeg: ffmpegPath, from: why, err: ffmpeg.error }, 'no usable ffmpeg: streams are ingested but not transcoded');
    transcoder = new TranscodeManager(
      outputRoot,
      {
        ffmpegPath,
        encoder: 'x264',
        preset: config.transcode.preset,
        segmentSeconds: config.transcode.segmentSeconds,
        windowSegments: config.transcode.windowSegments,
        audioKbps: config.transcode.audioKbps,
        maxBacklogBytes: config.transcode.maxBacklogBytes,
        maxHeight,
        ladder: config.transcode.ladder,
      },
      { lingerMs: config.transcode.lingerSeconds * 1000, quotaBytes: config.transcode.diskQuotaMb * 1024 * 1024 },
      log,
    );
    await transcoder.init();
    const manager = transcoder;
    rtmp.on('session', (session) => manager.attach(session));
  }
  const http = new HttpServer({ host: config.http.host, port: config.http.port, root: outputRoot }, log);
  const system = new SystemMonitor();
  http.route('/metrics', createMetrics({ registry, http, system }).handler);
  const httpAddress = await http.listen();
  const rtmpAddress = await rtmp.listen();
  let closing: Promise<void> | undefined;
  const handlers = new ModuleServiceHandlers({
    version: pkg.version,
    startedAt,
    streams: () => registry.list(),
    totals: () => ({ bytesIn: registry.totalBytesIn, bytesOut: registry.totalBytesOut + http.stats.bytesOut }),
    rtmpListening: () => rtmp.listening,
    ffmpegUsable: () => ffmpeg === undefined || ffmpeg.ok,
    draining: () => closing !== undefined,
    system: () => system.sample(),
    outputDir: transcoder?.root,
  });
  const grpc = new GrpcServer({ host: config.grpc.host, port: config.grpc.port }, handlers, log);
  const grpcPort = await grpc.listen();
  grpc.setReady();
  return {
    ffmpeg,
    startedAt,
    get draining() {
      return closing !== undefined;
    },
    registry,
    rtmp,
    rtmpAddress,
    transcoder,
    http,
    httpAddress,
    system,
    grpc,
    grpcPort,
    close() {
      closing ??= (async () => {
        // Load balancers see NOT_SERVING first, then new publishes are refused, then we stop.
        grpc.drain();
        registry.drain();
        await new Promise((r) => setTimeout(r, config.grpc.drainGraceMs));
        await rtmp.close();
        await transcoder?.close();
        await Promise.all([http.close(), grpc.close()]);
        log.info('stopped');
      })();
      return closing;
    },
  };
}
