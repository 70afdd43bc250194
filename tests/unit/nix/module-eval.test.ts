// Proves that the NixOS module evaluates (nixpkgs' module system) for a configuration enabling
// every service, and that each rendered service configuration passes that service's own
// validator. Needs nix-instantiate and a nixpkgs on NIX_PATH; says so and skips otherwise.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { mgmtdConfigSchema } from '../../../src/mgmtd/config.js';
import { metaConfigSchema } from '../../../src/meta/config.js';
import { storageConfigSchema } from '../../../src/storage/config.js';
import { fuseConfigSchema } from '../../../src/fuse/config.js';
import { collectorConfigSchema } from '../../../src/monitor/config.js';

const root = resolve(import.meta.dirname, '../../..');

function nixpkgsAvailable(): boolean {
  try {
    execFileSync('nix-instantiate', ['--eval', '-E', '<nixpkgs/lib>'], { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

const available = nixpkgsAvailable();
const skipReason =
  'nix-instantiate with a nixpkgs on NIX_PATH is not available here, so the module cannot be evaluated';
if (!available) console.warn(`skipping NixOS module evaluation: ${skipReason}`);

const expression = `
let
  nixos = import <nixpkgs/nixos/lib/eval-config.nix> {
    system = "x86_64-linux";
    modules = [
      ${root}/module.nix
      {
        boot.isContainer = true;
        system.stateVersion = "25.05";
        services."3fs" = {
          enable = true;
          clusterSecretFile = "/run/keys/3fs-secret";
          collectorAddresses = [ "127.0.0.1:8003" ];
          mgmtd.enable = true;
          meta.enable = true;
          storage = { enable = true; targets = [ "/srv/t1" "/srv/t2" ]; };
          monitor.enable = true;
          fuse.enable = true;
        };
      }
    ];
  };
in nixos.config.services."3fs".renderedSettings
`;

const schemas: Record<string, z.ZodType> = {
  mgmtd: mgmtdConfigSchema,
  meta: metaConfigSchema,
  storage: storageConfigSchema,
  monitor: collectorConfigSchema,
  fuse: fuseConfigSchema,
};

describe.skipIf(!available)('the NixOS module', () => {
  it('renders settings every enabled service accepts', () => {
    const output = execFileSync('nix-instantiate', ['--eval', '--strict', '--json', '-E', expression], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    const settings = JSON.parse(output) as Record<string, unknown>;
    expect(Object.keys(settings).sort()).toEqual(['fuse', 'meta', 'mgmtd', 'monitor', 'storage']);
    for (const [name, schema] of Object.entries(schemas)) {
      const result = schema.safeParse(settings[name]);
      expect(result.success, `${name}: ${JSON.stringify(result.error?.issues)}`).toBe(true);
    }
  });
});
