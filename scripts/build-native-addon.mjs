// Builds a package's node-gyp addon unless it is newer than its sources. Shared by the packages with native
// code (packages/vector-index, packages/datasets): each has a scripts/build-native.mjs that names its addon and
// sources and calls this. Uses this Node's own headers when they are installed next to it, so that node-gyp never
// tries to download them.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Rebuilds `<root>/build/Release/<addon>.node` when it is missing, older than binding.gyp, a file of
 * `<root>/native` or one of `extraSources`, or when `force`. Returns whether it built.
 */
export function buildAddon({ root, addon, extraSources = [], force = false }) {
  const file = join(root, 'build', 'Release', `${addon}.node`);
  const sources = [join(root, 'binding.gyp'), ...extraSources, ...readdirSync(join(root, 'native')).map((f) => join(root, 'native', f))];
  if (!force && existsSync(file)) {
    const built = statSync(file).mtimeMs;
    if (sources.every((source) => statSync(source).mtimeMs <= built)) return false;
  }
  const args = ['rebuild', '--release', '-j', 'max'];
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node.h'))) args.push(`--nodedir=${prefix}`);
  const gyp = process.env.npm_config_node_gyp ?? findNodeGyp(root);
  try {
    execFileSync(process.execPath, [gyp, ...args], { cwd: root, stdio: 'pipe' });
  } catch (error) {
    process.stderr.write(error.stdout ?? '');
    process.stderr.write(error.stderr ?? '');
    throw new Error(`node-gyp failed to build ${file}`, { cause: error });
  }
  return true;
}

/** The addon's path, for messages. */
export function addonPath(root, addon) {
  return join(root, 'build', 'Release', `${addon}.node`);
}

// npm ships node-gyp; outside `npm run` locate the copy inside npm itself.
function findNodeGyp(root) {
  const require = createRequire(join(root, 'package.json'));
  const candidates = [
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.unshift(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a package; fall back to npm's copy
  }
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error('node-gyp not found; install it or run this through `npm run build:native`');
  return found;
}
