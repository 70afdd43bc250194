// Proves what the native chunk engine adds to the shared chunk store suite: its CRC32C (hardware
// where the CPU has it) agrees with the project's, an overwrite inside a chunk writes only the
// blocks it touches and never the committed ones, the metadata log compacts and replays, concurrent
// durable updates group their syncs and all land, the commits of one turn share one engine call
// (each succeeding or failing alone), and reads racing replacements of the same chunk always see
// one whole version.
import fc from 'fast-check';
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { crc32c as referenceCrc32c } from '@node-rs/crc32';
import { crc32c, crc32cCombine } from '../../../src/common/crc32c.js';
import { hasCode } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { StorageCode } from '../../../src/common/status-code.js';
import type { ChunkId } from '../../../src/storage/protocol/index.js';
import type { ChunkUpdate } from '../../../src/storage/store/chunk-store.js';
import {
  chunkEngineAddon,
  engineFailureDetail,
  type NativeChunkEngine,
} from '../../../src/storage/store/native-chunk-engine.js';
import { NativeChunkStore } from '../../../src/storage/store/native-chunk-store.js';
import { openTestStore, testBlockBytes } from './helpers/chunk-store-kinds.js';
import { applyToModel } from './helpers/crash-workload.js';

let dir: string;
let stores: NativeChunkStore[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), '3fs-native-chunk-store-'));
  stores = [];
});
afterEach(async () => {
  for (const store of stores) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(
  options: { durable?: boolean; compactMinBytes?: number } = {},
): Promise<NativeChunkStore> {
  const store = await openTestStore({ kind: 'native', path: join(dir, 'target'), ...options });
  if (!(store instanceof NativeChunkStore)) throw new Error('not the native store');
  stores.push(store);
  return store;
}

/** True when the test directory's file system takes O_DIRECT (tmpfs does not). */
function directIoSupported(): boolean {
  try {
    closeSync(openSync(join(dir, 'probe'), constants.O_CREAT | constants.O_RDWR | constants.O_DIRECT));
    return true;
  } catch {
    return false;
  }
}

async function apply(store: NativeChunkStore, update: ChunkUpdate, chunkId: ChunkId): Promise<void> {
  const version = (store.stat(chunkId)?.committed?.version ?? 0) + 1;
  await store.prepare(chunkId, update, { version, chainVersion: 1 });
  await store.commit(chunkId, version);
}

/** The whole chunk, up to 4 MiB. */
const readWhole = async (store: NativeChunkStore, chunkId: ChunkId) =>
  (await store.read(chunkId, { offset: 0, length: 4 << 20, pending: false })).data;

/** Large buffers compared without a byte-by-byte diff; the first difference is reported. */
function expectSame(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  const first = actual.findIndex((byte, at) => byte !== expected[at]);
  expect(first, `first differing byte at ${first}`).toBe(-1);
}

const readAll = async (store: NativeChunkStore, chunkId: ChunkId) =>
  (await store.read(chunkId, { offset: 0, length: 1 << 20, pending: false })).data;

describe('the native chunk engine', () => {
  it('computes the same CRC32C as @node-rs/crc32, in hardware on x86-64 and aarch64', () => {
    const addon = chunkEngineAddon();
    if (arch() === 'x64' || arch() === 'arm64')
      expect(['sse4.2', 'armv8']).toContain(addon.crc32cImplementation);
    // Long inputs take the engine's three-stream path (12 KiB and more), with any start value.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 80_000 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer(),
        (length, initial, seed) => {
          const data = Buffer.alloc(length);
          let state = seed;
          for (let at = 0; at < length; at++) {
            state = (Math.imul(state, 1_103_515_245) + 12_345) | 0;
            data[at] = state >>> 24;
          }
          expect(addon.crc32c(data, initial)).toBe(referenceCrc32c(data, initial) >>> 0);
        },
      ),
      { numRuns: 60 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 300 }), (first, second) => {
        const a = Buffer.from(first);
        const b = Buffer.from(second);
        expect(addon.crc32c(a)).toBe(referenceCrc32c(a) >>> 0);
        expect(addon.crc32c(b, addon.crc32c(a))).toBe(referenceCrc32c(Buffer.concat([a, b])) >>> 0);
        expect(addon.crc32cCombine(crc32c(a), crc32c(b), b.length)).toBe(
          crc32cCombine(crc32c(a), crc32c(b), b.length),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('writes only the touched block on an overwrite and never the committed blocks', async () => {
    const store = await open();
    const chunkId = { inode: 1n, index: 0 };
    const original = Buffer.alloc(10 * testBlockBytes);
    for (let at = 0; at < original.length; at++) original[at] = at % 251;
    await apply(store, { kind: 'replace', data: original }, chunkId);
    expect(store.engineStats().usedSlots).toBe(10);
    const file = join(dir, 'target', 'chunk-engine', 'data', `${testBlockBytes}-0.dat`);
    const before = readFileSync(file).subarray(0, original.length);
    await store.prepare(
      chunkId,
      { kind: 'write', offset: 200, data: Buffer.from('ABCD') },
      { version: 2, chainVersion: 1 },
    );
    // One new block for the pending version; the committed blocks' bytes did not move.
    expect(store.engineStats().usedSlots).toBe(11);
    expect(readFileSync(file).subarray(0, original.length).equals(before)).toBe(true);
    expect((await readAll(store, chunkId)).equals(original)).toBe(true);
    await store.commit(chunkId, 2);
    expect(store.engineStats().usedSlots).toBe(10);
    const expected = Buffer.from(original);
    expected.write('ABCD', 200);
    expect((await readAll(store, chunkId)).equals(expected)).toBe(true);
    // A 4-byte read touches (and verifies) one block only: damage elsewhere does not fail it.
    const damaged = readFileSync(file);
    damaged[5] = (damaged[5] ?? 0) ^ 0xff;
    writeFileSync(file, damaged);
    const { data } = await store.read(chunkId, { offset: 200, length: 4, pending: false });
    expect(data.toString()).toBe('ABCD');
    // The failure names the version the read was reading, as the engine reports it.
    await expect(store.read(chunkId, { offset: 0, length: 4, pending: false })).rejects.toSatisfy(
      (error) =>
        hasCode(error, StorageCode.ChunkCorrupted) &&
        /version 2 on target/.test(String(error)) &&
        engineFailureDetail((error as Error).cause)?.version === 2,
    );
  });

  it('writes whole page-aligned blocks around the page cache, the same bytes as through it', async () => {
    // O_DIRECT where the test directory's file system has it (tmpfs has not: then both are buffered).
    const directSupported = directIoSupported();
    const random = (length: number, seed: number) => {
      const data = Buffer.alloc(length);
      for (let at = 0; at < length; at++) data[at] = (Math.imul(at + 1, 2_654_435_761 + seed) >>> 24) & 0xff;
      return data;
    };
    // Whole blocks at page offsets (direct), a partial overwrite (copy on write, direct), an
    // unaligned append into the last block's slot (buffered), an aligned one, a cut and a regrowth.
    const updates: ChunkUpdate[] = [
      { kind: 'replace', data: random(1 << 20, 1) },
      { kind: 'write', offset: 128 * 1024, data: random(64 * 1024, 2) },
      { kind: 'write', offset: 70_000, data: random(5_000, 3) },
      { kind: 'write', offset: 1 << 20, data: random(3_000, 4) },
      { kind: 'write', offset: (1 << 20) + 3_000, data: random(200_000, 5) },
      { kind: 'truncate', length: 300_000 },
      { kind: 'write', offset: 262_144, data: random(131_072, 6) },
    ];
    const chunkId = { inode: 9n, index: 0 };
    for (const directWrites of [true, false]) {
      const path = join(dir, `target-${directWrites}`);
      const options = { targetId: 1, path, durable: false, freeSpaceReserveBytes: 0, logger: silentLogger() };
      // Reads stay buffered here, so a descriptor opened O_DIRECT is there for the writes alone.
      const store = await NativeChunkStore.open({
        ...options,
        blockBytes: 65_536,
        directWrites,
        directReads: false,
      });
      stores.push(store);
      let model: Buffer = Buffer.alloc(0);
      for (const update of updates) {
        await apply(store, update, chunkId);
        model = applyToModel(model, update);
        expectSame(await readWhole(store, chunkId), model);
      }
      // The engine's descriptors of its data files: one opened O_DIRECT beside each buffered one.
      const dataDirectory = join(path, 'chunk-engine', 'data');
      const flags = readdirSync('/proc/self/fd').flatMap((fd) => {
        try {
          if (!readlinkSync(`/proc/self/fd/${fd}`).startsWith(dataDirectory)) return [];
          const line = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').match(/^flags:\s+([0-7]+)$/m);
          return line === null ? [] : [Number.parseInt(line[1] as string, 8)];
        } catch {
          return []; // closed meanwhile
        }
      });
      expect(flags.length).toBeGreaterThan(0);
      const direct = flags.filter((value) => (value & constants.O_DIRECT) !== 0).length;
      expect(direct).toBe(directWrites && directSupported ? flags.length / 2 : 0);
      await store.close();
      stores.pop();
      // What was written either way reads back after a reopen.
      const reopened = await NativeChunkStore.open({ ...options, blockBytes: 65_536 });
      stores.push(reopened);
      expectSame(await readWhole(reopened, chunkId), model);
    }
  });

  it('reads large ranges into page-aligned buffers around the page cache, the same bytes as through it', async () => {
    const directSupported = directIoSupported();
    const aligned = (length: number) => Buffer.from(chunkEngineAddon().alignedArrayBuffer(length));
    const chunkId = { inode: 14n, index: 0 };
    // Buffered writes leave dirty pages a direct read must see; direct ones leave none.
    for (const [directWrites, directReads] of [
      [true, true],
      [false, true],
      [true, false],
    ] as const) {
      const path = join(dir, `target-${directWrites}-${directReads}`);
      const store = await NativeChunkStore.open({
        targetId: 1,
        path,
        durable: false,
        freeSpaceReserveBytes: 0,
        logger: silentLogger(),
        blockBytes: 65_536,
        directWrites,
        directReads,
      });
      stores.push(store);
      const engine = (store as unknown as { engine: NativeChunkEngine }).engine;
      const data = Buffer.alloc((1 << 20) + 3_000);
      for (let at = 0; at < data.length; at++) data[at] = (at * 11 + (at >> 10)) & 0xff;
      await apply(store, { kind: 'replace', data }, chunkId);
      const patch = Buffer.alloc(70_000, 0x5c);
      await apply(store, { kind: 'write', offset: 200_000, data: patch }, chunkId);
      patch.copy(data, 200_000);
      const directSoFar = () => engine.stats().directReads;
      // `direct` undefined: either way (see the case).
      const cases: Array<{ offset: number; length: number; into: Buffer; direct: boolean | undefined }> = [
        // Whole blocks into aligned memory, large enough: around the cache.
        { offset: 0, length: 1 << 20, into: aligned(1 << 20), direct: true },
        { offset: 262_144, length: 512 * 1024, into: aligned(512 * 1024), direct: true },
        // Up to the chunk's partial last block, which goes through the cache.
        { offset: 0, length: data.length, into: aligned(data.length + 4_096), direct: true },
        // Not on a block: the blocks go into the engine's own scratch memory, which may happen to
        // start on a page (then around the cache) or not.
        { offset: 1_000, length: 600_000, into: aligned(600_000), direct: undefined },
        // Memory not on a page, or too short: through the cache.
        {
          offset: 0,
          length: 1 << 20,
          into: aligned((1 << 20) + 4_096).subarray(16, 16 + (1 << 20)),
          direct: false,
        },
        { offset: 65_536, length: 65_536, into: aligned(65_536), direct: false },
      ];
      for (const { offset, length, into, direct } of cases) {
        const before = directSoFar();
        const result = await store.read(chunkId, { offset, length, pending: false, into });
        const expected = data.subarray(offset, Math.min(data.length, offset + length));
        expect(result.data.equals(expected)).toBe(true);
        expect(result.data.buffer).toBe(into.buffer);
        expect(result.checksum).toBe(crc32c(expected));
        if (direct !== undefined)
          expect(directSoFar() > before).toBe(direct && directReads && directSupported);
      }
    }
  });

  it('without its ring, answers small reads of cached blocks on the calling thread, and others through its threads', async () => {
    const options = { targetId: 1, path: join(dir, 'cached'), durable: false, freeSpaceReserveBytes: 0 };
    const store = await NativeChunkStore.open({
      ...options,
      logger: silentLogger(),
      blockBytes: 65_536,
      readRing: false,
    });
    stores.push(store);
    const engine = (store as unknown as { engine: NativeChunkEngine }).engine;
    const readCached = vi.spyOn(engine, 'readCached');
    const read = vi.spyOn(engine, 'read');
    const chunkId = { inode: 12n, index: 0 };
    const data = Buffer.alloc(256 * 1024);
    for (let at = 0; at < data.length; at++) data[at] = (at * 7 + (at >> 9)) & 0xff;
    // Written around the page cache (whole aligned blocks), so none of it is cached yet.
    await apply(store, { kind: 'replace', data }, chunkId);
    const key = Buffer.from((store as unknown as { keyOf(id: ChunkId): Buffer }).keyOf(chunkId));
    // The key of an absent chunk, a range past the end, and any other failure: undefined.
    expect(engine.readCached(Buffer.alloc(12), 0, 4096, false)).toBeUndefined();
    const first = await store.read(chunkId, { offset: 70_000, length: 4096, pending: false });
    expect(first.data.equals(data.subarray(70_000, 74_096))).toBe(true);
    // The block is in the page cache now (the thread read it through the cache): the same read
    // is answered at once, with the same bytes and checksum.
    read.mockClear();
    const again = engine.readCached(key, 70_000, 4096, false);
    expect(again?.data?.equals(data.subarray(70_000, 74_096))).toBe(true);
    expect(again?.checksum).toBe(first.checksum);
    const second = await store.read(chunkId, { offset: 70_000, length: 4096, pending: false });
    expect(second.data.equals(first.data)).toBe(true);
    expect(read).not.toHaveBeenCalled();
    // Large reads go to the threads without trying.
    readCached.mockClear();
    const whole = await store.read(chunkId, { offset: 0, length: 256 * 1024, pending: false });
    expect(whole.data.equals(data)).toBe(true);
    expect(readCached).not.toHaveBeenCalled();
    expect(read).toHaveBeenCalledTimes(1);
  });

  it('reads small ranges through io_uring where the kernel has it, and large ones through its threads', async () => {
    const options = { targetId: 1, path: join(dir, 'ring'), durable: false, freeSpaceReserveBytes: 0 };
    const store = await NativeChunkStore.open({ ...options, logger: silentLogger(), blockBytes: 65_536 });
    stores.push(store);
    const engine = (store as unknown as { engine: NativeChunkEngine }).engine;
    const how = engine.stats().readRing;
    // This kernel may refuse io_uring (a sysctl, a seccomp filter): then the engine says why.
    console.log(`the chunk engine's small reads: ${how}`);
    expect(how.length).toBeGreaterThan(0);
    const readRing = vi.spyOn(engine, 'readRing');
    const readCached = vi.spyOn(engine, 'readCached');
    const read = vi.spyOn(engine, 'read');
    const chunkId = { inode: 14n, index: 0 };
    const data = Buffer.alloc(320 * 1024);
    for (let at = 0; at < data.length; at++) data[at] = (at * 11 + (at >> 10)) & 0xff;
    await apply(store, { kind: 'replace', data }, chunkId);
    // Small reads, one block or across two, at the start, inside and at the end of the chunk.
    for (const [offset, length] of [
      [0, 4096],
      [70_000, 4096],
      [65_000, 10_000],
      [data.length - 100, 4096],
      [1_000, 128 * 1024],
    ] as const) {
      const result = await store.read(chunkId, { offset, length, pending: false });
      const expected = data.subarray(offset, Math.min(data.length, offset + length));
      expect(result.data.equals(expected)).toBe(true);
      expect(result.checksum).toBe(crc32c(expected));
    }
    expect(readRing).toHaveBeenCalledTimes(5);
    if (how === 'io_uring') {
      expect(readCached).not.toHaveBeenCalled();
      expect(read).not.toHaveBeenCalled();
    } else {
      expect(readRing.mock.results.every((result) => result.value === undefined)).toBe(true);
    }
    // A large read goes to the threads without trying the ring.
    readRing.mockClear();
    const whole = await store.read(chunkId, { offset: 0, length: data.length, pending: false });
    expect(whole.data.equals(data)).toBe(true);
    expect(readRing).not.toHaveBeenCalled();
    // Many reads at once, more than the ring holds: those it has no room for go to the threads,
    // and every one returns its bytes.
    const offsets = Array.from({ length: 600 }, (_, index) => (index * 7919) % (data.length - 4096));
    const results = await Promise.all(
      offsets.map((offset) => store.read(chunkId, { offset, length: 4096, pending: false })),
    );
    results.forEach((result, index) => {
      const offset = offsets[index] ?? 0;
      expect(result.data.equals(data.subarray(offset, offset + 4096))).toBe(true);
    });
    // The ring turned off: the engine says so.
    const off = await NativeChunkStore.open({
      ...options,
      path: join(dir, 'ring-off'),
      logger: silentLogger(),
      blockBytes: 65_536,
      readRing: false,
    });
    stores.push(off);
    expect((off as unknown as { engine: NativeChunkEngine }).engine.stats().readRing).toBe('turned off');
  });

  it('closes with reads in flight: each read settles, and the close waits for them', async () => {
    const store = await NativeChunkStore.open({
      targetId: 1,
      path: join(dir, 'closing'),
      durable: false,
      freeSpaceReserveBytes: 0,
      logger: silentLogger(),
      blockBytes: 65_536,
    });
    const chunkId = { inode: 15n, index: 0 };
    const data = Buffer.alloc(1 << 20);
    for (let at = 0; at < data.length; at++) data[at] = (at * 5 + (at >> 12)) & 0xff;
    await apply(store, { kind: 'replace', data }, chunkId);
    const reads = Array.from({ length: 200 }, (_, index) =>
      store.read(chunkId, { offset: (index * 4099) % (data.length - 8192), length: 8192, pending: false }),
    );
    const closed = store.close();
    const settled = await Promise.allSettled(reads);
    await closed;
    settled.forEach((outcome, index) => {
      const offset = (index * 4099) % (data.length - 8192);
      // Reads begun before the close return their bytes; none is cut short or left hanging.
      expect(outcome.status).toBe('fulfilled');
      if (outcome.status === 'fulfilled')
        expect(outcome.value.data.equals(data.subarray(offset, offset + 8192))).toBe(true);
    });
  });

  it('reads into a buffer it is given, through its threads or the page cache, and ignores one too small', async () => {
    const store = await open();
    const chunkId = { inode: 13n, index: 0 };
    const data = Buffer.alloc(300_000);
    for (let at = 0; at < data.length; at++) data[at] = (at * 13 + (at >> 11)) & 0xff;
    await apply(store, { kind: 'replace', data }, chunkId);
    for (const [offset, length] of [
      [0, 300_000],
      [1_000, 70_000],
      [250_000, 100_000], // cut at the chunk's end
      [65_536, 4_096],
      [65_536, 4_096], // cached by the read before: answered on the calling thread
    ] as const) {
      const into = Buffer.alloc(length + 100, 0xee);
      const result = await store.read(chunkId, { offset, length, pending: false, into });
      const expected = data.subarray(offset, Math.min(data.length, offset + length));
      expect(result.data.equals(expected)).toBe(true);
      expect(result.data.buffer).toBe(into.buffer);
      expect(result.data.byteOffset).toBe(into.byteOffset);
      expect(result.checksum).toBe(crc32c(expected));
      // Nothing past the bytes read was touched.
      expect(into.subarray(expected.length).every((byte) => byte === 0xee)).toBe(true);
    }
    const small = Buffer.alloc(10);
    const result = await store.read(chunkId, { offset: 0, length: 4_096, pending: false, into: small });
    expect(result.data.equals(data.subarray(0, 4_096))).toBe(true);
    expect(result.data.buffer).not.toBe(small.buffer);
  });

  it('compacts its metadata log as it grows and replays it after a reopen', async () => {
    const store = await open({ compactMinBytes: 4096 });
    const chunks = Array.from({ length: 8 }, (_, index) => ({ inode: 2n, index }));
    const models = new Map<number, Buffer>();
    for (let round = 0; round < 40; round++) {
      for (const chunkId of chunks) {
        const data = Buffer.alloc(50 + ((round * 7 + chunkId.index) % 200), round + chunkId.index);
        await apply(store, { kind: 'write', offset: round % 5, data }, chunkId);
        const base = models.get(chunkId.index) ?? Buffer.alloc(0);
        const next = Buffer.alloc(Math.max(base.length, (round % 5) + data.length));
        base.copy(next);
        data.copy(next, round % 5);
        models.set(chunkId.index, next);
      }
    }
    const stats = store.engineStats();
    expect(stats.logGeneration).toBeGreaterThan(1);
    expect(stats.logBytes).toBeLessThan(64 * 1024);
    await store.close();
    const reopened = await open({ compactMinBytes: 4096 });
    for (const chunkId of chunks) expect(await readAll(reopened, chunkId)).toEqual(models.get(chunkId.index));
    expect(reopened.engineStats().usedSlots).toBe(stats.usedSlots);
  });

  it('lands many concurrent durable updates, their syncs grouped', async () => {
    const store = await open({ durable: true });
    const chunks = Array.from({ length: 40 }, (_, index) => ({ inode: 3n, index }));
    await Promise.all(
      chunks.map((chunkId) =>
        apply(store, { kind: 'replace', data: Buffer.alloc(100 + chunkId.index, chunkId.index) }, chunkId),
      ),
    );
    await store.close();
    const reopened = await open({ durable: true });
    for (const chunkId of chunks) {
      expect(await readAll(reopened, chunkId)).toEqual(Buffer.alloc(100 + chunkId.index, chunkId.index));
    }
  });

  it('commits the chunks of one turn with one engine call, one refused alone, all there after a reopen', async () => {
    const store = await open({ durable: true, compactMinBytes: 4096 });
    const engine = (store as unknown as { engine: NativeChunkEngine }).engine;
    const commitMany = vi.spyOn(engine, 'commitMany');
    const chunks = Array.from({ length: 30 }, (_, index) => ({ inode: 4n, index }));
    for (const chunkId of chunks) {
      await store.prepare(
        chunkId,
        { kind: 'replace', data: Buffer.alloc(10 + chunkId.index, chunkId.index) },
        { version: 1, chainVersion: 1 },
      );
    }
    const outcomes = await Promise.allSettled([
      ...chunks.map((chunkId) => store.commit(chunkId, 1)),
      store.commit({ inode: 4n, index: 99 }, 1),
    ]);
    expect(commitMany).toHaveBeenCalledTimes(1);
    outcomes.slice(0, chunks.length).forEach((outcome, index) => {
      expect(outcome).toMatchObject({ status: 'fulfilled', value: { version: 1, length: 10 + index } });
    });
    expect(outcomes[chunks.length]?.status).toBe('rejected');
    await store.close();
    const reopened = await open({ durable: true, compactMinBytes: 4096 });
    for (const chunkId of chunks) {
      expect(await readAll(reopened, chunkId)).toEqual(Buffer.alloc(10 + chunkId.index, chunkId.index));
    }
    expect(reopened.stat({ inode: 4n, index: 99 })).toBeUndefined();
  });

  it('gives reads that race replacements of the chunk one whole version each', async () => {
    const store = await open();
    const chunkId = { inode: 4n, index: 0 };
    const versionData = (version: number) => Buffer.alloc(300, version);
    await apply(store, { kind: 'replace', data: versionData(1) }, chunkId);
    const reads: Array<Promise<Buffer>> = [];
    for (let version = 2; version <= 30; version++) {
      for (let reader = 0; reader < 3; reader++) reads.push(readAll(store, chunkId));
      await apply(store, { kind: 'replace', data: versionData(version) }, chunkId);
    }
    for (const data of await Promise.all(reads)) {
      expect(data.length).toBe(300);
      expect(data.every((byte) => byte === data[0])).toBe(true);
    }
  });
});
