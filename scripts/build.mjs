// Builds one bundle per binary into dist/ with esbuild, and the native addons with node-gyp.
// Dependencies stay external: they are installed beside the bundles (node_modules), which keeps
// native modules such as better-sqlite3 loadable.
import { build } from 'esbuild';
import { readdirSync, existsSync, chmodSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const binDir = 'src/bin';
const entries = readdirSync(binDir).filter((name) => name.endsWith('.ts'));

await build({
  entryPoints: entries.map((name) => join(binDir, name)),
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: true,
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
for (const name of entries) chmodSync(join('dist', name.replace(/\.ts$/, '.js')), 0o755);

// Native addons: each folder under native/ with a binding.gyp is built in place.
if (existsSync('native')) {
  for (const addon of readdirSync('native')) {
    const dir = join('native', addon);
    if (!existsSync(join(dir, 'binding.gyp'))) continue;
    const target = existsSync(join(dir, 'build', 'Makefile')) ? ['build'] : ['rebuild'];
    execFileSync('node', ['node_modules/node-gyp/bin/node-gyp.js', ...target, '--release', '-C', dir], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
}
