/**
 * `admin clone SRC DST`: a copy-on-write clone of a file or a whole tree (client/clone.ts), through
 * the client library as the calling user. Every cloned file shares its chunks with its source until
 * either side writes them, so a clone takes metadata time, not data time. Paths are absolute paths
 * in the file system; DST must not exist and must not lie inside SRC.
 */
import type { Command } from 'commander';
import type { FsClient } from '../../client/index.js';
import { FsError } from '../../common/errors.js';
import { CommonCode } from '../../common/status-code.js';
import { formatBytes, printMessage, type Output } from '../output.js';

/** What the clone command needs of the CLI: a client as the calling user, and where to print. */
export interface CloneCommandContext {
  withClient<T>(use: (client: FsClient) => Promise<T>): Promise<T>;
  output(): Output;
}

/** An absolute path of the file system, as the command takes it. */
export function parseClonePath(value: string): string {
  if (!value.startsWith('/')) {
    throw new FsError(
      CommonCode.InvalidArgument,
      `"${value}" is not an absolute path in the file system (one starting with "/")`,
    );
  }
  if (value.split('/').some((part) => part === '.' || part === '..')) {
    throw new FsError(
      CommonCode.InvalidArgument,
      `"${value}" has a "." or ".." component: name the path plainly`,
    );
  }
  return value;
}

/** `clone SRC DST`. */
export async function commandClone(
  client: FsClient,
  output: Output,
  source: string,
  target: string,
): Promise<void> {
  const startedMs = performance.now();
  const summary = await client.clone(source, target);
  const elapsedMs = Math.round(performance.now() - startedMs);
  const parts = [`${summary.files} file(s) (${formatBytes(Number(summary.bytes))} shared)`];
  if (summary.directories > 0) parts.push(`${summary.directories} directorie(s)`);
  if (summary.symlinks > 0) parts.push(`${summary.symlinks} symlink(s)`);
  if (summary.skipped > 0) parts.push(`${summary.skipped} special file(s) left out`);
  printMessage(
    output,
    { source, target, ...summary, bytes: String(summary.bytes), elapsedMs },
    `cloned ${source} to ${target}: ${parts.join(', ')} in ${elapsedMs} ms`,
  );
}

/** Adds `clone`. */
export function addCloneCommand(program: Command, context: CloneCommandContext): void {
  program
    .command('clone <source> <target>')
    .description(
      'copy a file or a tree in metadata time: the copy shares chunks with the source until one side writes (copy on write)',
    )
    .action((source: string, target: string) => {
      const from = parseClonePath(source);
      const to = parseClonePath(target);
      return context.withClient((client) => commandClone(client, context.output(), from, to));
    });
}
