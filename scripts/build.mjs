// Builds one bundle per binary into dist/ with esbuild, and the native addons with node-gyp.
// Dependencies stay external: they are installed beside the bundles (node_modules), which keeps
// native modules such as better-sqlite3 loadable.
import { build } from 'esbuild';
import { readdirSync, existsSync, chmodSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';

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
// The client library for other Node programs (package.json "exports"; types from tsc).
await build({
  entryPoints: ['src/client/index.ts'],
  outfile: 'dist/client.js',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
for (const name of entries) chmodSync(join('dist', name.replace(/\.ts$/, '.js')), 0o755);

// Native addons: each folder under native/ with a binding.gyp is built in place, against the
// headers of the Node that runs this script (never downloaded: builds must work offline).
const nodeDir = process.env.npm_config_nodedir || dirname(dirname(process.execPath));
if (!existsSync(join(nodeDir, 'include', 'node', 'node_api.h'))) {
  throw new Error(
    `Node's headers are missing under ${nodeDir}/include/node; set npm_config_nodedir to Node's prefix`,
  );
}
if (existsSync('native')) {
  for (const addon of readdirSync('native')) {
    const dir = join('native', addon);
    if (!existsSync(join(dir, 'binding.gyp'))) continue;
    const target = existsSync(join(dir, 'build', 'Makefile')) ? ['build'] : ['rebuild'];
    execFileSync(
      process.execPath,
      [
        'node_modules/node-gyp/bin/node-gyp.js',
        ...target,
        '--release',
        '--loglevel=warn',
        `--nodedir=${nodeDir}`,
        '-C',
        dir,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
  }
}
