import { open, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ImagePathError } from './errors.js';

/**
 * Read an image file named relative to `root`. The resolved real path (symlinks followed) must stay inside the
 * real root, so `../` tricks and links pointing out are refused; files over `maxBytes` are refused unread.
 */
export async function readImageFile(root: string | undefined, path: string, maxBytes: number): Promise<Buffer> {
  if (!root) throw new ImagePathError('no-root', 'this server reads no image files (EMBEDDING_IMAGE_ROOT is not set); send the bytes instead');
  if (isAbsolute(path)) throw new ImagePathError('outside-root', `path must be relative to the image root, got ${path}`);
  const realRoot = await realpath(root);
  let real: string;
  try {
    real = await realpath(resolve(realRoot, path));
  } catch (err) {
    throw new ImagePathError('not-found', `no file ${path} under the image root`, { cause: err });
  }
  const rel = relative(realRoot, real);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new ImagePathError('outside-root', `path ${path} leaves the image root`);
  }
  const handle = await open(real, 'r');
  try {
    const stat = await handle.stat();
    const size = stat.size;
    if (!stat.isFile()) throw new ImagePathError('not-found', `${path} is not a file`);
    if (size > maxBytes) throw new ImagePathError('too-large', `${path} has ${size} bytes, more than the limit of ${maxBytes}`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
