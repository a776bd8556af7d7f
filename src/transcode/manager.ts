import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { StreamSink } from '../media/stream-sink.ts';
import { rebaseFragment } from '../package/mp4/write.ts';
import type { PackagedOutputs } from '../package/outputs.ts';
import { StreamPackager } from '../package/stream-packager.ts';
import type { StreamEntry, StreamSinkFactory } from '../streams/registry.ts';
import { StreamTranscoder, type TranscodeSettings } from './stream-transcoder.ts';

/** Lifetime settings of a stream's packaged output. */
export interface OutputPolicy {
  /** A publisher back within this time continues the same playlists (after a discontinuity). */
  reconnectGraceMs: number;
  /** How long a finished stream stays playable (ENDLIST, static MPD) before it is freed. */
  lingerMs: number;
  /** Segments listed in playlists. */
  windowSegments: number;
  /** Most bytes of media one stream holds. */
  maxBytesPerStream: number;
}

/** Segments kept past the window, for players a little behind. */
const EXTRA_SEGMENTS = 2;

/** One key's output: its packager, and whichever of transcoder, grace or linger holds it now. */
interface Output {
  packager: StreamPackager;
  transcoder: StreamTranscoder | undefined;
  timer: NodeJS.Timeout | undefined;
}

/**
 * One StreamTranscoder per live stream, each feeding the key's StreamPackager,
 * which PackagedOutputs serves. A publisher that comes back within the
 * reconnect grace continues the same packager: the playlists go on after a
 * discontinuity, no 404 in between. After the grace the output ends (ENDLIST,
 * static MPD), lingers, then is freed. Nothing is written to disk.
 */
export class TranscodeManager implements StreamSinkFactory {
  readonly #settings: TranscodeSettings;
  readonly #policy: OutputPolicy;
  readonly #outputs: PackagedOutputs;
  readonly #log: Logger;
  readonly #byKey = new Map<string, Output>();
  readonly #ending = new Set<Promise<void>>();

  constructor(outputs: PackagedOutputs, settings: TranscodeSettings, policy: OutputPolicy, log: Logger) {
    this.#outputs = outputs;
    this.#settings = settings;
    this.#policy = policy;
    this.#log = log;
  }

  /** The transcoder of a live key. */
  get(key: string): StreamTranscoder | undefined {
    return this.#byKey.get(key)?.transcoder;
  }

  /** A published stream's sink: its transcoder, fed directly, packaging into the key's output. */
  open(entry: StreamEntry): StreamSink {
    const output = this.#outputFor(entry.key);
    const transcoder = new StreamTranscoder(entry, output.packager, this.#settings, this.#log);
    output.transcoder = transcoder;
    const log = this.#log;
    return {
      push(message) {
        try {
          transcoder.onMedia(message);
        } catch (err) {
          // A transcoder bug must not take the publisher down.
          log.error({ err, key: entry.key }, 'transcoder failed to take a media message');
        }
      },
      end: () => this.#end(entry.key, transcoder),
    };
  }

  /** The key's output to continue (within the grace, or a transcoder still finishing), else a new one. */
  #outputFor(key: string): Output {
    const existing = this.#byKey.get(key);
    if (existing !== undefined && !existing.packager.ended) {
      clearTimeout(existing.timer);
      existing.timer = undefined;
      existing.transcoder?.kill(); // an ffmpeg still finishing the previous publish: its run is over
      this.#log.info({ key, runs: existing.packager.runs }, 'publisher back within the reconnect grace: the output continues');
      return existing;
    }
    if (existing !== undefined) {
      clearTimeout(existing.timer);
      this.#outputs.delete(existing.packager);
    }
    const packager = new StreamPackager(key, [], {
      segmentSeconds: this.#settings.segmentSeconds,
      partSeconds: this.#settings.partSeconds,
      windowSegments: this.#policy.windowSegments,
      extraSegments: EXTRA_SEGMENTS,
      maxBytes: this.#policy.maxBytesPerStream,
      // Unique in the process and beyond it: no URI of this output was ever served with other bytes.
      instanceId: randomBytes(4).toString('hex'),
      rebaseFragment: (bytes, time, sequence) => rebaseFragment(bytes, time, sequence),
    });
    const output: Output = { packager, transcoder: undefined, timer: undefined };
    this.#byKey.set(key, output);
    this.#outputs.set(packager);
    return output;
  }

  /** At unpublish: ffmpeg finishes (its last fragments packaged), then the grace, the end, the linger. */
  #end(key: string, transcoder: StreamTranscoder): void {
    const ending = transcoder.end().then(() => {
      const output = this.#byKey.get(key);
      if (output === undefined || output.transcoder !== transcoder) return; // published again meanwhile
      output.transcoder = undefined;
      output.timer = setTimeout(() => {
        output.packager.end();
        this.#log.info({ key }, 'stream ended: playlists closed');
        output.timer = setTimeout(() => {
          if (this.#byKey.get(key) !== output) return;
          this.#byKey.delete(key);
          this.#outputs.delete(output.packager);
          this.#log.info({ key }, 'output freed after linger');
        }, this.#policy.lingerMs);
        output.timer.unref();
      }, this.#policy.reconnectGraceMs);
      output.timer.unref();
    });
    this.#ending.add(ending);
    void ending.finally(() => this.#ending.delete(ending));
  }

  /** Ends every transcoder (clean finish first, then kill after `graceMs`) and closes every output. */
  async close(graceMs = 5000): Promise<void> {
    const live = [...this.#byKey.values()].flatMap((o) => (o.transcoder === undefined ? [] : [o.transcoder]));
    const done = Promise.all([...live.map((t) => t.end()), ...this.#ending]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const t of live) t.kill();
    for (const output of this.#byKey.values()) {
      clearTimeout(output.timer);
      output.packager.end();
    }
  }
}
