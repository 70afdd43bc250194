"""The I/O of the NFS benchmark (nfs.bench.ts), the same loop on two targets so that only the
path differs: an nfs:// URL served by libnfs (called through ctypes, since Node has no binding of
it), or a file on the FUSE mount (os.pwrite and os.pread).

  python3 nfs_io.py write|read|random TARGET FILE_BYTES [SECONDS]

write: the file in 1 MiB blocks, then fsync (a COMMIT over NFS); read: it back in 1 MiB blocks;
random: 4 KiB reads at random aligned offsets for SECONDS. Prints one JSON line with the rate.
libnfs 4.x (soname libnfs.so.13, Debian 12's) is expected: later versions changed pread's
arguments.
"""

import ctypes
import json
import os
import random
import sys
import time

BLOCK = 1024 * 1024
SMALL = 4096


class Url(ctypes.Structure):
    _fields_ = [("server", ctypes.c_char_p), ("path", ctypes.c_char_p), ("file", ctypes.c_char_p)]


class NfsFile:
    """A file through libnfs: mounted from the URL's directory, opened by the URL's file name."""

    def __init__(self, url, create):
        self.lib = ctypes.CDLL("libnfs.so.13")
        lib = self.lib
        lib.nfs_init_context.restype = ctypes.c_void_p
        lib.nfs_get_error.restype = ctypes.c_char_p
        lib.nfs_get_error.argtypes = [ctypes.c_void_p]
        lib.nfs_parse_url_full.restype = ctypes.POINTER(Url)
        lib.nfs_parse_url_full.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nfs_mount.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.nfs_open.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
        lib.nfs_create.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_void_p),
        ]
        for name in ("nfs_pread", "nfs_pwrite"):
            getattr(lib, name).argtypes = [
                ctypes.c_void_p,
                ctypes.c_void_p,
                ctypes.c_uint64,
                ctypes.c_uint64,
                ctypes.c_void_p,
            ]
        lib.nfs_fsync.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.nfs_close.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.nfs_destroy_context.argtypes = [ctypes.c_void_p]
        self.context = lib.nfs_init_context()
        parsed = lib.nfs_parse_url_full(self.context, url.encode())
        if not parsed:
            self.fail("parsing the URL")
        self.check(lib.nfs_mount(self.context, parsed.contents.server, parsed.contents.path or b"/"), "mount")
        handle = ctypes.c_void_p()
        if create:
            status = lib.nfs_create(self.context, parsed.contents.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, ctypes.byref(handle))
        else:
            status = lib.nfs_open(self.context, parsed.contents.file, os.O_RDONLY, ctypes.byref(handle))
        self.check(status, "open")
        self.handle = handle

    def fail(self, what):
        raise SystemExit(f"libnfs {what} failed: {self.lib.nfs_get_error(self.context).decode()}")

    def check(self, status, what):
        if status < 0:
            self.fail(what)

    def pwrite(self, data, offset):
        buffer = ctypes.c_char_p(data)
        written = self.lib.nfs_pwrite(self.context, self.handle, offset, len(data), buffer)
        self.check(written, "write")
        return written

    def pread(self, buffer, count, offset):
        read = self.lib.nfs_pread(self.context, self.handle, offset, count, buffer)
        self.check(read, "read")
        return read

    def fsync(self):
        self.check(self.lib.nfs_fsync(self.context, self.handle), "fsync")

    def close(self):
        self.lib.nfs_close(self.context, self.handle)
        self.lib.nfs_destroy_context(self.context)


class LocalFile:
    """A file on the mount."""

    def __init__(self, path, create):
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC if create else os.O_RDONLY
        self.fd = os.open(path, flags, 0o644)

    def pwrite(self, data, offset):
        return os.pwrite(self.fd, data, offset)

    def pread(self, buffer, count, offset):
        data = os.pread(self.fd, count, offset)
        ctypes.memmove(buffer, data, len(data))
        return len(data)

    def fsync(self):
        os.fsync(self.fd)

    def close(self):
        os.close(self.fd)


def open_target(target, create):
    return NfsFile(target, create) if target.startswith("nfs://") else LocalFile(target, create)


def main():
    mode, target, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    started = time.monotonic()
    if mode == "write":
        file = open_target(target, True)
        block = os.urandom(BLOCK)
        for offset in range(0, size, BLOCK):
            file.pwrite(block, offset)
        file.fsync()
        file.close()
        elapsed = time.monotonic() - started
        print(json.dumps({"mibPerSecond": size / BLOCK / elapsed}))
        return
    file = open_target(target, False)
    buffer = ctypes.create_string_buffer(BLOCK)
    if mode == "read":
        total = 0
        for offset in range(0, size, BLOCK):
            total += file.pread(buffer, BLOCK, offset)
        elapsed = time.monotonic() - started
        if total != size:
            raise SystemExit(f"read {total} bytes of {size}")
        print(json.dumps({"mibPerSecond": size / BLOCK / elapsed}))
    else:
        generator = random.Random(12345)
        slots = size // SMALL
        count = 0
        deadline = started + seconds
        while time.monotonic() < deadline:
            for _ in range(16):
                file.pread(buffer, SMALL, generator.randrange(slots) * SMALL)
            count += 16
        print(json.dumps({"opsPerSecond": count / (time.monotonic() - started)}))
    file.close()


main()
