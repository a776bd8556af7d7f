/** What the tally reads of the stream registry (a StreamRegistry satisfies it). */
export interface RestartSource {
  list(): readonly { readonly transcode: { readonly restarts: number } | undefined }[];
  on(event: 'unpublish', listener: (entry: { readonly transcode: { readonly restarts: number } | undefined }) => void): unknown;
}

/**
 * ffmpeg restarts over every stream since start, ended streams included: the
 * restarts of each stream as it ends, plus those of the live streams now.
 * A restart during an ended stream's linger (after unpublish) is not seen.
 */
export function restartTally(source: RestartSource): () => number {
  let ended = 0;
  source.on('unpublish', (entry) => {
    ended += entry.transcode?.restarts ?? 0;
  });
  return () => source.list().reduce((sum, s) => sum + (s.transcode?.restarts ?? 0), ended);
}
