/**
 * Locates a native addon built by node-gyp (native/<name>/build/Release/<name>.node) from the
 * running file, whether that is a source file under src/ or a bundle under dist/.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

/** The absolute path of addon `name`, or undefined when it was not built. */
export function findNativeAddon(name: string): string | undefined {
  const fromEnvironment = process.env[`THREEFS_NATIVE_${name.toUpperCase()}`];
  if (fromEnvironment !== undefined && existsSync(fromEnvironment)) return fromEnvironment;
  let directory = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    const candidate = join(directory, 'native', name, 'build', 'Release', `${name}.node`);
    if (existsSync(candidate)) return candidate;
    directory = dirname(directory);
  }
  return undefined;
}

/** Loads addon `name`; throws a clear error naming the build step when it is missing. */
export function loadNativeAddon(name: string): unknown {
  const path = findNativeAddon(name);
  if (path === undefined) {
    throw new Error(`native addon "${name}" is not built: run "npm run build" (native/${name})`);
  }
  return require(path) as unknown;
}
