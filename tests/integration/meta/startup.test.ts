// Proves meta_main's start-up checks: a bad config and an uninitialized cluster are clear errors
// with a non-zero exit, and root squash from the config applies to callers.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { metaMethods as m } from '../../../src/meta/protocol/index.js';
import { startMetaCluster, writeMetaConfig } from '../helpers/meta-cluster.js';
import { TestWorld } from '../helpers/processes.js';
import { FsError } from '../../../src/common/errors.js';
import { MetaCode } from '../../../src/common/status-code.js';

let world: TestWorld;
beforeEach(() => {
  world = new TestWorld();
});
afterEach(async () => {
  await world.cleanup();
});

describe('meta_main start-up', () => {
  it('refuses a config with an unknown key, naming it, with exit code 2', async () => {
    const dir = world.tempDir();
    const config = writeMetaConfig({
      dir,
      nodeId: 5,
      secretFile: world.secretFile(dir),
      databasePath: join(dir, 'meta.db'),
      mgmtdAddress: '127.0.0.1:1',
    });
    writeFileSync(config, `${(await import('node:fs')).readFileSync(config, 'utf8')}\n[bogus]\nx = 1\n`);
    const result = await world.runBinary('meta_main', ['--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('bogus: unknown key');
  });

  it('refuses to start on a metadata store whose cluster is not initialized', async () => {
    const dir = world.tempDir();
    const config = writeMetaConfig({
      dir,
      nodeId: 5,
      secretFile: world.secretFile(dir),
      databasePath: join(dir, 'meta.db'),
      mgmtdAddress: '127.0.0.1:1',
    });
    const result = await world.runBinary('meta_main', ['--config', config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('run \\"admin init-cluster\\"');
  });

  it('applies root squash to callers claiming uid 0', async () => {
    const cluster = await startMetaCluster(world, { metaCount: 1, rootSquash: true });
    try {
      const address = cluster.metas[0]?.address ?? '';
      const root = { uid: 0, gid: 0, groups: [] };
      const refused = await cluster
        .call(address, m.mkdirs, { cred: root, at: { path: '/squashed' }, mode: 0o755 })
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(FsError);
      expect((refused as FsError).code).toBe(MetaCode.PermissionDenied);
      const rootInode = await cluster.call(address, m.stat, { cred: root, at: { path: '/' } });
      expect(rootInode.inode).toMatchObject({ ino: 1n, uid: 0, gid: 0, mode: 0o755 });
    } finally {
      await cluster.rpc.close();
    }
  });
});
