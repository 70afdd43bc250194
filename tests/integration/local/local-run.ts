// Helpers of the `3fs local` tests: a free family of ports, and the processes a run started,
// found through /proc by their parent links (they outlive a killed launcher only as orphans).
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port }, () => server.close(() => resolve(true)));
  });
}

/**
 * A base port whose whole family (mgmtd, meta, storage, collector) is free, below the kernel's
 * range of ephemeral ports (from 32768 by default): a port in that range may be free when chosen
 * and taken by some process's outgoing connection when a second run listens on it again.
 */
export async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * 22_000);
    const family = [base, base + 10, base + 21, base + 22, base + 23, base + 90, base + 91];
    let free = true;
    for (const port of family) free &&= await portFree(port);
    if (free) return base;
  }
  throw new Error('no free ports found');
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One process as /proc shows it; `startTicks` tells it from a later one with the same pid. */
export interface ProcessEntry {
  pid: number;
  ppid: number;
  startTicks: string;
  command: string;
}

function readEntry(pid: number): (ProcessEntry & { state: string }) | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may hold spaces; the fields after it do not.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return {
      pid,
      state: fields[0] ?? '',
      ppid: Number(fields[1]),
      startTicks: fields[19] ?? '',
      command,
    };
  } catch {
    return undefined;
  }
}

/** Every process below `rootPid` (children, their children, ...), as they are now. */
export function descendants(rootPid: number): ProcessEntry[] {
  const all: ProcessEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const entry = readEntry(Number(name));
    if (entry !== undefined) all.push(entry);
  }
  const found: ProcessEntry[] = [];
  const parents = new Set([rootPid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const entry of all) {
      if (parents.has(entry.ppid) && !parents.has(entry.pid)) {
        parents.add(entry.pid);
        found.push(entry);
        grew = true;
      }
    }
  }
  return found;
}

/** True while the very process of `entry` runs (not a zombie, not a new process with its pid). */
export function stillRunning(entry: ProcessEntry): boolean {
  const now = readEntry(entry.pid);
  return now !== undefined && now.startTicks === entry.startTicks && now.state !== 'Z';
}
