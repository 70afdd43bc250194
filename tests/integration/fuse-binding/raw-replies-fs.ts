/**
 * A tiny file system on the raw native binding (no TypeScript dispatcher in between) whose lookup
 * handler answers badly on purpose, to show the addon refuses bad input from JavaScript with
 * exceptions instead of crashing. Each misbehaving lookup prints `RESULT {"name":...,"refused":[codes]}`.
 *
 *   node --expose-gc --import tsx raw-replies-fs.ts MOUNTPOINT
 *
 * Names: "file" (a regular file whose read first tries an oversized reply), "double" (answers
 * twice), "wrong-types" (a series of malformed answers, then a valid one), "dropped" (never
 * answered; the handle is garbage collected), "throws" (the dispatcher throws), "late" (answered
 * after the session closed; stdin "close" closes it).
 */
import { createInterface } from 'node:readline';

import { Errno, loadNativeBinding, type NativeRequest } from '../../../src/fuse/lowlevel/index.js';

const mountpoint = process.argv[2];
if (mountpoint === undefined) throw new Error('usage: raw-replies-fs.ts MOUNTPOINT');

const binding = loadNativeBinding();
const { opcodes } = binding;
const session = new binding.FuseSession({
  operations: ['lookup', 'getattr', 'open', 'read'],
  fsName: 'raw-replies',
});
const now = BigInt(Date.now()) * 1_000_000n;
const directory = {
  mode: 0o40755,
  nlink: 2,
  uid: 0,
  gid: 0,
  size: 0,
  atimeNs: now,
  mtimeNs: now,
  ctimeNs: now,
};
const file = { mode: 0o100644, nlink: 1, uid: 0, gid: 0, size: 4, atimeNs: now, mtimeNs: now, ctimeNs: now };
let late: NativeRequest | undefined;

/** Runs `reply` and returns the code of the exception it threw, or "accepted". */
function attempt(reply: () => unknown): string {
  try {
    reply();
    return 'accepted';
  } catch (error) {
    return String((error as { code?: unknown }).code ?? (error as Error).name);
  }
}

function report(name: string, refused: string[]): void {
  console.log(`RESULT ${JSON.stringify({ name, refused })}`);
}

/** Collects garbage in a moment, from closures that cannot hold on to any request handle. */
function collectGarbageSoon(): void {
  for (const delayMs of [50, 300, 1_000]) setTimeout(() => globalThis.gc?.(), delayMs);
}

function lookup(handle: NativeRequest, name: string): void {
  const h = handle as unknown as Record<string, (...args: unknown[]) => unknown>;
  switch (name) {
    case 'file':
      handle.replyEntry(2n, 0n, file, 0, 0);
      return;
    case 'double': {
      handle.replyErr(Errno.ENOENT);
      report(name, [
        attempt(() => handle.replyErr(Errno.ENOENT)),
        attempt(() => handle.replyEntry(2n, 0n, file, 0, 0)),
      ]);
      return;
    }
    case 'wrong-types': {
      const refused = [
        attempt(() => h['replyEntry']?.('two', 0n, file, 0, 0)),
        attempt(() => h['replyEntry']?.(2n, 0n, { ...file, mode: 'x' }, 0, 0)),
        attempt(() => h['replyEntry']?.(2n, 0n, { ...file, size: -1 }, 0, 0)),
        attempt(() => h['replyEntry']?.(2n, 0n, { ...file, mode: 0o644 }, 0, 0)),
        attempt(() => h['replyEntry']?.(2n, 0n, { ...file, atimeNs: 5 }, 0, 0)),
        attempt(() => h['replyEntry']?.(2n, 0n, file, -1, 0)),
        attempt(() => h['replyEntry']?.(2n ** 64n, 0n, file, 0, 0)),
        attempt(() => h['replyAttr']?.(file, 0)),
        attempt(() => h['replyBuffer']?.('not bytes')),
        attempt(() => h['replyOk']?.()),
        attempt(() => h['replyNone']?.()),
        attempt(() => h['replyErr']?.(0)),
        attempt(() => h['replyErr']?.(100_000)),
        attempt(() => h['replyErr']?.(2.5)),
        attempt(() => h['replyErr']?.('ENOENT')),
        attempt(() => h['addDirentry']?.('x', 1n, 2n, 0o100000)),
      ];
      refused.push(attempt(() => handle.replyErr(Errno.ENOENT)));
      report(name, refused);
      return;
    }
    case 'dropped':
      // No answer, no reference kept: the handle's finalizer must answer for us.
      return collectGarbageSoon();
    case 'throws':
      throw new Error('the dispatcher itself threw');
    case 'late':
      late = handle;
      return;
    default:
      handle.replyErr(Errno.ENOENT);
  }
}

session.mount(mountpoint, (handle, op, ...args) => {
  if (handle === null) {
    if (op === opcodes['init']) console.log(`READY ${JSON.stringify({ pid: process.pid, connection: {} })}`);
    return;
  }
  const ino = args[0] as bigint;
  if (op === opcodes['lookup']) return lookup(handle, args[5] as string);
  if (op === opcodes['getattr']) return void handle.replyAttr(ino === 1n ? directory : file, 0);
  if (op === opcodes['open']) return void handle.replyOpen(0n, 1); // direct I/O: every read reaches us
  if (op === opcodes['read']) {
    const [offset, size] = [args[6] as bigint, args[7] as number];
    if (offset >= 4n) return void handle.replyBuffer(Buffer.alloc(0)); // end of file
    const refused = [attempt(() => handle.replyBuffer(Buffer.alloc(size + 1)))];
    handle.replyBuffer(Buffer.from('data'));
    return report('read', refused);
  }
  handle.replyErr(Errno.ENOSYS);
});

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'close') return;
  session.close();
  report('late', [attempt(() => late?.replyErr(Errno.ENOENT))]);
  process.exit(0);
});
