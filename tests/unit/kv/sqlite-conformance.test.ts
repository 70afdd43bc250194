// Proves that the embedded sqlite engine passes the KV conformance suite, on a fresh database per test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/common/logger.js';
import { openSqliteKvEngine } from '../../../src/kv/index.js';
import { defineKvConformance } from '../../kv-conformance/suite.js';

defineKvConformance('sqlite', async ({ clock }) => {
  const directory = await mkdtemp(join(tmpdir(), '3fs-kv-conformance-'));
  const engine = await openSqliteKvEngine({
    path: join(directory, 'kv.sqlite'),
    logger: silentLogger(),
    clock,
  });
  return {
    engine,
    async cleanup() {
      await engine.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
});
