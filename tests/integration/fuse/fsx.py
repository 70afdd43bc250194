#!/usr/bin/env python3
"""An fsx-style randomized test of one file: random writes, reads checked against a byte-array
model, truncates, and fallocate in mode 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE (with and
without KEEP_SIZE), with fsyncs and reopens between them. Every read is compared with the model,
and the size after every call that may change it. The seed is printed first: the same seed and
arguments replay the same operations.

    fsx.py PATH --ops N [--seed S] [--max-size BYTES] [--chunk BYTES]

Offsets often fall on chunk and 4 KiB boundaries (``--chunk``, the file's chunk size) so that
whole chunks and whole blocks are punched, not only partial ones. Exits 0 after N operations, 1
at the first difference (with the operations that led there), 2 on bad arguments.
"""
import argparse
import collections
import ctypes
import ctypes.util
import os
import random
import sys
import time

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
libc.fallocate.restype = ctypes.c_int


def fallocate(fd, mode, offset, length):
    if libc.fallocate(fd, mode, offset, length) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"fallocate(mode={mode:#x}, {offset}, {length}): {os.strerror(code)}")


class Failure(Exception):
    pass


class Fsx:
    def __init__(self, path, seed, max_size, chunk):
        self.path = path
        self.random = random.Random(seed)
        self.max_size = max_size
        self.chunk = chunk
        self.model = bytearray()
        # Written bytes are slices of one seeded pool: cheap, reproducible, and misplaced bytes show.
        self.pool = self.random.randbytes(max_size + 2 * chunk)
        self.history = collections.deque(maxlen=40)
        self.counts = collections.Counter()
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)

    # --- choosing ranges -----------------------------------------------------------------

    def offset(self, limit):
        """An offset below `limit`, often on a chunk or 4 KiB boundary."""
        pick = self.random.random()
        if pick < 0.25:
            return self.random.randrange(0, max(1, limit // self.chunk + 1)) * self.chunk
        if pick < 0.45:
            return self.random.randrange(0, max(1, limit // 4096 + 1)) * 4096
        return self.random.randrange(0, max(1, limit))

    def length(self, offset, large):
        """A length from `offset` within the largest file, at least 1; mostly small for data,
        often several chunks for ranges (`large`), which cost no bytes on the wire."""
        room = max(1, self.max_size - offset)
        pick = self.random.random()
        if pick < (0.25 if large else 0.05):
            length = self.random.randrange(1, 3) * self.chunk
        elif pick < (0.4 if large else 0.3):
            length = self.random.randrange(1, 17) * 4096
        elif pick < (0.6 if large else 0.85):
            length = self.random.randrange(1, 8192)
        else:
            length = self.random.randrange(1, (4 if large else 2) * self.chunk)
        return max(1, min(length, room))

    # --- operations -----------------------------------------------------------------------

    def write(self):
        offset = self.offset(min(self.max_size - 1, len(self.model) + self.chunk))
        length = self.length(offset, large=False)
        start = self.random.randrange(0, len(self.pool) - length + 1)
        data = self.pool[start : start + length]
        self.note(f"write {offset} +{length}")
        done = os.pwrite(self.fd, data, offset)
        if done != length:
            raise Failure(f"pwrite wrote {done} of {length} bytes")
        if offset > len(self.model):
            self.model.extend(bytes(offset - len(self.model)))
        self.model[offset : offset + length] = data

    def read(self):
        size = len(self.model)
        offset = self.offset(size + 4096) if size > 0 else 0
        length = self.length(offset, large=False)
        self.note(f"read {offset} +{length}")
        self.check_read(offset, length)

    def check_read(self, offset, length):
        got = os.pread(self.fd, length, offset)
        expected = bytes(self.model[offset : offset + length])
        if got != expected:
            at = next((i for i in range(min(len(got), len(expected))) if got[i] != expected[i]), None)
            where = f"first difference at {offset + at}" if at is not None else "lengths differ"
            sample = got[at : at + 16].hex() if at is not None else ""
            want = expected[at : at + 16].hex() if at is not None else ""
            raise Failure(
                f"read {offset} +{length}: got {len(got)} bytes, expected {len(expected)}; {where}"
                + (f" (got {sample}, expected {want})" if at is not None else "")
            )

    def truncate(self):
        size = self.offset(self.max_size)
        self.note(f"truncate {size}")
        os.ftruncate(self.fd, size)
        if size < len(self.model):
            del self.model[size:]
        else:
            self.model.extend(bytes(size - len(self.model)))

    def allocate(self, mode):
        offset = self.offset(min(self.max_size - 1, len(self.model) + self.chunk))
        length = self.length(offset, large=True)
        self.note(f"fallocate {mode:#x} {offset} +{length}")
        fallocate(self.fd, mode, offset, length)
        end = offset + length
        keep = mode & FALLOC_FL_KEEP_SIZE
        if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
            cut = min(end, len(self.model))
            if offset < cut:
                self.model[offset:cut] = bytes(cut - offset)
        if not keep and end > len(self.model):
            self.model.extend(bytes(end - len(self.model)))
        # A punched or zeroed range reads as zeros at once, through the same descriptor.
        if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) and offset < len(self.model):
            self.check_read(offset, min(length, len(self.model) - offset))

    def fsync(self):
        self.note("fsync")
        os.fsync(self.fd)

    def reopen(self):
        self.note("reopen")
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_RDWR)

    def check_size(self):
        size = os.fstat(self.fd).st_size
        if size != len(self.model):
            raise Failure(f"size is {size}, expected {len(self.model)}")

    def check_all(self):
        self.note("check whole file")
        self.check_read(0, len(self.model) + 4096)

    def note(self, what):
        self.history.append(f"{self.step}: {what}")

    # --- the run --------------------------------------------------------------------------

    def run(self, ops):
        choices = [
            (self.write, 24),
            (self.read, 24),
            (self.truncate, 6),
            (lambda: self.allocate(0), 7),
            (lambda: self.allocate(FALLOC_FL_KEEP_SIZE), 7),
            (lambda: self.allocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE), 12),
            (lambda: self.allocate(FALLOC_FL_ZERO_RANGE), 6),
            (lambda: self.allocate(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE), 6),
            (self.fsync, 1),
            (self.reopen, 1),
        ]
        names = ["write", "read", "truncate", "allocate", "keep-size", "punch-hole",
                 "zero-range", "zero-range-keep-size", "fsync", "reopen"]
        operations = [choice[0] for choice in choices]
        weights = [choice[1] for choice in choices]
        for self.step in range(1, ops + 1):
            index = self.random.choices(range(len(operations)), weights)[0]
            operations[index]()
            self.counts[names[index]] += 1
            self.check_size()
            if self.step % 1000 == 0:
                self.check_all()
        self.step = ops
        self.reopen()
        self.check_size()
        self.check_all()
        os.close(self.fd)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--ops", type=int, required=True)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-size", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--chunk", type=int, default=256 * 1024)
    args = parser.parse_args()
    if args.ops < 1 or args.max_size < 2 or args.chunk < 1:
        parser.error("--ops, --max-size and --chunk must be positive")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"fsx: seed {seed}, {args.ops} operations, files up to {args.max_size} bytes, chunk {args.chunk}",
          flush=True)
    fsx = Fsx(args.path, seed, args.max_size, args.chunk)
    fsx.step = 0
    started = time.monotonic()
    try:
        fsx.run(args.ops)
    except (Failure, OSError) as error:
        print(f"fsx: FAILED at operation {fsx.step} (seed {seed}): {error}", flush=True)
        print("fsx: the last operations:", flush=True)
        for line in fsx.history:
            print(f"  {line}", flush=True)
        return 1
    elapsed = time.monotonic() - started
    counts = ", ".join(f"{name} {count}" for name, count in sorted(fsx.counts.items()))
    print(f"fsx: ok, {args.ops} operations in {elapsed:.1f} s (seed {seed}): {counts}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
