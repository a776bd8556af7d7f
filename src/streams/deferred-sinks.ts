import type { MediaMessage } from '../media/media-message.ts';
import type { SinkEndReason, StreamSink } from '../media/stream-sink.ts';
import type { StreamEntry, StreamSinkFactory } from './registry.ts';

/** Configuration messages are replayed in this order: metadata (frame rate, bitrate) first, then the sequence headers. */
const CONFIG_ORDER = [18, 9, 8] as const;

/**
 * Stream sinks for a factory that is not there yet. The encoder probe runs
 * after the listeners open (app.ts), and a publish may arrive before it ends:
 * the publish is accepted at once, and its sink keeps the stream's
 * configuration (the latest metadata and sequence headers) and the media
 * since the latest video keyframe, at most `maxBufferedBytes` of it (past
 * that, nothing until the next keyframe). When {@link resolve} gives the real
 * factory (the transcode manager), each waiting stream's real sink is opened
 * and fed what was kept, in order, so its transcoder starts at that keyframe;
 * from then on messages go straight through. A stream that ends first never
 * reaches the factory.
 */
export class DeferredSinks implements StreamSinkFactory {
  readonly #maxBufferedBytes: number;
  readonly #waiting = new Set<WaitingSink>();
  #factory: StreamSinkFactory | undefined;

  constructor(options: { maxBufferedBytes: number }) {
    this.#maxBufferedBytes = options.maxBufferedBytes;
  }

  /** Streams published before {@link resolve}, still live and waiting. */
  get waiting(): number {
    return this.#waiting.size;
  }

  open(entry: StreamEntry): StreamSink {
    if (this.#factory !== undefined) return this.#factory.open(entry);
    const sink: WaitingSink = new WaitingSink(entry, this.#maxBufferedBytes, () => this.#waiting.delete(sink));
    this.#waiting.add(sink);
    return sink;
  }

  /** The real factory: every waiting stream is opened on it now, every later publish directly. Once only. */
  resolve(factory: StreamSinkFactory): void {
    if (this.#factory !== undefined) throw new Error('DeferredSinks.resolve called twice');
    this.#factory = factory;
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const sink of waiting) sink.attach(factory);
  }
}

/** One stream's sink until the factory comes: what it kept, then the real sink. */
class WaitingSink implements StreamSink {
  readonly #entry: StreamEntry;
  readonly #maxBytes: number;
  readonly #gone: () => void;
  readonly #config = new Map<number, MediaMessage>();
  #gop: MediaMessage[] = [];
  #bytes = 0;
  #real: StreamSink | undefined;
  #ended = false;

  constructor(entry: StreamEntry, maxBytes: number, gone: () => void) {
    this.#entry = entry;
    this.#maxBytes = maxBytes;
    this.#gone = gone;
  }

  push(message: MediaMessage): void {
    if (this.#real !== undefined) {
      this.#real.push(message);
      return;
    }
    if (this.#ended) return;
    // The payload may be a view of a socket buffer: keep a copy.
    const kept: MediaMessage = { ...message, payload: Buffer.from(message.payload) };
    if (message.config) {
      this.#config.set(message.typeId, kept);
      return;
    }
    const keyframe = message.typeId === 9 && message.keyframe;
    if (keyframe) {
      this.#gop = [];
      this.#bytes = 0;
    } else if (this.#gop.length === 0) {
      return; // before the first keyframe, or past the limit: of no use to a transcoder that starts at a keyframe
    }
    this.#bytes += kept.payload.length;
    if (this.#bytes > this.#maxBytes) {
      this.#gop = [];
      return;
    }
    this.#gop.push(kept);
  }

  end(reason: SinkEndReason): void {
    if (this.#real !== undefined) {
      this.#real.end(reason);
      return;
    }
    this.#ended = true;
    this.#config.clear();
    this.#gop = [];
    this.#gone();
  }

  /** Opens the real sink and feeds it what was kept. */
  attach(factory: StreamSinkFactory): void {
    if (this.#ended) return;
    const real = factory.open(this.#entry);
    for (const typeId of CONFIG_ORDER) {
      const message = this.#config.get(typeId);
      if (message !== undefined) real.push(message);
    }
    for (const message of this.#gop) real.push(message);
    this.#config.clear();
    this.#gop = [];
    this.#real = real;
  }
}
