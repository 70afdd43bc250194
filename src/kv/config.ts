/**
 * The `[kv]` section of a service's TOML configuration, and opening the engine it names. The
 * section is a choice keyed by `engine`, each engine with its own strict sub-section, so adding
 * an engine (postgres, foundationdb) is one more member of the union and one more case below.
 *
 *   [kv]
 *   engine = "sqlite"
 *   [kv.sqlite]
 *   path = "/var/lib/3fs/meta.sqlite"
 *   synchronous = "interval"     # or "full", "normal"
 *   commit_interval_ms = 1000    # "interval" only
 *
 * The default of `synchronous` is the service's: meta_main's is "interval" (kvSectionSchemaFor),
 * everything else's "full".
 *
 * `engine = "postgres"` takes `[kv.postgres]` (postgres-config.ts) and `engine = "foundationdb"`
 * takes `[kv.foundationdb]` (foundationdb-config.ts), whose keys all have defaults.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { Clock } from '../common/clock.js';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { KvCode } from '../common/status-code.js';
import { foundationDbSectionSchema } from './foundationdb-config.js';
import { openFoundationDbKvEngine } from './foundationdb-engine.js';
import type { KvEngine, KvSyncObserver } from './kv.js';
import { postgresSectionSchema } from './postgres-config.js';
import { openPostgresKvEngine } from './postgres-engine.js';
import type { SqliteSynchronous } from './sqlite-connection.js';
import { openSqliteKvEngine } from './sqlite-engine.js';

/** `[kv.sqlite]` with `synchronous` defaulting to `synchronousDefault`. */
function sqliteSectionSchemaWith(synchronousDefault: SqliteSynchronous) {
  return z.strictObject({
    /** The database file; missing parent directories are created. */
    path: z.string().min(1),
    /**
     * "full": an acknowledged commit survives power loss. "interval": it survives the death of
     * any process, and power loss once commit_interval_ms has passed or after a sync. "normal":
     * it survives the death of any process, and power loss after the next checkpoint or sync.
     */
    synchronous: z.enum(['full', 'interval', 'normal']).default(synchronousDefault),
    /**
     * Under "interval": how long after a commit the WAL sync covering it starts at the latest.
     * Ignored otherwise, so that mgmtd ("full") and meta ("interval") may share one [kv] section.
     */
    commit_interval_ms: z
      .number()
      .int()
      .min(limits.kvSqliteCommitIntervalMsMin)
      .max(limits.kvSqliteCommitIntervalMsMax)
      .optional(),
  });
}

/** `[kv.sqlite]`: the embedded engine's database file and how its commits reach the disk. */
export const sqliteSectionSchema = sqliteSectionSchemaWith('full');

/**
 * `[kv]` for a service whose sqlite commits default to `sqliteSynchronous`: meta_main's default
 * to "interval" (a namespace change is as durable as on a local file system), mgmtd's and the
 * admin tools' to "full" (chain tables and target states must never go back in time).
 */
export function kvSectionSchemaFor(defaults: { sqliteSynchronous: SqliteSynchronous }) {
  return z.discriminatedUnion('engine', [
    z.strictObject({
      engine: z.literal('sqlite'),
      sqlite: sqliteSectionSchemaWith(defaults.sqliteSynchronous),
    }),
    z.strictObject({
      engine: z.literal('postgres'),
      postgres: postgresSectionSchema,
    }),
    z.strictObject({
      engine: z.literal('foundationdb'),
      foundationdb: foundationDbSectionSchema.prefault({}),
    }),
  ]);
}

/** `[kv]`: which engine holds the metadata, and its settings (sqlite commits "full" by default). */
export const kvSectionSchema = kvSectionSchemaFor({ sqliteSynchronous: 'full' });

/** A parsed `[kv]` section. */
export type KvSection = z.output<typeof kvSectionSchema>;

/** Opens the engine a `[kv]` section names, creating the directories it needs. */
export async function openKvEngine(
  section: KvSection,
  options: {
    logger: Logger;
    clock?: Clock;
    /** Told of every sync the engine runs in the background or on request (metrics). */
    syncObserver?: KvSyncObserver;
  },
): Promise<KvEngine> {
  switch (section.engine) {
    case 'sqlite': {
      const path = section.sqlite.path;
      try {
        await mkdir(dirname(path), { recursive: true });
      } catch (error) {
        throw new FsError(
          KvCode.EngineFailure,
          `cannot create the directory of ${path}: ${describeError(error)}`,
          {
            cause: error,
          },
        );
      }
      return openSqliteKvEngine({
        path,
        synchronous: section.sqlite.synchronous,
        commitIntervalMs: section.sqlite.commit_interval_ms ?? limits.kvSqliteCommitIntervalMsDefault,
        logger: options.logger,
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.syncObserver ? { syncObserver: options.syncObserver } : {}),
      });
    }
    case 'postgres':
      return openPostgresKvEngine(section.postgres, options);
    case 'foundationdb':
      return openFoundationDbKvEngine(section.foundationdb, options);
  }
}
