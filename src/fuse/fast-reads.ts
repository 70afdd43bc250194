/**
 * Reads the FUSE binding answers without JavaScript (native/fuse/src/fast-reads.h): once a read
 * of a handle was served here, the handle is registered with the binding, which then sends the
 * handle's small reads straight to the storage service the client would read from first, over
 * connections of its own, and answers the kernel itself. The binding takes only reads it can
 * answer exactly (one chunk, inside the registered length, the replica's bytes checked against
 * their CRC32C) and hands every other one back unanswered, so this is never more than a shortcut
 * for reads JavaScript would have answered with the same bytes.
 *
 * What keeps it exact: a handle is registered only while its file has no write buffer in this
 * client (OpenFile.quietFile), with the length this client sees, and every change that could make
 * a read answer differently (a write, truncate, hole punched, new length from meta) makes the
 * client call `fileChanged` first, which drops the file's handles from the binding until their
 * next read here. Routing is pushed per chain object (a routing refresh makes new ones); a replica
 * that stopped serving refuses reads, which then come back here.
 */
import { describeError } from '../common/errors.js';
import type { Clock } from '../common/clock.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { readGroups, type RoutingCache } from '../cluster/index.js';
import type { FileRef } from '../client/file-data.js';
import type { InodeId } from '../meta/protocol/index.js';
import type { ChainInfo } from '../mgmtd/protocol/index.js';
import type { FastReadStats, FastReadsNative } from './lowlevel/index.js';

export interface FastReadPathOptions {
  readonly native: FastReadsNative;
  readonly routing: RoutingCache;
  /** Opens an authenticated connection to a storage service and hands its descriptor over. */
  readonly handOver: (address: string, takeOver: (fd: number) => void) => Promise<void>;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** How long a storage address whose connection failed to open is left alone. */
const reconnectPauseMs = 2_000;
/** How often reads of registered handles that still come here look at routing and connections. */
const recheckIntervalMs = 500;

export class FastReadPath {
  /** Registered handles by fh, with the inode they read, and the same by inode. */
  private readonly handles = new Map<bigint, InodeId>();
  private readonly handlesOf = new Map<InodeId, Set<bigint>>();
  /** The chain objects last pushed to the binding, by chain id. */
  private readonly pushedChains = new Map<number, ChainInfo>();
  private readonly pushedTargets = new Map<number, string>();
  /** Addresses being connected, or left alone until the time stored. */
  private readonly connecting = new Set<string>();
  private readonly pausedUntil = new Map<string, number>();
  private closed = false;
  /** When a registered handle's read that came here next looks at routing and connections. */
  private recheckAt = 0;

  constructor(private readonly options: FastReadPathOptions) {}

  /**
   * After this client served a read of `fh`: registers the handle when its file is quiet (see the
   * file comment), with the routing of its chains, and starts connections the binding lacks.
   */
  offer(fh: bigint, quiet: { file: FileRef; length: bigint } | undefined): void {
    if (this.closed || quiet === undefined || quiet.length === 0n) return;
    const { file, length } = quiet;
    const layout = file.layout;
    // A registered handle whose read came here: a connection was lost, or routing changed.
    const now = this.options.clock.monotonicMs();
    if (this.handles.has(fh) && now < this.recheckAt) return;
    this.recheckAt = now + recheckIntervalMs;
    let routed = true;
    for (const chainId of new Set(layout.chains)) routed = this.pushChain(chainId) && routed;
    if (!routed) return;
    const chains = Array.from({ length: layout.stripeSize }, (_, position) =>
      file.placement.chainOf(BigInt(position)),
    );
    this.options.native.setFile(fh, file.ino, layout.chunkSizeBytes, length, chains);
    this.handles.set(fh, file.ino);
    let same = this.handlesOf.get(file.ino);
    if (same === undefined) {
      same = new Set();
      this.handlesOf.set(file.ino, same);
    }
    same.add(fh);
  }

  /** The handle is released: the binding forgets it. */
  released(fh: bigint): void {
    const ino = this.handles.get(fh);
    if (ino === undefined) return;
    this.handles.delete(fh);
    const same = this.handlesOf.get(ino);
    same?.delete(fh);
    if (same?.size === 0) this.handlesOf.delete(ino);
    this.options.native.forgetFile(fh);
  }

  /**
   * A read of `ino` may answer differently from now on: its handles leave the binding. Called on
   * every write, so it costs nothing for a file with no registered handle.
   */
  fileChanged(ino: InodeId): void {
    const same = this.handlesOf.get(ino);
    if (same === undefined) return;
    this.handlesOf.delete(ino);
    for (const fh of same) this.handles.delete(fh);
    this.options.native.forgetInode(ino);
  }

  stats(): FastReadStats {
    return this.options.native.stats();
  }

  close(): void {
    this.closed = true;
  }

  /** Pushes the chain's read order and its targets' addresses; false when it cannot be read here yet. */
  private pushChain(chainId: number): boolean {
    const chain = this.options.routing.chain(chainId);
    if (chain === undefined) return false;
    const addressOf = (targetId: number) => this.options.routing.addressOfTarget(targetId);
    if (this.pushedChains.get(chainId) !== chain) {
      const groups = readGroups(chain, addressOf);
      for (const targetId of groups.flat()) {
        const address = addressOf(targetId);
        if (address !== undefined && this.pushedTargets.get(targetId) !== address) {
          this.options.native.setTarget(targetId, address);
          this.pushedTargets.set(targetId, address);
        }
      }
      this.options.native.setChain(chainId, groups);
      this.pushedChains.set(chainId, chain);
    }
    // Reads whose replica has no connection yet simply come back here meanwhile.
    for (const member of chain.targets) {
      const address = addressOf(member.targetId);
      if (address !== undefined && !this.options.native.hasConnection(address)) this.connect(address);
    }
    return true;
  }

  private connect(address: string): void {
    if (this.connecting.has(address)) return;
    const now = this.options.clock.monotonicMs();
    if ((this.pausedUntil.get(address) ?? 0) > now) return;
    this.connecting.add(address);
    const { native, logger } = this.options;
    this.options
      .handOver(address, (fd) => {
        if (this.closed) return;
        const result = native.connect(address, fd);
        if (result !== 0) throw new Error(`the binding refused the connection (errno ${-result})`);
      })
      .catch((error: unknown) => {
        this.pausedUntil.set(address, this.options.clock.monotonicMs() + reconnectPauseMs);
        logger.debug(
          { address, err: error },
          `fast reads: no connection to ${address}: ${describeError(error)}`,
        );
      })
      .finally(() => this.connecting.delete(address));
  }
}

/** The binding's options for the daemon's fast reads. */
export function fastReadOptions(readBytesMax: number): {
  readBytesMax: number;
  regionBytes: number;
  timeoutMs: number;
  penaltyMs: number;
} {
  return {
    readBytesMax,
    regionBytes: limits.clientReadRegionBytes,
    timeoutMs: limits.clientChunkTimeoutMsDefault,
    penaltyMs: 2_000,
  };
}
