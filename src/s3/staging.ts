/**
 * Where uploads are written before they become visible: the staging directory `.s3-staging` in
 * the export root (sticky and writable by everyone, as /tmp, but listed by no one), and the
 * multipart uploads directory `.s3-uploads`. Bucket names never start with ".", so neither is
 * ever a bucket.
 *
 * An upload is created in staging with the credentials of its key (so it belongs to that user and
 * counts against nothing else), written, given its metadata, and renamed into its bucket in one
 * meta transaction: a reader sees the whole object or the previous one, never a part. An upload
 * cut off (the client went away, the body failed its checks) is removed at once; one a crashed
 * gateway left is removed by the sweep once it is older than s3StagingMaxAgeMs.
 */
import { randomBytes } from 'node:crypto';
import type { Credentials, DirectoryInode, InodeId } from '../client/index.js';
import type { Clock } from '../common/clock.js';
import { assert, describeError, hasCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { MetaCode } from '../common/status-code.js';
import { joinPath } from './names.js';
import type { ObjectFs } from './object-fs.js';

export const stagingDirName = '.s3-staging';
export const uploadsDirName = '.s3-uploads';

/** The gateway's own credentials, for its directories and the sweep. */
export const gatewayCredentials: Credentials = { uid: 0, gid: 0, groups: [] };

/**
 * Writable and searchable by everyone, readable by no one but root, with the sticky bit: anyone
 * creates, only the owner removes or renames, and no one lists the others' uploads in progress
 * (whose names hold 64 random bits, so they cannot be guessed either).
 */
const sharedDirMode = 0o1733;

export class Staging {
  readonly stagingPath: string;
  readonly uploadsPath: string;
  private ready: Promise<void> | undefined;

  constructor(
    private readonly options: {
      fs: ObjectFs;
      exportRoot: string;
      nodeId: number;
      clock: Clock;
      logger: Logger;
    },
  ) {
    this.stagingPath = joinPath(options.exportRoot, stagingDirName);
    this.uploadsPath = joinPath(options.exportRoot, uploadsDirName);
  }

  /** Makes both directories once (again after a failure, e.g. before the export root existed). */
  ensure(): Promise<void> {
    this.ready ??= this.makeDirectories().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async makeDirectories(): Promise<void> {
    for (const path of [this.stagingPath, this.uploadsPath]) {
      const inode = await this.options.fs.mkdir(gatewayCredentials, path, sharedDirMode, true);
      if ((inode.mode & 0o7777) !== sharedDirMode || inode.uid !== 0) {
        await this.options.fs.client.setAttr({
          at: { path },
          cred: gatewayCredentials,
          mode: sharedDirMode,
          uid: 0,
          gid: 0,
        });
      }
    }
  }

  /** The layout files made in staging get (their directory's, which an upload's data has). */
  async layout(): Promise<DirectoryInode['layout']> {
    await this.ensure();
    const inode = await this.options.fs.stat(gatewayCredentials, this.stagingPath);
    assert(inode.type === 'directory', 'the staging directory is a directory');
    return inode.layout;
  }

  /** A fresh name in staging: the node, the time and randomness keep gateways from colliding. */
  tempPath(): string {
    const name = `${this.options.nodeId}.${this.options.clock.nowMs().toString(36)}.${randomBytes(8).toString('hex')}`;
    return joinPath(this.stagingPath, name);
  }

  /** The time a staging name was made at, or undefined for a name that is not one. */
  static timeOfName(name: string): number | undefined {
    const match = /^\d+\.([0-9a-z]+)\.[0-9a-f]{16}$/.exec(name);
    return match === null ? undefined : Number.parseInt(match[1] as string, 36);
  }

  /** Removes staging files older than the bound; returns how many went. */
  async sweep(): Promise<number> {
    const { fs, clock, logger } = this.options;
    let removed = 0;
    let cursor: string | undefined;
    const cutoffMs = clock.nowMs() - limits.s3StagingMaxAgeMs;
    for (let page = 0; page < 1000; page++) {
      const { entries, nextCursor } = await fs.readDirPage(
        gatewayCredentials,
        { path: this.stagingPath },
        limits.metaReaddirPageMax,
        cursor,
      );
      for (const entry of entries) {
        const madeMs = Staging.timeOfName(entry.name);
        if (madeMs === undefined || madeMs > cutoffMs || entry.type !== 'file') continue;
        try {
          await fs.unlink(gatewayCredentials, joinPath(this.stagingPath, entry.name));
          removed += 1;
        } catch (error) {
          if (!hasCode(error, MetaCode.NotFound)) {
            logger.warn(
              { name: entry.name },
              `could not remove a stale staging file: ${describeError(error)}`,
            );
          }
        }
      }
      if (nextCursor === null) break;
      cursor = nextCursor;
    }
    return removed;
  }

  /** Removes a staging file (an upload given up), logging rather than throwing. */
  async discard(cred: Credentials, path: string, ino?: InodeId): Promise<void> {
    try {
      await this.options.fs.unlink(cred, path);
    } catch (error) {
      if (hasCode(error, MetaCode.NotFound)) return;
      this.options.logger.warn(
        { path, ino: ino === undefined ? undefined : String(ino) },
        `could not remove a staging file: ${describeError(error)}`,
      );
    }
  }
}
