/**
 * The process the kill -9 test kills: it opens a chunk store and, for each of a few chunks at
 * once, prepares and commits the next version of crash-workload.ts forever, printing
 * "committed <chunk> <version>" once each commit has resolved.
 *
 *   node --import tsx crash-writer.ts <files|native|native-direct> <target dir> <durable: 0|1>
 */
import {
  chunkStoreKinds,
  nativeDirectKind,
  openTestStore,
  workloadScaleOf,
  type ChunkStoreKind,
} from './chunk-store-kinds.js';
import { crashChunks, crashUpdate } from './crash-workload.js';

const [kindArgument, path, durableArgument] = process.argv.slice(2);
const kinds: readonly string[] = [...chunkStoreKinds, nativeDirectKind];
if (kindArgument === undefined || !kinds.includes(kindArgument) || path === undefined) {
  throw new Error('usage: crash-writer.ts <files|native|native-direct> <target dir> <0|1>');
}
const kind = kindArgument as ChunkStoreKind;
const scale = workloadScaleOf(kind);
const store = await openTestStore({ kind, path, durable: durableArgument === '1' });

async function writeForever(index: number): Promise<never> {
  const chunkId = { inode: 77n, index };
  for (;;) {
    const version = (store.stat(chunkId)?.committed?.version ?? 0) + 1;
    await store.prepare(chunkId, crashUpdate(index, version, scale), { version, chainVersion: 1 });
    await store.commit(chunkId, version);
    process.stdout.write(`committed ${index} ${version}\n`);
  }
}

await Promise.all(Array.from({ length: crashChunks }, (_, index) => writeForever(index)));
