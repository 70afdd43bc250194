/**
 * The `[kv]` section of a service's TOML configuration, and opening the engine it names. The
 * section is a choice keyed by `engine`, each engine with its own strict sub-section, so adding
 * an engine (postgres, foundationdb) is one more member of the union and one more case below.
 *
 *   [kv]
 *   engine = "sqlite"
 *   [kv.sqlite]
 *   path = "/var/lib/3fs/meta.sqlite"
 *   synchronous = "full"
 *
 * `engine = "postgres"` takes `[kv.postgres]` (postgres-config.ts) and `engine = "foundationdb"`
 * takes `[kv.foundationdb]` (foundationdb-config.ts), whose keys all have defaults.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { Clock } from '../common/clock.js';
import { FsError, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { KvCode } from '../common/status-code.js';
import { foundationDbSectionSchema } from './foundationdb-config.js';
import { openFoundationDbKvEngine } from './foundationdb-engine.js';
import type { KvEngine } from './kv.js';
import { postgresSectionSchema } from './postgres-config.js';
import { openPostgresKvEngine } from './postgres-engine.js';
import { openSqliteKvEngine } from './sqlite-engine.js';

/** `[kv.sqlite]`: the embedded engine's database file. */
export const sqliteSectionSchema = z.strictObject({
  /** The database file; missing parent directories are created. */
  path: z.string().min(1),
  /** "full": an acknowledged commit survives power loss; "normal": it survives a process crash. */
  synchronous: z.enum(['full', 'normal']).default('full'),
});

/** `[kv]`: which engine holds the metadata, and its settings. */
export const kvSectionSchema = z.discriminatedUnion('engine', [
  z.strictObject({
    engine: z.literal('sqlite'),
    sqlite: sqliteSectionSchema,
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

/** A parsed `[kv]` section. */
export type KvSection = z.output<typeof kvSectionSchema>;

/** Opens the engine a `[kv]` section names, creating the directories it needs. */
export async function openKvEngine(
  section: KvSection,
  options: { logger: Logger; clock?: Clock },
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
        logger: options.logger,
        ...(options.clock ? { clock: options.clock } : {}),
      });
    }
    case 'postgres':
      return openPostgresKvEngine(section.postgres, options);
    case 'foundationdb':
      return openFoundationDbKvEngine(section.foundationdb, options);
  }
}
