/**
 * What the test suite needs that `npm install` cannot bring: the one list,
 * read by the test command (test/run.ts), which installs it with apt when it
 * can and otherwise stops at once naming each missing piece. `.ci/run` only
 * calls the test command, so there is no second list.
 *
 * Publishers use ffmpeg-static's ffmpeg (test/support/ffmpeg.ts): what is
 * here is only what no npm package ships.
 */

/** One thing a test needs: an executable on the PATH, or a GStreamer element. */
export interface Requirement {
  readonly kind: 'tool' | 'gst-element';
  readonly name: string;
  /** The Debian/Ubuntu package that brings it. */
  readonly aptPackage: string;
  /** What needs it, for the message when it is missing. */
  readonly usedFor: string;
}

const tool = (name: string, aptPackage: string, usedFor: string): Requirement => ({ kind: 'tool', name, aptPackage, usedFor });
const gst = (name: string, aptPackage: string): Requirement => ({
  kind: 'gst-element',
  name,
  aptPackage,
  usedFor: 'GStreamer publishers (test/e2e/publishers.test.ts)',
});

export const REQUIREMENTS: readonly Requirement[] = [
  tool('ffprobe', 'ffmpeg', 'playing the HLS/DASH output (ffmpeg-static ships no ffprobe)'),
  tool('ffmpeg', 'ffmpeg', "the system ffmpeg 5.1 the server may pick beside ffmpeg-static's 4.2.1 (test/ffmpeg)"),
  tool('gst-launch-1.0', 'gstreamer1.0-tools', 'GStreamer publishers (test/e2e/publishers.test.ts)'),
  tool('gst-inspect-1.0', 'gstreamer1.0-tools', 'finding the GStreamer elements below'),
  gst('videotestsrc', 'gstreamer1.0-plugins-base'),
  gst('audiotestsrc', 'gstreamer1.0-plugins-base'),
  gst('flvmux', 'gstreamer1.0-plugins-good'),
  gst('aacparse', 'gstreamer1.0-plugins-good'),
  gst('x264enc', 'gstreamer1.0-plugins-ugly'),
  gst('h264parse', 'gstreamer1.0-plugins-bad'),
  gst('voaacenc', 'gstreamer1.0-plugins-bad'),
  gst('rtmpsink', 'gstreamer1.0-plugins-bad'),
  gst('rtmp2sink', 'gstreamer1.0-plugins-bad'),
  tool('chromium', 'chromium', 'playing HLS and DASH in hls.js and dash.js, headless (test/support/player.ts)'),
  tool('nginx', 'nginx', 'a caching reverse proxy in front of proxy-rtmp, as a CDN edge (test/e2e/low-latency.test.ts)'),
  tool('promtool', 'prometheus', 'checking the /metrics exposition (test/metrics, test/auth)'),
  tool('systemd-analyze', 'systemd', 'verifying the systemd unit (test/appliance)'),
  tool('python3', 'python3', 'the sd_notify socket listener (test/appliance)'),
  tool('dash', 'dash', 'checking install.sh is POSIX sh (test/appliance)'),
];

/** What is there: executables found on the PATH and the GStreamer elements installed. */
export interface Inventory {
  readonly tools: ReadonlySet<string>;
  readonly gstElements: ReadonlySet<string>;
}

/** The requirements the inventory does not meet, in list order. */
export function missingRequirements(requirements: readonly Requirement[], have: Inventory): Requirement[] {
  return requirements.filter((r) => !(r.kind === 'tool' ? have.tools : have.gstElements).has(r.name));
}

/** The apt packages that bring `missing`, each once, in list order. */
export function aptPackages(missing: readonly Requirement[]): string[] {
  return [...new Set(missing.map((r) => r.aptPackage))];
}

/** The shell command that installs `missing` on Debian or Ubuntu. */
export function installCommand(missing: readonly Requirement[], asRoot: boolean): string {
  const sudo = asRoot ? '' : 'sudo ';
  return `${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${aptPackages(missing).join(' ')}`;
}

/**
 * The one message printed when the tests cannot start: each missing piece, the
 * command that installs them all, and why the test command did not run it.
 */
export function missingMessage(missing: readonly Requirement[], why: string, asRoot: boolean): string {
  const width = Math.max(...missing.map((r) => label(r).length));
  return [
    `npm test: ${missing.length} thing(s) the tests need are not installed, and npm cannot bring them:`,
    ...missing.map((r) => `  ${label(r).padEnd(width)}  (Debian/Ubuntu package ${r.aptPackage}): ${r.usedFor}`),
    'Install them with:',
    `  ${installCommand(missing, asRoot)}`,
    `then run npm test again. It installs them itself when it runs as root (or with passwordless sudo) where apt works; here ${why}.`,
  ].join('\n');
}

function label(r: Requirement): string {
  return r.kind === 'tool' ? r.name : `GStreamer element ${r.name}`;
}

/** The element names in `gst-inspect-1.0`'s listing ("plugin:  element: description" lines). */
export function parseGstInspectList(text: string): Set<string> {
  const elements = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^[\w.-]+:\s+([\w.-]+):\s/.exec(line);
    if (m !== null) elements.add(m[1]!);
  }
  return elements;
}
