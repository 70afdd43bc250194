/**
 * Where the tools kept beside the project live (the offline Nix evaluator, the conformance
 * suites): `$THREEFS_SHARED_DIR` (by default the `shared` directory beside the repository), else
 * the `shared` directory beside the repository this one was cloned from when that is a local path.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

/** The first candidate path of `file` (relative to the shared directory) that is accessible as `mode`. */
export function findSharedFile(file: string, mode: number = constants.R_OK): string | undefined {
  const shared = process.env['THREEFS_SHARED_DIR'] || resolve(root, '../shared');
  const candidates = [join(shared, file)];
  const origin = spawnSync('git', ['-C', root, 'remote', 'get-url', 'origin'], { encoding: 'utf8' });
  const originPath = origin.status === 0 ? origin.stdout.trim().replace(/^file:\/\//, '') : '';
  if (isAbsolute(originPath)) candidates.push(resolve(originPath, '../shared', file));
  return candidates.find((path) => {
    try {
      accessSync(path, mode);
      return true;
    } catch {
      return false;
    }
  });
}
