// Proves that the NixOS module evaluates for a configuration enabling every service and for the
// README's configuration, and that what it renders passes each service's own validator: on real
// nixpkgs (nix-instantiate with a nixpkgs on NIX_PATH) its settings, and on the offline evaluator
// (nix-eval, a stand-in nixpkgs beside the repository) the rendered TOML files under /etc/3fs.
// Each way skips, saying why, where it is not available; under CI=true at least one must be. The
// README's configuration evaluated is the one the README shows. Clients of the file system get
// `token_file` exactly when their tokenFile is set, and never a path in the Nix store.
import { type SpawnSyncReturns, execFileSync, spawnSync } from 'node:child_process';
import { constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { parseConfig } from '../../../src/common/config.js';
import { adminConfigSchema } from '../../../src/admin/admin-config.js';
import { mgmtdConfigSchema } from '../../../src/mgmtd/config.js';
import { metaConfigSchema } from '../../../src/meta/config.js';
import { storageConfigSchema } from '../../../src/storage/config.js';
import { fuseConfigSchema } from '../../../src/fuse/config.js';
import { collectorConfigSchema } from '../../../src/monitor/config.js';
import { nfsConfigSchema } from '../../../src/nfs/config.js';
import { s3ConfigSchema } from '../../../src/s3/config.js';
import { skipWithout } from '../../helpers/requirements.js';
import { findSharedFile } from '../../helpers/shared-tools.js';

const root = resolve(import.meta.dirname, '../../..');
const allServicesConfig = 'tests/nixos/eval-all-services.nix';
const readmeConfig = 'tests/nixos/eval-readme.nix';

/** Each service's validator, by the name of its rendered file. */
const schemas: Record<string, z.ZodType> = {
  admin: adminConfigSchema,
  mgmtd: mgmtdConfigSchema,
  meta: metaConfigSchema,
  storage: storageConfigSchema,
  monitor: collectorConfigSchema,
  fuse: fuseConfigSchema,
  nfs: nfsConfigSchema,
  s3: s3ConfigSchema,
};

/** Whether `command` runs here with `args` and exits 0. */
function runs(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore', timeout: 30_000 }).status === 0;
}

/** Why real nixpkgs cannot evaluate the module here, or undefined when it can. */
function nixpkgsMissing(): string | undefined {
  if (runs('nix-instantiate', ['--eval', '-E', '<nixpkgs/lib>'])) return undefined;
  return 'nix-instantiate with a nixpkgs on NIX_PATH is not available here';
}

/** The offline evaluator's directory, beside the project or beside its origin (shared-tools.ts). */
const nixEvalScript = findSharedFile('nix-eval/nix-eval-module.sh', constants.X_OK);
const nixEval = nixEvalScript === undefined ? undefined : dirname(nixEvalScript);

/** Why the offline evaluator cannot run here, or undefined when it can. */
function nixEvalMissing(): string | undefined {
  const missing: string[] = [];
  if (nixEval === undefined)
    missing.push('the offline evaluator nix-eval ($THREEFS_SHARED_DIR/nix-eval or ../shared/nix-eval)');
  if (!runs('nix', ['--version'])) missing.push('nix (Debian: nix-bin)');
  if (!runs('python3', ['--version'])) missing.push('python3');
  return missing.length === 0 ? undefined : `missing ${missing.join(', ')}`;
}

const nixpkgsSkipReason = nixpkgsMissing();
const nixEvalSkipReason = nixEvalMissing();
// Either way may be missing alone (real nixpkgs is not fetched in CI); under CI=true, not both.
skipWithout(
  'a way to evaluate the NixOS module (the offline evaluator or real nixpkgs)',
  nixEvalSkipReason !== undefined && nixpkgsSkipReason !== undefined
    ? `${nixEvalSkipReason}; and ${nixpkgsSkipReason}`
    : undefined,
);
if (nixpkgsSkipReason !== undefined)
  console.warn(`skipping the module on real nixpkgs: ${nixpkgsSkipReason}`);
if (nixEvalSkipReason !== undefined)
  console.warn(`skipping the module on the offline evaluator: ${nixEvalSkipReason}`);

/** Expects each rendered file (its settings, or its TOML text) to pass its service's validator. */
function expectAccepted(rendered: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(rendered)) {
    const schema = schemas[name];
    expect(schema, `a validator for ${name}`).toBeDefined();
    if (schema === undefined) continue;
    if (typeof value === 'string') {
      expect(() => parseConfig(schema, value, `${name}.toml`)).not.toThrow();
    } else {
      const result = schema.safeParse(value);
      expect(result.success, `${name}: ${JSON.stringify(result.error?.issues)}`).toBe(true);
    }
  }
}

/** The token file eval-all-services.nix gives each client of the file system (none: the secret). */
const expectedTokenFiles: Record<string, string | undefined> = {
  fuse: '/run/keys/3fs-fuse-token',
  nfs: undefined,
  s3: '/run/keys/3fs-s3-token',
};

/**
 * Expects `token_file` in the `[cluster]` of exactly the clients given a tokenFile, with that
 * path, and in no other file (the services and the admin CLI do not take one).
 */
function expectTokenFiles(rendered: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(rendered)) {
    const schema = schemas[name];
    if (schema === undefined) continue;
    const settings = (typeof value === 'string' ? parseConfig(schema, value, `${name}.toml`) : value) as {
      cluster: { token_file?: string };
    };
    expect(settings.cluster.token_file, `token_file of ${name}`).toBe(expectedTokenFiles[name]);
  }
}

/** The `services."3fs" = { ... };` block of a Nix text, without whitespace. */
function servicesBlock(text: string): string {
  const start = text.indexOf('services."3fs" = {');
  expect(start, 'a services."3fs" block').toBeGreaterThanOrEqual(0);
  let depth = 0;
  for (let index = text.indexOf('{', start); index < text.length; index++) {
    if (text[index] === '{') depth++;
    if (text[index] === '}') depth--;
    if (depth === 0) return text.slice(start, index + 1).replace(/\s+/g, '');
  }
  throw new Error('an unclosed services."3fs" block');
}

describe('the configurations the module is evaluated with', () => {
  it('include the README’s, as the README shows it', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = /```nix\n([\s\S]*?)\n```/.exec(readme)?.[1] ?? '';
    expect(servicesBlock(readFileSync(join(root, readmeConfig), 'utf8'))).toBe(servicesBlock(example));
  });
});

describe.skipIf(nixpkgsSkipReason !== undefined)('the NixOS module on real nixpkgs', () => {
  it('renders settings every enabled service accepts', () => {
    const expression = `
      let
        nixos = import <nixpkgs/nixos/lib/eval-config.nix> {
          system = "x86_64-linux";
          modules = [
            ${root}/module.nix
            ${root}/${allServicesConfig}
            { boot.isContainer = true; system.stateVersion = "25.05"; }
          ];
        };
      in nixos.config.services."3fs".renderedSettings
    `;
    const output = execFileSync('nix-instantiate', ['--eval', '--strict', '--json', '-E', expression], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    const settings = JSON.parse(output) as Record<string, unknown>;
    expect(Object.keys(settings).sort()).toEqual([
      'fuse',
      'meta',
      'mgmtd',
      'monitor',
      'nfs',
      's3',
      'storage',
    ]);
    expectAccepted(settings);
    expectTokenFiles(settings);
  });
});

/** The offline evaluator's run of the module with `config` (a path, absolute or from the project). */
function evaluateOffline(config: string): SpawnSyncReturns<string> {
  return spawnSync(
    join(nixEval ?? '', 'nix-eval-module.sh'),
    ['--no-files', '.#nixosModules.default', config],
    { cwd: root, encoding: 'utf8', timeout: 120_000 },
  );
}

/** The module's /etc/3fs files with their text, as the offline evaluator renders them for `config`. */
function renderOffline(config: string): Record<string, string> {
  const result = evaluateOffline(config);
  expect(result.status, `nix-eval-module.sh ${config}:\n${result.stderr}`).toBe(0);
  // The view is indented JSON, possibly followed by notes: the first document ends at "\n}".
  const end = result.stdout.indexOf('\n}');
  const view = JSON.parse(result.stdout.slice(0, end + 2)) as {
    environment: { etc: Record<string, { renderedSource?: string }> };
  };
  const files: Record<string, string> = {};
  for (const [path, file] of Object.entries(view.environment.etc)) {
    const name = /^3fs\/(.+)\.toml$/.exec(path)?.[1];
    if (name !== undefined) files[name] = file.renderedSource ?? '';
  }
  return files;
}

describe.skipIf(nixEvalSkipReason !== undefined)('the NixOS module on the offline evaluator', () => {
  it('renders for every service a TOML file the service accepts, and the admin CLI’s', () => {
    const files = renderOffline(allServicesConfig);
    expect(Object.keys(files).sort()).toEqual([
      'admin',
      'fuse',
      'meta',
      'mgmtd',
      'monitor',
      'nfs',
      's3',
      'storage',
    ]);
    expectAccepted(files);
  });

  it('renders token_file for the clients given a tokenFile, and for no other service', () => {
    expectTokenFiles(renderOffline(allServicesConfig));
  });

  it('refuses a tokenFile in the Nix store', () => {
    const directory = mkdtempSync(join(tmpdir(), '3fs-module-eval-'));
    try {
      const config = join(directory, 'token-in-store.nix');
      writeFileSync(
        config,
        `{ imports = [ ${join(root, allServicesConfig)} ]; services."3fs".nfs.tokenFile = "/nix/store/0000-token"; }\n`,
      );
      const result = evaluateOffline(config);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(
        'services."3fs".nfs.tokenFile must be an absolute path outside the Nix store',
      );
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('renders the README’s storage host configuration into files storage_main and the admin CLI accept', () => {
    const files = renderOffline(readmeConfig);
    expect(Object.keys(files).sort()).toEqual(['admin', 'storage']);
    expectAccepted(files);
  });
});
