/**
 * The handler of every meta RPC method: which transaction kind it runs in, how many inode ids it
 * may create, and which operation it runs. The operations themselves live in ops/.
 */
import { assert } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { MethodDef } from '../rpc/index.js';
import { checkInvariants } from './fsck/invariant-checker.js';
import type { MetaService } from './meta-service.js';
import { pruneSessionsPage, removeDanglingEntries, setDirectoryLayout } from './ops/admin.js';
import { hardLink } from './ops/link.js';
import { makeSymlink, mkdirs, mkdirsIdsNeeded } from './ops/mkdir.js';
import { cloneFile } from './ops/clone.js';
import { makeSpecial } from './ops/mknod.js';
import { createFile, openFile } from './ops/open.js';
import { batchStat, lookupEntry, readDirectory, readLink, statPath } from './ops/read.js';
import { rename } from './ops/rename.js';
import { applyWriterReport, closeSession } from './ops/sessions.js';
import { setAttr } from './ops/setattr.js';
import { getXattr, listXattr, removeXattr, setXattr } from './ops/xattr.js';
import { metaMethods as m, type Credentials } from './protocol/index.js';
import { registerLockHandlers } from './locks/lock-handlers.js';
import { registerS3KeyHandlers } from './s3-keys.js';
import { registerTrashHandlers } from './trash/trash-handlers.js';
import { registerQuotaHandlers } from './quota/quota-handlers.js';
import { checkLinkQuotas, moveQuotas } from './quota/quota-moves.js';
import { removeFollowingPolicy } from './trash/trash-remove.js';

/** Where handlers are registered. */
export interface HandlerTable {
  on<Req, Res>(method: MethodDef<Req, Res>, handler: (request: Req) => Promise<Res>): void;
}

/** The credentials of the service's own housekeeping. */
const systemCredentials: Credentials = { uid: 0, gid: 0, groups: [] };

/** Pages one pruneSessions call may run: a bound on one call's work (10 million sessions). */
const prunePagesMax = Math.ceil(10_000_000 / limits.metaSessionsPrunedPerTransaction);

export function registerHandlers(service: MetaService, table: HandlerTable): void {
  registerReads(service, table);
  registerNamespaceChanges(service, table);
  registerFileChanges(service, table);
  registerHousekeeping(service, table);
  registerLockHandlers({ kv: service.options.kv, clock: service.options.clock }, table);
  registerS3KeyHandlers({ kv: service.options.kv, clock: service.options.clock }, table);
  registerTrashHandlers(service, table);
  registerQuotaHandlers(service, table);
}

function registerReads(service: MetaService, table: HandlerTable): void {
  table.on(m.statFs, async () => {
    const { capacityBytes, usedBytes, freeBytes } = service.options.capacity();
    const inodes = await service.inodesInUse();
    return {
      capacityBytes,
      usedBytes,
      freeBytes,
      inodesInUse: inodes === undefined ? null : Number(inodes),
      nameBytesMax: limits.metaNameBytesMax,
      chunkSizeBytes: await service.rootChunkSizeBytes(),
    };
  });
  table.on(m.stat, async (request) => ({
    inode: await service.read(request.cred, (reader, cred) =>
      statPath(reader, cred, request.at, request.followLast ?? true),
    ),
  }));
  table.on(m.lookup, async (request) => ({
    inode: await service.read(request.cred, (reader, cred) =>
      lookupEntry(reader, cred, request.parent, request.name),
    ),
  }));
  // Inode ids work as capabilities here, as NFS file handles do: the caller reached them through
  // lookups that checked search permission on the way.
  table.on(m.batchStat, async (request) => ({
    inodes: await service.read(request.cred, (reader) => batchStat(reader, request.inos)),
  }));
  table.on(m.readlink, async (request) => ({
    target: await service.read(request.cred, (reader, cred) => readLink(reader, cred, request.at)),
  }));
  table.on(m.readDir, async (request) =>
    service.read(request.cred, (reader, cred) => readDirectory(reader, cred, request)),
  );
  table.on(m.getXattr, async (request) => ({
    value: await service.read(request.cred, (reader, cred) => getXattr(reader, cred, request)),
  }));
  table.on(m.changes, async (request) =>
    service.changeLog.since(request.epoch, request.after, request.limit),
  );
  table.on(m.listXattr, async (request) => ({
    names: await service.read(request.cred, (reader, cred) => listXattr(reader, cred, request)),
  }));
}

function registerNamespaceChanges(service: MetaService, table: HandlerTable): void {
  table.on(m.create, async (request) =>
    service.mutate(request, { ids: 1 }, (writer, ctx) => createFile(writer, ctx, request)),
  );
  table.on(m.mkdirs, async (request) => ({
    inode: await service.mutate(request, { ids: mkdirsIdsNeeded(request) }, (writer, ctx) =>
      mkdirs(writer, ctx, request),
    ),
  }));
  table.on(m.symlink, async (request) => ({
    inode: await service.mutate(request, { ids: 1 }, (writer, ctx) => makeSymlink(writer, ctx, request)),
  }));
  table.on(m.cloneFile, async (request) =>
    service.mutate(request, { ids: 1 }, (writer, ctx) => cloneFile(writer, ctx, request)),
  );
  table.on(m.mknod, async (request) => ({
    inode: await service.mutate(request, { ids: 1 }, (writer, ctx) => makeSpecial(writer, ctx, request)),
  }));
  table.on(m.hardLink, async (request) => ({
    inode: await service.mutate(request, { ids: 0 }, (writer, ctx) =>
      hardLink(writer, ctx, request, {
        beforeLink: (link) => checkLinkQuotas(writer, link.inode, link.target),
      }),
    ),
  }));
  // A directory's trash setting (trash/trash-policy.ts) may turn these into moves into the trash.
  table.on(m.unlink, async (request) => {
    const { ino, changedAtNs } = await service.mutate(request, { ids: 0 }, (writer, ctx) =>
      removeFollowingPolicy(writer, ctx, { at: request.at, what: 'file' }),
    );
    return { ino, changedAtNs };
  });
  table.on(m.rmdir, async (request) => {
    const { ino, changedAtNs } = await service.mutate(request, { ids: 0 }, (writer, ctx) =>
      removeFollowingPolicy(writer, ctx, { at: request.at, what: 'directory' }),
    );
    return { ino, changedAtNs };
  });
  table.on(m.removeRecursive, async (request) => ({
    removedInodes: (
      await service.mutate(request, { ids: 0 }, (writer, ctx) =>
        removeFollowingPolicy(writer, ctx, { at: request.at, what: 'tree' }),
      )
    ).removedInodes,
  }));
  table.on(m.rename, async (request) => ({
    inode: await service.mutate(request, { ids: 0 }, (writer, ctx) =>
      rename(writer, ctx, request, {
        beforeMove: (move) => moveQuotas(writer, { ...move, nowNs: ctx.nowNs }),
      }),
    ),
  }));
}

function registerFileChanges(service: MetaService, table: HandlerTable): void {
  table.on(m.setAttr, async (request) => ({
    inode: await service.mutate(request, { ids: 0 }, (writer, ctx) => setAttr(writer, ctx, request)),
  }));
  table.on(m.open, async (request) => ({
    inode: await service.mutate(request, { ids: 0 }, (writer, ctx) => openFile(writer, ctx, request)),
  }));
  // Closing and syncing concern a descriptor opened earlier: POSIX lets it keep writing whatever
  // the permissions became since, so only the session and the file are checked.
  table.on(m.close, async (request) => ({
    inode:
      (await service.mutate(request, { ids: 0 }, (writer, ctx) =>
        closeSession(writer, ctx, request.ino, request.session, {
          length: request.length,
          wrote: request.wrote ?? false,
        }),
      )) ?? null,
  }));
  table.on(m.closeSessions, async (request) => ({
    closed: await service.mutate(request, { ids: 0 }, async (writer, ctx) => {
      let closed = 0;
      for (const { ino, session } of request.sessions) {
        if (!(await writer.hasSession(ino, session))) continue;
        await closeSession(writer, ctx, ino, session, { length: undefined, wrote: false });
        closed += 1;
      }
      return closed;
    }),
  }));
  table.on(m.sync, async (request) => ({
    inode: await service.mutate(request, { ids: 0 }, (writer, ctx) =>
      applyWriterReport(writer, ctx, request.ino, { length: request.length, wrote: request.wrote ?? false }),
    ),
  }));
  // fsync and fsyncdir: whatever the caller committed is durable once every commit so far is.
  table.on(m.syncMetadata, async () => {
    await service.options.kv.sync();
    return {};
  });
  table.on(m.setXattr, async (request) => {
    await service.mutate(request, { ids: 0 }, (writer, ctx) => setXattr(writer, ctx, request));
    return {};
  });
  table.on(m.removeXattr, async (request) => {
    await service.mutate(request, { ids: 0 }, (writer, ctx) => removeXattr(writer, ctx, request));
    return {};
  });
}

function registerHousekeeping(service: MetaService, table: HandlerTable): void {
  table.on(m.setDirLayout, async (request) => ({
    inode: await service.mutate(request, { ids: 0, squash: false }, (writer, ctx) =>
      setDirectoryLayout(writer, ctx, service.chains, request),
    ),
  }));
  table.on(m.pruneSessions, async (request) => {
    const total = { removedSessions: 0, reclaimedInodes: 0 };
    for (let page = 0; page < prunePagesMax; page++) {
      const result = await service.mutate(
        { cred: systemCredentials },
        { ids: 0, squash: false },
        (writer, ctx) => pruneSessionsPage(writer, ctx, request.clientId),
      );
      total.removedSessions += result.removedSessions;
      total.reclaimedInodes += result.reclaimedInodes;
      if (result.done) return total;
    }
    assert(false, `client ${request.clientId} has fewer than 10 million sessions`);
  });
  table.on(m.listGcQueue, async (request) => {
    const found = await service.read(systemCredentials, (reader) =>
      reader.gcEntries(request.after, request.limit + 1),
    );
    return { entries: found.slice(0, request.limit), more: found.length > request.limit };
  });
  table.on(m.listPendingTruncations, async (request) => {
    const found = await service.read(systemCredentials, (reader) =>
      reader.truncations(request.after, request.limit + 1),
    );
    return { entries: found.slice(0, request.limit), more: found.length > request.limit };
  });
  table.on(m.checkInvariants, async () => checkInvariants(service.options.kv));
  table.on(m.removeDanglingEntries, async (request) => ({
    removed: await service.mutate(request, { ids: 0, squash: false }, (writer, ctx) =>
      removeDanglingEntries(writer, ctx, request.entries),
    ),
  }));
}
