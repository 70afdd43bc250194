/**
 * The data files of a target: one file per chunk data generation, at
 * `<target>/data/<fan-out>/<chunk id>.<generation>`, where the fan-out directory (two hex digits
 * from the chunk id's CRC32C) keeps directories small. A chunk's committed version names the
 * generation holding its bytes; copy-on-write updates write generation + 1 and the commit switches
 * over. With `durable`, data is fdatasync'ed and new directory entries are fsync'ed before a write
 * resolves, so committed metadata never points at bytes a power loss could take away.
 *
 * Reads go through a small cache of open read-only handles (read-handles.ts). A path's handle is
 * dropped once the file is unlinked or created anew, so a handle never outlives its file's name:
 * a later file at the same path (a chunk removed and written again) is always opened afresh.
 */
import { mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crc32c } from '../../common/crc32c.js';
import { assert } from '../../common/errors.js';
import { encodeChunkId, formatChunkId, parseChunkId, type ChunkId } from '../protocol/index.js';
import { ReadHandles } from './read-handles.js';

const fanOut = 256;

/** A data file found on disk. */
export interface DataFileEntry {
  readonly path: string;
  /** Undefined for a name that is not a data file (a stray file left by someone else). */
  readonly chunkId: ChunkId | undefined;
  readonly generation: number;
}

function fanOutDirectory(chunkId: ChunkId): string {
  return (crc32c(encodeChunkId(chunkId)) % fanOut).toString(16).padStart(2, '0');
}

export class ChunkDataFiles {
  private readonly readHandles: ReadHandles;
  /** Data files written without fdatasync since the last syncWritten (only when not durable). */
  private unsynced = new Set<string>();

  private constructor(
    private readonly dataDir: string,
    private readonly durable: boolean,
    readHandlesMax: number,
  ) {
    this.readHandles = new ReadHandles(readHandlesMax);
  }

  /**
   * Opens (creating when absent) the data directory of the target at `targetDir`, keeping up to
   * `readHandlesMax` data files open for reads.
   */
  static async open(
    targetDir: string,
    options: { durable: boolean; readHandlesMax: number },
  ): Promise<ChunkDataFiles> {
    const { durable } = options;
    const dataDir = join(targetDir, 'data');
    await mkdir(dataDir, { recursive: true });
    for (let index = 0; index < fanOut; index++) {
      await mkdir(join(dataDir, index.toString(16).padStart(2, '0')), { recursive: true });
    }
    const files = new ChunkDataFiles(dataDir, durable, options.readHandlesMax);
    if (durable) {
      await files.syncDirectory(dataDir);
      await files.syncDirectory(targetDir);
    }
    return files;
  }

  pathOf(chunkId: ChunkId, generation: number): string {
    assert(Number.isSafeInteger(generation) && generation >= 1, 'generations start at 1');
    return join(this.dataDir, fanOutDirectory(chunkId), `${formatChunkId(chunkId)}.${generation}`);
  }

  /** Writes a new data file holding `segments` from offset 0 (an existing file is replaced). */
  async create(chunkId: ChunkId, generation: number, segments: readonly Buffer[]): Promise<void> {
    const path = this.pathOf(chunkId, generation);
    this.readHandles.drop(path);
    const handle = await open(path, 'w');
    try {
      await writeAll(handle, segments, 0);
      if (this.durable) await handle.datasync();
    } finally {
      await handle.close();
    }
    if (this.durable) await this.syncDirectory(join(this.dataDir, fanOutDirectory(chunkId)));
    else this.unsynced.add(path);
  }

  /**
   * Writes a new data file of `length` bytes holding `pieces` at their positions; the bytes between
   * them are never written, so the file system keeps them as holes that read as zeros and take no
   * space (an existing file is replaced).
   */
  async createSparse(
    chunkId: ChunkId,
    generation: number,
    options: { length: number; pieces: ReadonlyArray<{ position: number; data: Buffer }> },
  ): Promise<void> {
    const path = this.pathOf(chunkId, generation);
    this.readHandles.drop(path);
    const handle = await open(path, 'w');
    try {
      for (const piece of options.pieces) {
        assert(piece.position + piece.data.length <= options.length, 'a piece lies inside the file');
        await writeAll(handle, [piece.data], piece.position);
      }
      await handle.truncate(options.length);
      if (this.durable) await handle.datasync();
    } finally {
      await handle.close();
    }
    if (this.durable) await this.syncDirectory(join(this.dataDir, fanOutDirectory(chunkId)));
    else this.unsynced.add(path);
  }

  /** Writes `segments` at `position` of an existing data file, or of a new one when `create`. */
  async writeAt(
    chunkId: ChunkId,
    generation: number,
    options: { position: number; segments: readonly Buffer[]; create: boolean },
  ): Promise<void> {
    const path = this.pathOf(chunkId, generation);
    // 'a' would ignore positions; O_CREAT without O_TRUNC is what 'r+' lacks and 'w' overdoes.
    const handle = await open(path, options.create ? 'wx' : 'r+').catch(async (error: unknown) => {
      if (options.create && (error as NodeJS.ErrnoException).code === 'EEXIST') return open(path, 'r+');
      throw error;
    });
    try {
      await writeAll(handle, options.segments, options.position);
      if (this.durable) await handle.datasync();
    } finally {
      await handle.close();
    }
    if (options.create && this.durable)
      await this.syncDirectory(join(this.dataDir, fanOutDirectory(chunkId)));
    if (!this.durable) this.unsynced.add(path);
  }

  /**
   * fdatasyncs every data file written since the last call, and the directories holding them (a
   * store opened without `durable` calls this from sync()). Files deleted meanwhile are skipped.
   */
  async syncWritten(): Promise<void> {
    const paths = [...this.unsynced];
    this.unsynced = new Set();
    const directories = new Set<string>();
    try {
      for (const path of paths) {
        const handle = await open(path, 'r+').catch((error: unknown) => {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw error;
        });
        if (handle === undefined) continue;
        try {
          await handle.datasync();
        } finally {
          await handle.close();
        }
        directories.add(dirname(path));
      }
      // The data directory and the target directory were created without a sync when not durable.
      if (directories.size > 0) directories.add(this.dataDir).add(dirname(this.dataDir));
      for (const directory of directories) await this.syncDirectory(directory);
    } catch (error) {
      for (const path of paths) this.unsynced.add(path);
      throw error;
    }
  }

  /** Reads up to `length` bytes at `position`; shorter only where the file ends. */
  async read(chunkId: ChunkId, generation: number, position: number, length: number): Promise<Buffer> {
    const { handle, release } = await this.readHandles.acquire(this.pathOf(chunkId, generation));
    try {
      const buffer = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === length ? buffer : buffer.subarray(0, filled);
    } finally {
      release();
    }
  }

  /** Deletes a data file; a file that is already gone is fine. */
  async remove(chunkId: ChunkId, generation: number): Promise<void> {
    await this.removePath(this.pathOf(chunkId, generation));
  }

  /** Deletes a file found by `list` (garbage collection of files no version refers to). */
  async removePath(path: string): Promise<void> {
    try {
      await unlink(path).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      });
    } finally {
      // Dropped once the name is gone, so no handle opened before the unlink stays cached.
      this.readHandles.drop(path);
    }
  }

  /** Closes the cached read handles (reads still running finish first). */
  close(): void {
    this.readHandles.dropAll();
  }

  /** Every file in the data directory, for garbage collection at start-up. */
  async list(): Promise<DataFileEntry[]> {
    const entries: DataFileEntry[] = [];
    for (let index = 0; index < fanOut; index++) {
      const directory = join(this.dataDir, index.toString(16).padStart(2, '0'));
      for (const name of await readdir(directory)) {
        const dot = name.lastIndexOf('.');
        const chunkId = dot < 0 ? undefined : parseChunkId(name.slice(0, dot));
        const generation = dot < 0 ? Number.NaN : Number(name.slice(dot + 1));
        const valid = chunkId !== undefined && Number.isSafeInteger(generation) && generation >= 1;
        entries.push({
          path: join(directory, name),
          chunkId: valid ? chunkId : undefined,
          generation: valid ? generation : 0,
        });
      }
    }
    return entries;
  }

  private async syncDirectory(path: string): Promise<void> {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

async function writeAll(handle: FileHandle, segments: readonly Buffer[], position: number): Promise<void> {
  let at = position;
  for (const segment of segments) {
    let written = 0;
    while (written < segment.length) {
      const { bytesWritten } = await handle.write(segment, written, segment.length - written, at + written);
      written += bytesWritten;
    }
    at += segment.length;
  }
}
