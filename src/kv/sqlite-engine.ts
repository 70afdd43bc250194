/**
 * Opening the embedded sqlite engine: the sqlite backend under the generic transaction layer.
 */
import { systemClock, type Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { seededRandom, type Random } from '../common/random.js';
import { BackedKvEngine } from './backed-engine.js';
import type { KvEngine } from './kv.js';
import { SqliteBackend } from './sqlite-backend.js';
import type { SqliteSynchronous } from './sqlite-connection.js';

export interface SqliteKvOptions {
  /** The database file; its directory must exist. Other processes on this host may open it too. */
  path: string;
  /** Durability of an acknowledged commit (default "full": it survives power loss). */
  synchronous?: SqliteSynchronous;
  logger: Logger;
  clock?: Clock;
  /** Jitter of backoffs and lock polls; seeded from the clock and the process id when absent. */
  random?: Random;
}

/** Opens (creating when absent) a sqlite KV database. */
export async function openSqliteKvEngine(options: SqliteKvOptions): Promise<KvEngine> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? seededRandom((clock.nowMs() ^ process.pid) >>> 0);
  const logger = options.logger.child({ component: 'kv', engine: 'sqlite' });
  const backend = await SqliteBackend.open({
    path: options.path,
    synchronous: options.synchronous ?? 'full',
    clock,
    random,
    logger,
  });
  return new BackedKvEngine(backend, { clock, random, logger });
}
