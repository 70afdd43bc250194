# One caller of the metadata benchmark (meta.bench.ts), a process of its own so that the kernel,
# and through it the FUSE daemon, sees as many callers as there are workers. It makes the system
# calls a user's shell tools make, through Python's thin wrappers of them.
#
# Usage: meta-worker.py DIRECTORY PREFIX COUNT. The files are DIRECTORY/PREFIX0 .. PREFIX<COUNT-1>.
# It prints {"ready": true} once started, then answers each command read from stdin (create, stat,
# readdir, unlink) with one JSON line: the units done (files, or directory entries for readdir) and
# the seconds they took, or the error that stopped it. It exits at the end of its input. Creates and
# unlinks are timed one by one too (a stat is too short for that to cost nothing): the answer then
# carries the median and 99th percentile of a call and how many calls took over SLOW_SECONDS, with
# the seconds they held, since a few slow calls can hold much of a run's time.
import json
import os
import sys
import time


SLOW_SECONDS = 0.002


def timed(call, paths):
    """Runs call(path) for each path; the units and what the calls' durations say."""
    clock = time.perf_counter_ns
    durations = []
    for path in paths:
        started = clock()
        call(path)
        durations.append(clock() - started)
    durations.sort()
    slow = [duration for duration in durations if duration > SLOW_SECONDS * 1e9]
    calls = {
        "p50Seconds": durations[len(durations) // 2] / 1e9 if durations else 0.0,
        "p99Seconds": durations[(len(durations) * 99) // 100] / 1e9 if durations else 0.0,
        "slowOverSeconds": SLOW_SECONDS,
        "slowCalls": len(slow),
        "slowSeconds": sum(slow) / 1e9,
    }
    return len(paths), calls


def create_one(path):
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))


def create(directory, paths):
    return timed(create_one, paths)


def stat(directory, paths):
    for path in paths:
        os.stat(path)
    return len(paths)


def readdir(directory, paths):
    # The whole directory, as `ls` lists it (getdents64 until the end); it may hold other
    # workers' files too, which count as entries read.
    return len(os.listdir(directory))


def unlink(directory, paths):
    return timed(os.unlink, paths)


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
            done = operation(directory, paths)
        except OSError as error:
            print(json.dumps({"error": f"{name}: {error}"}), flush=True)
            continue
        seconds = time.perf_counter() - started
        units, calls = done if isinstance(done, tuple) else (done, None)
        reply = {"units": units, "seconds": seconds}
        if calls is not None:
            reply["calls"] = calls
        print(json.dumps(reply), flush=True)


main()
