import type { AddressInfo } from 'node:net';
import { parseResolution, type Config } from './config/index.ts';
import pkg from '../package.json' with { type: 'json' };
import { createAuth } from './auth/setup.ts';
import { GrpcServer } from './grpc/grpc-server.ts';
import { ModuleServiceHandlers } from './grpc/module-service.ts';
import { HttpServer } from './http/http-server.ts';
import type { Metrics } from './metrics/prometheus.ts';
import { restartTally } from './metrics/restart-tally.ts';
import { SystemSampler } from './metrics/sampler.ts';
import { SystemMonitor } from './metrics/system.ts';
import { RtmpServer } from './ingest/rtmp-server.ts';
import type { Logger } from './log.ts';
import { hasCode } from './errors.ts';
import { defaultCacheDir, locateFfmpeg, type FfmpegBinary, type FfmpegLocation } from './ffmpeg/locate.ts';
import { describeDetection, detectEncoder, type EncoderDetection } from './ffmpeg/encoders.ts';
import { DeferredSinks } from './streams/deferred-sinks.ts';
import { StreamRegistry } from './streams/registry.ts';
import type { FfmpegProbe } from './transcode/ffmpeg-probe.ts';
import { TranscodeManager } from './transcode/manager.ts';
import { PackagedOutputs } from './package/outputs.ts';
import { ConfigError } from './errors.ts';

/** What a running app exposes to main and to tests. */
export interface RunningApp {
  readonly registry: StreamRegistry;
  readonly rtmp: RtmpServer;
  readonly rtmpAddress: AddressInfo;
  /** Present when transcoding is enabled, once the encoder probe has ended. */
  readonly transcoder: TranscodeManager | undefined;
  /** Every stream's packaged output (HLS, DASH), served from memory. */
  readonly outputs: PackagedOutputs;
  readonly http: HttpServer;
  /** CPU, memory and GPU of the service and its ffmpeg children, sampled once a second. */
  readonly system: SystemSampler;
  readonly grpc: GrpcServer;
  readonly grpcPort: number;
  readonly httpAddress: AddressInfo;
  /** The ffmpeg that transcodes, as probed at start (undefined when transcoding is off, and until the probe ends). */
  readonly ffmpeg: FfmpegProbe | undefined;
  /** The start-up encoder detection (undefined when transcoding is off or no ffmpeg was found, and until the probe ends). */
  readonly encoder: EncoderDetection<FfmpegBinary> | undefined;
  /**
   * The encoder probe, run in the background once the listeners are up:
   * resolves when it has ended (at once with transcoding off), rejects with
   * what makes start-up fail (ERR_FFMPEG_UNUSABLE, ERR_ENCODER_UNAVAILABLE).
   */
  readonly probed: Promise<void>;
  /** True while the probe runs: health says `starting`, grpc.health NOT_SERVING. */
  readonly starting: boolean;
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
  // Publish/playback authentication and per-address limits; auth.log names streams by key id when keys are credentials.
  // Stream keys appear in output URLs (/streams/<key>/…) only: nothing is written to disk.
  const auth = createAuth(config, log, '/streams', pkg.version);
  const maxHeight = parseResolution(config.limits.maxResolution);
  if (config.transcode.partSeconds > config.transcode.segmentSeconds) {
    throw new ConfigError(`transcode.partSeconds (${config.transcode.partSeconds}) must not exceed transcode.segmentSeconds (${config.transcode.segmentSeconds})`);
  }
  let transcoder: TranscodeManager | undefined;
  const outputs = new PackagedOutputs({ lowLatency: config.transcode.lowLatency });
  let ffmpeg: FfmpegProbe | undefined;
  let detection: EncoderDetection<FfmpegBinary> | undefined;
  // The encoder probe runs once the listeners are up; a publish that comes first is accepted and waits for it here.
  const pending = config.transcode.enabled ? new DeferredSinks({ maxBufferedBytes: config.transcode.maxBacklogBytes }) : undefined;
  const stopProbe = new AbortController();
  /** Finds ffmpeg, proves the encoder by test encodes, then opens the transcoder to the streams waiting for it. */
  const probe = async (): Promise<void> => {
    // A broken ffmpeg.path / FFMPEG_PATH throws (ERR_FFMPEG_UNUSABLE: start-up fails); nothing found at all
    // leaves ingest running without transcoding, and health reports ffmpeg unusable.
    let location: FfmpegLocation | undefined;
    try {
      location = await locateFfmpeg({ configPath: config.ffmpeg.path, cacheDir: config.ffmpeg.cacheDir || defaultCacheDir(process.env) });
      const { chosen } = location;
      log.info({ path: chosen.path, source: chosen.source, version: chosen.version, attempts: location.attempts }, 'ffmpeg chosen');
    } catch (err) {
      if (!hasCode(err, 'ERR_FFMPEG_NOT_FOUND')) throw err;
      log.error({ err }, 'no usable ffmpeg: streams are ingested but not transcoded');
      ffmpeg = { ok: false, binary: 'ffmpeg', error: (err as Error).message };
    }
    // The encoder, proven by test encodes, may pick an alternative binary; a forced one that fails throws ERR_ENCODER_UNAVAILABLE.
    if (location !== undefined) {
      detection = await detectEncoder({
        mode: config.ffmpeg.encoder,
        binaries: location,
        ladder: config.transcode.ladder,
        maxHeight,
        preset: config.transcode.preset,
        segmentSeconds: config.transcode.segmentSeconds,
        vaapiDevice: config.ffmpeg.vaapiDevice,
        timeoutMs: config.ffmpeg.probeTimeoutMs,
        log,
        signal: stopProbe.signal,
      });
    }
    stopProbe.signal.throwIfAborted();
    const binary = detection?.chosen?.ffmpeg ?? location?.chosen;
    const ffmpegPath = binary?.path ?? 'ffmpeg';
    if (binary !== undefined) ffmpeg = { ok: true, binary: ffmpegPath, version: binary.version };
    transcoder = new TranscodeManager(
      outputs,
      {
        ffmpegPath,
        encoder: detection?.chosen?.encoder ?? 'x264',
        ...(detection?.chosen?.vaapiDevice === undefined ? {} : { vaapiDevice: detection.chosen.vaapiDevice }),
        preset: config.transcode.preset,
        segmentSeconds: config.transcode.segmentSeconds,
        partSeconds: config.transcode.partSeconds,
        audioKbps: config.transcode.audioKbps,
        maxBacklogBytes: config.transcode.maxBacklogBytes,
        passthrough: config.transcode.passthrough,
        maxHeight,
        ladder: config.transcode.ladder,
      },
      {
        reconnectGraceMs: config.transcode.reconnectGraceSeconds * 1000,
        lingerMs: config.transcode.lingerSeconds * 1000,
        windowSegments: config.transcode.windowSegments,
        maxBytesPerStream: config.transcode.memoryPerStreamMb * 1024 * 1024,
      },
      auth.log,
    );
    if (pending!.waiting > 0) log.info({ streams: pending!.waiting }, 'encoder proven: transcoding the streams published meanwhile');
    pending!.resolve(transcoder);
  };
  const registry = new StreamRegistry({
    maxStreams: config.limits.maxStreams,
    bitrateWindowMs: config.limits.bitrateWindowMs,
    // Published media goes straight to the stream's transcoder (once the encoder is proven).
    ...(pending === undefined ? {} : { sinks: pending }),
    onListenerError: (err, event) => log.error({ err, event }, 'registry listener failed'),
  });
  registry.on('refused', (reason, detail) => {
    auth.log.debug({ reason, key: detail.key, peer: detail.peer }, 'refusal counted');
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
    auth.log,
    { ...(auth.authorizer === undefined ? {} : { authorizer: auth.authorizer }), gate: auth.limiter },
  );
  const http = new HttpServer({ host: config.http.host, port: config.http.port }, auth.log, {
    ...(auth.playback === undefined ? {} : { playback: auth.playback }),
    outputs: {
      get: (key, file, request) =>
        outputs.request(key, file, {
          search: request.search,
          token: request.token,
          // DASH UTCTiming: the clock of this very server, as the player reached it.
          timeUrl: `http://${request.host ?? `${config.http.host}:${config.http.port}`}/time`,
        }),
    },
  });
  const system = new SystemSampler(new SystemMonitor(), { onError: (err) => log.warn({ err }, 'system sample failed') });
  await system.start();
  const ffmpegRestarts = restartTally(registry);
  // prom-client is loaded once the listeners are up, not before (issue 16: its evaluation and the
  // default collectors were 10–40 ms of start-up); a scrape that comes first waits for it.
  let metrics: Promise<Metrics> | undefined;
  const loadMetrics = (): Promise<Metrics> =>
    (metrics ??= import('./metrics/prometheus.ts').then(({ createMetrics }) =>
      createMetrics({
        registry,
        http,
        system,
        maxStreams: config.limits.maxStreams,
        ffmpegRestarts,
        authFailures: () => auth.failures.list(),
        connectionsRefused: () => auth.limiter.refused,
      }),
    ));
  http.route('/metrics', async (req, res) => (await loadMetrics()).handler(req, res));
  // The clock DASH players synchronise with (urn:mpeg:dash:utc:http-iso:2014), instead of a public time server.
  http.route('/time', (_req, res) => {
    const body = new Date().toISOString();
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': body.length });
    res.end(body);
  });
  const httpAddress = await http.listen();
  const rtmpAddress = await rtmp.listen();
  let closing: Promise<void> | undefined;
  let probing = pending !== undefined;
  const handlers = new ModuleServiceHandlers({
    version: pkg.version,
    startedAt,
    streams: () => registry.list(),
    totals: () => ({ bytesIn: registry.totalBytesIn, bytesOut: registry.totalBytesOut + http.stats.bytesOut }),
    rtmpListening: () => rtmp.listening,
    ffmpegUsable: () => ffmpeg === undefined || ffmpeg.ok,
    encoder: () => (detection === undefined ? undefined : { summary: describeDetection(detection), usable: detection.chosen !== undefined }),
    draining: () => closing !== undefined,
    starting: () => probing,
    system,
    maxStreams: config.limits.maxStreams,
    outputDir: undefined,
  });
  const grpc = new GrpcServer({ host: config.grpc.host, port: config.grpc.port }, handlers, log);
  const grpcPort = await grpc.listen();
  grpc.setReady();
  // process.uptime(): from the process's own start, so the figure does not depend on who measures it.
  // cpuMs: this process's CPU time so far, a start-up figure that a busy machine's scheduling does not inflate.
  const cpu = process.cpuUsage();
  log.info({ sinceStartMs: Math.round(process.uptime() * 1000), cpuMs: Math.round((cpu.user + cpu.system) / 1000), probing: pending !== undefined }, 'listeners up');
  void loadMetrics();
  const probed =
    pending === undefined
      ? Promise.resolve()
      : probe().then(
          () => {
            probing = false;
            handlers.report(); // health turns SERVING now, not at the next sample
          },
          (err: unknown) => {
            probing = false;
            if (closing !== undefined) return; // stopped while probing: nothing to start
            throw err;
          },
        );
  // main reports a failed probe; one that nobody awaits must not end the process as unhandled.
  probed.catch(() => {});
  return {
    get ffmpeg() {
      return ffmpeg;
    },
    get encoder() {
      return detection;
    },
    probed,
    get starting() {
      return probing;
    },
    startedAt,
    get draining() {
      return closing !== undefined;
    },
    registry,
    rtmp,
    rtmpAddress,
    get transcoder() {
      return transcoder;
    },
    outputs,
    http,
    httpAddress,
    system,
    grpc,
    grpcPort,
    close() {
      closing ??= (async () => {
        // Load balancers see NOT_SERVING first, then new publishes are refused, then we stop.
        stopProbe.abort(new Error('the server is stopping'));
        grpc.drain();
        registry.drain();
        await new Promise((r) => setTimeout(r, config.grpc.drainGraceMs));
        await rtmp.close();
        await auth.close();
        await transcoder?.close();
        await Promise.all([http.close(), grpc.close()]);
        system.stop();
        log.info('stopped');
      })();
      return closing;
    },
  };
}
