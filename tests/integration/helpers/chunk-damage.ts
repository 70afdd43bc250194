// Damage done to a storage target's files on disk, whichever chunk store wrote them, for the tests
// that must see checksum failures.
import { closeSync, fstatSync, openSync, readSync, readdirSync, writeSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/**
 * Damages every chunk under a target directory, whichever chunk store holds them: the first byte
 * of every data file of the files store (one file per chunk generation), or of every slot of the
 * native engine's data files (`chunk-engine/data/<slot bytes>-<n>.dat`: every block of every chunk
 * starts at a slot's first byte).
 */
export function damageChunkFiles(targetDir: string): number {
  const files = readdirSync(targetDir, { recursive: true, withFileTypes: true }).filter((entry) => {
    const where = relative(targetDir, entry.parentPath).split(sep);
    return entry.isFile() && (where[0] === 'data' || (where[0] === 'chunk-engine' && where[1] === 'data'));
  });
  if (files.length === 0) throw new Error(`no chunk data files under ${targetDir}`);
  for (const entry of files) {
    const path = join(entry.parentPath, entry.name);
    const slot = /^(\d+)-\d+\.dat$/.exec(entry.name);
    const slotBytes = slot === null ? Number.MAX_SAFE_INTEGER : Number(slot[1]);
    const fd = openSync(path, 'r+');
    try {
      const size = fstatSync(fd).size;
      for (let offset = 0; offset < Math.max(1, size); offset += slotBytes) {
        const byte = Buffer.alloc(1);
        readSync(fd, byte, 0, 1, offset);
        byte[0] = (byte[0] ?? 0) ^ 0xff;
        writeSync(fd, byte, 0, 1, offset);
      }
    } finally {
      closeSync(fd);
    }
  }
  return files.length;
}
