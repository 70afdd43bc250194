/**
 * Opening the embedded sqlite engine: the sqlite backend under the generic transaction layer.
 */
import { systemClock, type Clock } from '../common/clock.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { seededRandom, type Random } from '../common/random.js';
import { BackedKvEngine } from './backed-engine.js';
import type { KvEngine, KvSyncObserver } from './kv.js';
import { SqliteBackend } from './sqlite-backend.js';
import type { SqliteSynchronous } from './sqlite-connection.js';

export interface SqliteKvOptions {
  /** The database file; its directory must exist. Other processes on this host may open it too. */
  path: string;
  /** Durability of an acknowledged commit (default "full": it survives power loss). */
  synchronous?: SqliteSynchronous;
  /** Under "interval": how long after a commit the WAL sync covering it starts at the latest. */
  commitIntervalMs?: number;
  logger: Logger;
  clock?: Clock;
  /** Jitter of backoffs and lock polls; seeded from the clock and the process id when absent. */
  random?: Random;
  /** Told of every sync of the WAL ("interval" and "normal"). */
  syncObserver?: KvSyncObserver;
}

/** Opens (creating when absent) a sqlite KV database. */
export async function openSqliteKvEngine(options: SqliteKvOptions): Promise<KvEngine> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? seededRandom((clock.nowMs() ^ process.pid) >>> 0);
  const logger = options.logger.child({ component: 'kv', engine: 'sqlite' });
  const observer = options.syncObserver;
  const backend = await SqliteBackend.open({
    path: options.path,
    synchronous: options.synchronous ?? 'full',
    commitIntervalMs: options.commitIntervalMs ?? limits.kvSqliteCommitIntervalMsDefault,
    clock,
    random,
    logger,
    ...(observer === undefined
      ? {}
      : { onSynced: (event) => observer.syncFinished({ engine: 'sqlite', ...event }) }),
  });
  return new BackedKvEngine(backend, { clock, random, logger });
}
