// Proves that the foundationdb engine passes the KV conformance suite on a live FoundationDB cluster (the one FDB_CLUSTER_FILE names), each test under its own key prefix; skipped, saying so, where there is none.
import { describe } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { foundationDbSectionSchema, openFoundationDbKvEngine, type KvEngine } from '../../../src/kv/index.js';
import { defineKvConformance } from '../../kv-conformance/suite.js';

const clusterFile = process.env['FDB_CLUSTER_FILE'];
const skipReason =
  clusterFile === undefined || clusterFile === ''
    ? 'FDB_CLUSTER_FILE is not set, so there is no live FoundationDB cluster to run against (point it at a cluster file to run this suite)'
    : undefined;
if (skipReason !== undefined) console.warn(`foundationdb conformance skipped: ${skipReason}`);

/** Every key a test can write lies below this end (keys are at most 10,000 bytes). */
const allKeysEnd = Buffer.alloc(10_001, 0xff);
let prefixes = 0;

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined
    ? `foundationdb engine on ${clusterFile}`
    : `foundationdb engine (skipped: ${skipReason})`,
  () => {
    defineKvConformance('foundationdb', async ({ clock }) => {
      const section = foundationDbSectionSchema.parse({
        cluster_file: clusterFile,
        key_prefix: `3fs-test/${process.pid}/${Date.now()}/${++prefixes}/`,
      });
      const engine = await openFoundationDbKvEngine(section, { logger: silentLogger(), clock });
      return {
        engine,
        async cleanup() {
          await engine.close();
          // The test may have closed its engine: a fresh one clears what it left under its prefix.
          const cleaner: KvEngine = await openFoundationDbKvEngine(section, { logger: silentLogger() });
          try {
            await cleaner.transact(async (tx) => tx.clearRange(Buffer.alloc(0), allKeysEnd));
          } finally {
            await cleaner.close();
          }
        },
      };
    });
  },
);
