/**
 * The soft limit on open file descriptors of this process (RLIMIT_NOFILE), read from
 * /proc/self/limits, for sizing caches of open files so they never starve sockets of descriptors.
 * Where it cannot be read (not Linux), the common default of 1024 is assumed.
 */
import { readFileSync } from 'node:fs';

/** The limit assumed when the real one cannot be read. */
export const openFilesLimitFallback = 1024;

/** Parses the "Max open files" line of /proc/self/limits (soft limit; "unlimited" is large). */
export function parseOpenFilesLimit(limitsText: string): number | undefined {
  const line = limitsText.split('\n').find((text) => text.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined) return undefined;
  if (soft === 'unlimited') return Number.MAX_SAFE_INTEGER;
  const value = Number(soft);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** This process's soft limit on open files. */
export function openFilesLimit(): number {
  try {
    return parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8')) ?? openFilesLimitFallback;
  } catch {
    return openFilesLimitFallback;
  }
}
