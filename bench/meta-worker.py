# One caller of the metadata benchmark (meta.bench.ts), a process of its own so that the kernel,
# and through it the FUSE daemon, sees as many callers as there are workers. It makes the system
# calls a user's shell tools make, through Python's thin wrappers of them.
#
# Usage: meta-worker.py DIRECTORY PREFIX COUNT. The files are DIRECTORY/PREFIX0 .. PREFIX<COUNT-1>.
# It prints {"ready": true} once started, then answers each command read from stdin (create, stat,
# readdir, unlink) with one JSON line: the units done (files, or directory entries for readdir) and
# the seconds they took, or the error that stopped it. It exits at the end of its input.
import json
import os
import sys
import time


def create(directory, paths):
    for path in paths:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    return len(paths)


def stat(directory, paths):
    for path in paths:
        os.stat(path)
    return len(paths)


def readdir(directory, paths):
    # The whole directory, as `ls` lists it (getdents64 until the end); it may hold other
    # workers' files too, which count as entries read.
    return len(os.listdir(directory))


def unlink(directory, paths):
    for path in paths:
        os.unlink(path)
    return len(paths)


operations = {"create": create, "stat": stat, "readdir": readdir, "unlink": unlink}


def main():
    directory, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    paths = [os.path.join(directory, f"{prefix}{index}") for index in range(count)]
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        name = line.strip()
        operation = operations.get(name)
        if operation is None:
            print(json.dumps({"error": f"unknown command {name!r}"}), flush=True)
            continue
        started = time.perf_counter()
        try:
            units = operation(directory, paths)
        except OSError as error:
            print(json.dumps({"error": f"{name}: {error}"}), flush=True)
            continue
        print(json.dumps({"units": units, "seconds": time.perf_counter() - started}), flush=True)


main()
