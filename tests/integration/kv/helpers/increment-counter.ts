// Child process of sqlite-processes.test.ts: opens the shared database, prints "ready", waits for
// "go" on stdin, then increments one counter `count` times (read-modify-write) and prints "done".
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { silentLogger } from '../../../../src/common/logger.js';
import { openSqliteKvEngine, u64BigEndian } from '../../../../src/kv/index.js';

const [path, countText] = process.argv.slice(2);
if (path === undefined || countText === undefined) throw new Error('usage: increment-counter.ts PATH COUNT');
const count = Number(countText);
const counterKey = Buffer.from('counter');

const engine = await openSqliteKvEngine({ path, logger: silentLogger() });
writeSync(1, 'ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line === 'go') break;
lines.close();

for (let index = 0; index < count; index++) {
  await engine.transact(async (tx) => {
    const value = await tx.get(counterKey);
    tx.set(counterKey, u64BigEndian((value === undefined ? 0n : value.readBigUInt64BE()) + 1n));
  });
}
await engine.close();
writeSync(1, 'done\n');
