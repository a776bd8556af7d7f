import { constants, type BigIntStats } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';

/** An open regular file inside the output root, and its metadata from the same descriptor. */
export interface OpenedFile {
  handle: FileHandle;
  stats: BigIntStats;
}

/** Errors that mean "there is nothing servable here" (→ 404), not a server fault. */
const NOT_FOUND_CODES = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'ELOOP', 'EISDIR', 'ENAMETOOLONG', 'ENXIO']);

/** True when a file-system error means the file is simply not servable. */
export function isNotFoundError(err: unknown): boolean {
  return NOT_FOUND_CODES.has((err as NodeJS.ErrnoException | undefined)?.code ?? '');
}

// O_NOFOLLOW: the last component was just resolved, so a symlink swapped in
// after realpath is refused. O_NONBLOCK: opening a planted FIFO must not park a
// libuv thread waiting for a writer; it has no effect on regular files.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * Opens `${rootReal}/${key}/${file}` for reading, all asynchronously. The real
 * path (symlinks resolved) must stay inside `rootReal`, itself a realpath, so a
 * symlink planted in a stream directory that points outside the root is
 * refused; only regular files are returned. `key` and `file` must already be
 * validated names. Returns undefined when there is nothing servable (→ 404);
 * other errors (EMFILE, EIO) are thrown. The caller owns the returned handle.
 */
export async function openStreamFile(rootReal: string, key: string, file: string): Promise<OpenedFile | undefined> {
  let handle: FileHandle | undefined;
  try {
    const real = await realpath(join(rootReal, key, file));
    if (!real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep)) return undefined;
    handle = await open(real, OPEN_FLAGS);
    const stats = await handle.stat({ bigint: true });
    if (!stats.isFile()) {
      await handle.close();
      return undefined;
    }
    return { handle, stats };
  } catch (err) {
    await handle?.close().catch(() => {});
    if (isNotFoundError(err)) return undefined;
    throw err;
  }
}
