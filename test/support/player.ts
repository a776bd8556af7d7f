import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The players' scripts, as npm installed them. */
const SCRIPTS: Record<string, string> = {
  '/hls.js': `${ROOT}node_modules/hls.js/dist/hls.min.js`,
  '/dash.js': `${ROOT}node_modules/dashjs/dist/modern/umd/dash.all.min.js`,
};

/** What a page saw of its player. */
export interface PlayerState {
  /** The video's currentTime. */
  time: number;
  /** Seconds of wall clock the video has been advancing through since it first played. */
  played: number;
  /** 'waiting' events after the first 'playing'. */
  stalls: number;
  /** For each stall: ms after the first 'playing', and the buffer ahead of currentTime then (s; -1 when none). */
  stallTimes: [number, number][];
  /** Fatal player errors and media element errors, as text. */
  errors: string[];
  /** Every non-fatal error, as text. */
  warnings: string[];
  started: boolean;
  ended: boolean;
}

const PAGE = `<!doctype html><meta charset=utf-8><video id=v muted autoplay playsinline></video>
<script src="/hls.js"></script><script src="/dash.js"></script>
<script>
const s = window.__state = { time: 0, played: 0, stalls: 0, stallTimes: [], errors: [], warnings: [], started: false, ended: false };
const v = document.getElementById('v');
let last = undefined;
let startedAt = 0;
v.addEventListener('playing', () => { if (!s.started) startedAt = performance.now(); s.started = true; });
const ahead = () => { const b = v.buffered; for (let i = 0; i < b.length; i++) if (b.start(i) <= v.currentTime + 0.05 && v.currentTime < b.end(i)) return +(b.end(i) - v.currentTime).toFixed(2); return -1; };
v.addEventListener('waiting', () => { if (s.started) { s.stalls++; s.stallTimes.push([Math.round(performance.now() - startedAt), ahead()]); } });
v.addEventListener('ended', () => { s.ended = true; });
v.addEventListener('error', () => s.errors.push('media element: ' + (v.error && v.error.message)));
setInterval(() => {
  if (last !== undefined && v.currentTime > last) s.played += 0.25;
  last = v.currentTime; s.time = v.currentTime;
}, 250);
window.play = (kind, url, config) => {
  if (kind === 'hls') {
    const h = window.__player = new Hls(config || {});
    h.on(Hls.Events.ERROR, (_e, d) => (d.fatal ? s.errors : s.warnings).push(d.type + ':' + d.details));
    h.loadSource(url); h.attachMedia(v);
    v.play().catch(() => {});
  } else {
    const p = window.__player = dashjs.MediaPlayer().create();
    if (config) p.updateSettings(config);
    p.on('error', (e) => s.errors.push('dash: ' + JSON.stringify(e.error || e).slice(0, 300)));
    // dash.js plays by itself (autoplay): a play() of ours before it listens would hide PLAYBACK_STARTED
    // from it, and it would never refresh the manifest.
    p.initialize(v, url, true);
  }
};
</script>`;

/** Headless Debian Chromium (playwright-core) playing HLS with hls.js or DASH with dash.js. */
export class BrowserPlayer {
  readonly #browser: Browser;
  readonly #server: Server;
  readonly #base: string;

  private constructor(browser: Browser, server: Server, base: string) {
    this.#browser = browser;
    this.#server = server;
    this.#base = base;
  }

  static async launch(): Promise<BrowserPlayer> {
    const server = createServer((req, res) => {
      const script = SCRIPTS[req.url ?? ''];
      if (script !== undefined) {
        res.writeHead(200, { 'Content-Type': 'text/javascript' });
        createReadStream(script).pipe(res);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(PAGE);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      timeout: 30_000,
      // As this machine's notes say: no sandbox as root, and nothing that reaches for the network.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
    });
    return new BrowserPlayer(browser, server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  }

  /** Opens a page playing `url` with hls.js (`hls`) or dash.js (`dash`), optionally configured. */
  async play(kind: 'hls' | 'dash', url: string, config?: object): Promise<Playback> {
    const page = await this.#browser.newPage();
    await page.goto(this.#base);
    await page.evaluate(([k, u, c]) => (globalThis as unknown as { play: (...a: unknown[]) => void }).play(k, u, c), [kind, url, config] as const);
    return new Playback(page);
  }

  async close(): Promise<void> {
    await this.#browser.close().catch(() => {});
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** One page's playback. */
export class Playback {
  readonly page: Page;
  constructor(page: Page) {
    this.page = page;
  }

  state(): Promise<PlayerState> {
    return this.page.evaluate(() => (globalThis as unknown as { __state: PlayerState }).__state);
  }

  /** Polls until `predicate` holds, or throws naming `what` with the last state. */
  async until(predicate: (s: PlayerState) => boolean, what: string, timeoutMs: number): Promise<PlayerState> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.state();
      if (predicate(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; player state ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  close(): Promise<void> {
    return this.page.close().catch(() => {});
  }
}
