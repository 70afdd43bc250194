/**
 * Read channels: connections on which Storage.read is answered by the chunk engine's read server
 * (native/chunk-engine/src/read-server.h) instead of this process's JavaScript. A client asks
 * with Storage.openReadChannel; after the reply the connection belongs to the read server. It
 * serves a target's reads only while the JavaScript handler would (the node serving, the target
 * readable in routing info): that state is pushed to it on every routing update and checked on a
 * short timer (fencing and stopping change it without one). Its reads count in the targets'
 * counters like any other. A channel opened with a user token is closed within one refresh of the
 * token's revocation (the JavaScript handler looks the token up at every request).
 */
import { FsError } from '../common/errors.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { CommonCode } from '../common/status-code.js';
import type { RoutingCache } from '../cluster/index.js';
import type { RpcHandlers, TokenVerifier } from '../rpc/index.js';
import { isReadable } from './craq/forward-plan.js';
import { storageMethods } from './protocol/index.js';
import { chunkEngineAddon, type NativeReadServer } from './store/native-chunk-engine.js';
import type { TargetRegistry } from './storage-target.js';

/** How often the targets' readability is pushed without a routing update. */
const refreshIntervalMs = 100;

export interface ReadChannelsOptions {
  readonly targets: TargetRegistry;
  readonly routing: RoutingCache;
  /** False while the process rejoins, after it fenced itself, and while stopping. */
  readonly serving: () => boolean;
  /** The user tokens the RPC server accepts: a channel opened with one closes once it is revoked. */
  readonly tokens: TokenVerifier | undefined;
  /** The largest read a channel serves (larger ones are refused, and go the JavaScript way). */
  readonly readBytesMax: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

export class ReadChannels {
  private server: NativeReadServer | undefined;
  private timer: TimerHandle | undefined;
  /** Channels opened with a user token, by id, with the token's id: closed once it is revoked. */
  private readonly userChannels = new Map<number, string>();

  private constructor(
    private readonly options: ReadChannelsOptions,
    server: NativeReadServer,
  ) {
    this.server = server;
  }

  /**
   * The read channels of this process, or undefined where every target is not on the native
   * engine with io_uring (the read server reads through the engines' read rings only).
   */
  static start(options: ReadChannelsOptions): ReadChannels | undefined {
    const targets = options.targets.all();
    const engines = targets.map((target) => target.store.readServerEngine?.());
    if (targets.length === 0 || engines.some((engine) => engine === undefined)) return undefined;
    const server = new (chunkEngineAddon().ReadServer)(options.readBytesMax);
    targets.forEach((target, index) => {
      const engine = engines[index];
      if (engine !== undefined) server.setTarget(target.targetId, engine, false);
    });
    const channels = new ReadChannels(options, server);
    channels.refresh();
    options.routing.onUpdate(() => channels.refresh());
    channels.schedule();
    return channels;
  }

  /** Registers Storage.openReadChannel on `server`. */
  static register(server: RpcHandlers, channels: ReadChannels | undefined): void {
    server.handle(
      storageMethods.openReadChannel,
      async (_request, context) => {
        const readServer = channels?.server;
        if (readServer === undefined) {
          throw new FsError(CommonCode.NotImplemented, 'this storage service serves no read channels');
        }
        const caller = context.caller;
        context.handOverConnection((fd) => {
          const id = readServer.adopt(fd);
          if (id < 0) throw new Error(`the read server refused the connection (errno ${-id})`);
          // A user token is looked up again at every request here; a channel's, at every refresh.
          if (caller.kind === 'user') channels?.userChannels.set(id, caller.tokenId);
        });
        return {};
      },
      'user',
    );
  }

  /** Pushes every target's readability and takes the reads served into the targets' counters. */
  refresh(): void {
    const server = this.server;
    if (server === undefined) return;
    const serving = this.options.serving();
    for (const target of this.options.targets.all()) {
      // What StorageService.readableTarget asks of a target, and a disk that has not failed.
      const readable =
        serving &&
        target.diskFailure === undefined &&
        isReadable(this.options.routing.publicState(target.targetId));
      server.setReadable(target.targetId, readable);
    }
    for (const [id, tokenId] of this.userChannels) {
      const revoked = this.options.tokens?.lookup(tokenId) === undefined;
      if (revoked) server.closeConnection(id);
      if (revoked || !server.isOpen(id)) this.userChannels.delete(id);
    }
    for (const { targetId, reads, bytes } of server.takeCounters()) {
      const counters = this.options.targets.find(targetId)?.counters;
      if (counters === undefined) continue;
      counters.reads += reads;
      counters.bytesRead += bytes;
    }
  }

  /** Closes every channel (before the engines close). */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.refresh();
    this.server?.close();
    this.server = undefined;
  }

  private schedule(): void {
    this.timer = this.options.clock.setTimer(refreshIntervalMs, () => {
      this.refresh();
      if (this.server !== undefined) this.schedule();
    });
  }
}
