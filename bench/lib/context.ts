/** What every bench section gets, and the figures it hands back. */
import type { Input } from './inputs.ts';

/** Shared state of one bench run. */
export interface BenchContext {
  /** Smaller amounts and fewer repetitions, for iterating (figures are noisier). */
  quick: boolean;
  /** Progress lines, on stderr. */
  log(line: string): void;
  /** proxy-rtmp's esbuild bundle, freshly built from src/. */
  bundlePath: string;
  ladderSource: Input;
  ingestSource: Input;
  /** The ffmpeg that transcodes, for proxy-rtmp (RTMP_FFMPEG_PATH) and for the bare-ffmpeg floor alike. */
  ffmpeg: { path: string; version: string };
  /** Ingest only: just the flood rows at one publisher (the fast sender and ffmpeg), no realtime or idle runs. */
  floodOnly?: boolean;
  /** An older build of proxy-rtmp (a bundle) measured beside the current one in the ingest rows. */
  baselineBundle?: string;
  /** Glass to glass only: the players (`hls`, `dash`) and part durations to measure; default all. */
  players?: readonly string[];
  parts?: readonly number[];
  /** Peers found (or installed) for this run. */
  peers: { nginx: boolean; nms: boolean };
}

/** One section's figures: a Markdown table plus notes. */
export interface SectionResult {
  title: string;
  /** Header row then rows; every cell already formatted. */
  table: string[][];
  notes: string[];
  /** Further tables of the section. */
  extra?: { title: string; table: string[][] }[];
}

/** Renders a table as GitHub Markdown. */
export function markdownTable(rows: readonly string[][]): string {
  const [head, ...body] = rows;
  if (head === undefined) return '';
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...body.map(line)].join('\n');
}
