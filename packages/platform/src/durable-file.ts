import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Makes a directory entry change (create, rename, unlink) durable: without it a power loss can undo a
 * rename even though the renamed file's data was synced.
 */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes one file's content durable (fsync). */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` with `data` so that, even after a crash, a reader sees the old content or all of the new,
 * never a mix: write a temp file beside it, fsync, rename over, fsync the directory. A failed write leaves
 * the old file and no temp file behind.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = `${path}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await rename(temp, path);
  await syncDirectory(dirname(path));
}
