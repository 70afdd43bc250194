// Proves that directory replies packed in TypeScript are byte for byte what libfuse packs, that the addon refuses damaged ones, that a listing of thousands of names (255-byte and multibyte ones included) reads back whole through readdir and readdirplus with the attributes readdirplus gave, and that telldir/seekdir resume where they say.
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { listingItems, listingNames } from './directory-listing.js';
import { cleanup, fuseSkipReason, python, repoRoot, startFs, type MountedFs } from './harness.js';

const skipReason = fuseSkipReason();
const directoryFs = join(repoRoot, 'tests/integration/fuse-binding/directory-fs.ts');
const entryCount = 3_000;
const seed = 20_240_601n;
const listingTimeoutMs = 60_000;

/** Names, inode numbers and d_type of a listing, and lstat of each name when asked. */
const listProgram = `
import json, os, stat, sys
out = []
with os.scandir(sys.argv[1]) as entries:
    for entry in entries:
        # From d_type alone (no stat): directory 4, regular file 8, symlink 10, anything else 0.
        kind = 4 if entry.is_dir(follow_symlinks=False) else 8 if entry.is_file(follow_symlinks=False) else 10 if entry.is_symlink() else 0
        out.append([entry.name, entry.inode(), kind])
if sys.argv[2] == 'stat':
    for item in out:
        try:
            s = os.lstat(os.path.join(sys.argv[1], item[0]))
            item.append([s.st_ino, s.st_mode, s.st_nlink, s.st_uid, s.st_gid, str(s.st_size), str(s.st_blocks), str(s.st_atime_ns), str(s.st_mtime_ns), str(s.st_ctime_ns)])
        except FileNotFoundError:
            item.append(None)
print(json.dumps(out))
`;

/** Reads the directory with libc's readdir, then seeks back to remembered telldir positions. */
const seekProgram = `
import ctypes, json, sys
libc = ctypes.CDLL(None, use_errno=True)
class Dirent(ctypes.Structure):
    _fields_ = [('d_ino', ctypes.c_uint64), ('d_off', ctypes.c_int64), ('d_reclen', ctypes.c_ushort), ('d_type', ctypes.c_ubyte), ('d_name', ctypes.c_char * 256)]
libc.opendir.restype = ctypes.c_void_p
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.telldir.argtypes = [ctypes.c_void_p]
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.rewinddir.argtypes = [ctypes.c_void_p]
libc.closedir.argtypes = [ctypes.c_void_p]
d = libc.opendir(sys.argv[1].encode())
def next_name():
    entry = libc.readdir(d)
    return entry.contents.d_name.decode() if entry else None
positions = []
while True:
    position = libc.telldir(d)
    name = next_name()
    if name is None: break
    positions.append((position, name))
checks = []
for index in [len(positions) - 1, 0, 2, len(positions) // 2, 1, len(positions) // 3 + 7]:
    position, name = positions[index]
    libc.seekdir(d, position)
    checks.append([name, next_name(), next_name()])
libc.rewinddir(d)
checks.append([positions[0][1], next_name()])
libc.closedir(d)
print(json.dumps({'names': [name for _, name in positions], 'checks': checks}))
`;

interface Compared {
  plus: boolean;
  entries: number;
  bytes: number;
  equal: boolean;
}

function comparisons(fs: MountedFs): Compared[] {
  return fs
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('COMPARED '))
    .map((line) => JSON.parse(line.slice('COMPARED '.length)) as Compared);
}

/** Codes of the damaged replies the addon refused, from the first reply of a listing. */
function refusals(fs: MountedFs): string[] {
  const line = fs
    .stdout()
    .split('\n')
    .find((text) => text.startsWith('REFUSED '));
  return line === undefined ? [] : (JSON.parse(line.slice('REFUSED '.length)) as string[]);
}

type Listed = [string, number, number, (string | number)[] | null | undefined];

/** The d_type class the listing program reports for `mode`. */
function kindOf(mode: number): number {
  const type = (mode & 0o170000) >> 12;
  return type === 4 || type === 8 || type === 10 ? type : 0;
}

async function list(directory: string, withStat: boolean): Promise<Listed[]> {
  const result = await python(listProgram, [directory, withStat ? 'stat' : 'names'], {
    timeoutMs: listingTimeoutMs,
  });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as Listed[];
}

describe.skipIf(skipReason !== undefined)('directory replies packed in TypeScript', () => {
  afterEach(cleanup);

  it('packs readdir replies as libfuse does and lists every name with its inode and type', async () => {
    const fs = await startFs([String(entryCount), String(seed), 'never'], { script: directoryFs });
    const listed = await list(fs.mountpoint, false);
    const items = listingItems(entryCount, seed);
    expect(listed.map(([name]) => name).sort()).toEqual(listingNames(entryCount).sort());
    const byName = new Map(items.map((item) => [item.name, item]));
    for (const [name, ino, kind] of listed) {
      const item = byName.get(name);
      expect(BigInt(ino)).toBe(item?.ino);
      expect(kind).toBe(kindOf(item?.mode ?? 0));
    }
    const replies = comparisons(fs);
    expect(refusals(fs)).toEqual(Array(10).fill('ERR_FUSE_INVALID_REPLY'));
    expect(replies.length).toBeGreaterThan(1);
    expect(replies.every((reply) => !reply.plus && reply.equal)).toBe(true);
    expect(replies.reduce((sum, reply) => sum + reply.entries, 0)).toBe(entryCount + 2);
  });

  it('packs readdirplus replies as libfuse does, and the kernel keeps the attributes they carry', async () => {
    const fs = await startFs([String(entryCount), String(seed), 'always'], { script: directoryFs });
    const listed = await list(fs.mountpoint, true);
    const replies = comparisons(fs);
    expect(refusals(fs)).toEqual(Array(10).fill('ERR_FUSE_INVALID_REPLY'));
    expect(replies.every((reply) => reply.plus && reply.equal)).toBe(true);
    expect(replies.reduce((sum, reply) => sum + reply.entries, 0)).toBeGreaterThanOrEqual(entryCount + 2);
    const byName = new Map(listingItems(entryCount, seed).map((item) => [item.name, item]));
    expect(listed.length).toBe(entryCount);
    for (const [name, ino, kind, status] of listed) {
      const item = byName.get(name);
      expect(item, name).toBeDefined();
      expect(BigInt(ino)).toBe(item?.ino);
      const attributes = item?.entry?.attributes;
      if (attributes === undefined) {
        // Not instantiated, and lookups are refused: the name exists for the listing only.
        expect(status).toBeNull();
        continue;
      }
      expect(kind).toBe(kindOf(attributes.mode));
      expect(status).toEqual([
        Number(item?.ino),
        attributes.mode,
        attributes.nlink,
        attributes.uid,
        attributes.gid,
        String(attributes.size),
        String(attributes.blocks ?? (BigInt(attributes.size) + 511n) / 512n),
        String(attributes.atimeNs),
        String(attributes.mtimeNs),
        String(attributes.ctimeNs),
      ]);
    }
  });

  it('lists a large directory of the dispatcher-served memfs whole, and telldir/seekdir resume there', async () => {
    const fs = await startFs();
    const names = listingNames(entryCount);
    const directory = join(fs.mountpoint, 'big');
    const made = await python(
      'import os, sys, json\nos.mkdir(sys.argv[1])\nfor name in json.load(sys.stdin): open(os.path.join(sys.argv[1], name), "w").close()',
      [directory],
      { input: JSON.stringify(names), timeoutMs: listingTimeoutMs },
    );
    expect(made.stderr).toBe('');
    for (const withStat of [false, true]) {
      const listed = await list(directory, withStat);
      expect(listed.map(([name]) => name).sort()).toEqual([...names].sort());
    }
    const seek = await python(seekProgram, [directory], { timeoutMs: listingTimeoutMs });
    expect(seek.stderr).toBe('');
    const { names: read, checks } = JSON.parse(seek.stdout) as { names: string[]; checks: string[][] };
    expect(read.filter((name) => name !== '.' && name !== '..').sort()).toEqual([...names].sort());
    for (const check of checks) {
      const [expected, ...after] = check;
      expect(after[0]).toBe(expected);
      // The name after it is the one that followed it in the first pass.
      if (after.length > 1 && expected !== read[read.length - 1]) {
        expect(after[1]).toBe(read[read.indexOf(expected as string) + 1]);
      }
    }
  });
});
