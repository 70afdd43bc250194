// Child process of sqlite-processes.test.ts: commits transaction after transaction (transaction i
// writes `item/i` and `twin/i`) and prints "committed i" only after commit i was acknowledged,
// until it is killed.
import { writeSync } from 'node:fs';
import { silentLogger } from '../../../../src/common/logger.js';
import {
  concatKey,
  openSqliteKvEngine,
  u32BigEndian,
  type SqliteSynchronous,
} from '../../../../src/kv/index.js';

const [path, synchronous] = process.argv.slice(2);
if (path === undefined || (synchronous !== 'full' && synchronous !== 'normal')) {
  throw new Error('usage: commit-sequence.ts PATH full|normal');
}

/** The value of transaction `index`: a few kilobytes, so that a commit spans several pages. */
function valueOf(index: number): Buffer {
  return Buffer.alloc(1_000 + (index % 7) * 500, index % 251);
}

const engine = await openSqliteKvEngine({
  path,
  synchronous: synchronous as SqliteSynchronous,
  logger: silentLogger(),
});
for (let index = 0; ; index++) {
  await engine.transact(async (tx) => {
    tx.set(concatKey(Buffer.from('item/'), u32BigEndian(index)), valueOf(index));
    tx.set(concatKey(Buffer.from('twin/'), u32BigEndian(index)), valueOf(index));
  });
  // Synchronous, so the line is out before the next commit starts.
  writeSync(1, `committed ${index}\n`);
}
