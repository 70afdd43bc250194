/**
 * Admin commands of the trash, through the client library as the calling user (a user sees and
 * restores their own items, root everyone's): `rmtree` (a tree removed for good, or moved whole
 * into the trash in one step with `--trash`), `trash-list`, `trash-restore`, `trash-purge` and
 * `trash-set` (a directory's trash setting). Items are shown and restored as groups
 * (trash-groups.ts): what one `rm -rf` through a mount removed comes back as one tree.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { FsClient } from '../../client/index.js';
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { CommonCode, MetaCode } from '../../common/status-code.js';
import { metaMethods, type TrashItem, type TrashItemKey } from '../../meta/protocol/index.js';
import { formatBytes, printMessage, printTable, type Output } from '../output.js';
import {
  formatDuration,
  groupItems,
  parseDuration,
  parseItemSpec,
  selectGroup,
  type TrashGroup,
} from './trash-groups.js';

/** JSON for items: bigints as decimal strings. */
function jsonable(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, field: unknown) => (typeof field === 'bigint' ? String(field) : field)),
  );
}

function timeOf(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function itemId(item: TrashKeyed): string {
  return `${item.uid}/${item.name}`;
}

type TrashKeyed = Pick<TrashItem, 'uid' | 'name'>;

/** Every item the caller may see (of `uid` when given), page by page, with meta's clock. */
async function fetchItems(
  client: FsClient,
  uid: number | undefined,
): Promise<{ items: TrashItem[]; nowNs: bigint }> {
  const items: TrashItem[] = [];
  let after: TrashItemKey | undefined;
  let nowNs = 0n;
  for (;;) {
    const page = await client.meta.call(metaMethods.listTrash, {
      cred: client.credentials,
      limit: limits.metaTrashListPageMax,
      ...(uid === undefined ? {} : { uid }),
      ...(after === undefined ? {} : { after }),
    });
    items.push(...page.items);
    nowNs = page.nowNs;
    if (page.nextCursor === null) return { items, nowNs };
    if (items.length >= limits.adminTrashItemsMax) {
      throw new FsError(
        CommonCode.InvalidArgument,
        `the trash holds over ${limits.adminTrashItemsMax} items: name a --uid`,
      );
    }
    after = page.nextCursor;
  }
}

/** `rmtree PATH [--trash [--expire D]]`. */
export async function commandRmtree(
  client: FsClient,
  output: Output,
  path: string,
  flags: { trash?: boolean; expire?: number },
): Promise<void> {
  if (flags.trash !== true) {
    if (flags.expire !== undefined)
      throw new FsError(CommonCode.InvalidArgument, '--expire goes with --trash');
    const removedInodes = await client.removeRecursive(path);
    printMessage(output, { path, removedInodes }, `removed ${path} for good (${removedInodes} inode(s))`);
    return;
  }
  const expireS = flags.expire ?? limits.trashExpireSDefault;
  const reply = await client.meta.call(metaMethods.trashRemove, {
    cred: client.credentials,
    at: { path },
    what: 'tree',
    expireS,
  });
  const item = reply.item;
  printMessage(
    output,
    jsonable({ path, ...reply }),
    item === null
      ? `removed ${path} for good: it was in the trash (${reply.removedInodes} inode(s))`
      : `moved ${path} into the trash as ${itemId(item)} for ${formatDuration(expireS)} (until ${timeOf(item.expiresAtNs)}); admin trash-restore ${itemId(item)} brings it back`,
  );
}

/** `trash-list [--uid N] [--flat]`. */
export async function commandTrashList(
  client: FsClient,
  output: Output,
  flags: { uid?: number; flat?: boolean },
): Promise<void> {
  const { items, nowNs } = await fetchItems(client, flags.uid);
  if (flags.flat === true) {
    items.sort((left, right) =>
      left.removedAtNs === right.removedAtNs
        ? left.name.localeCompare(right.name)
        : left.removedAtNs < right.removedAtNs
          ? -1
          : 1,
    );
    printTable(
      output,
      jsonable({ nowNs, items }),
      ['ITEM', 'TYPE', 'ORIGINAL PATH', 'SIZE', 'REMOVED', 'EXPIRES'],
      items.map((item) => [
        itemId(item),
        item.type,
        item.originalPath ?? `…/${item.originalName}`,
        item.bytes === null ? '-' : formatBytes(Number(item.bytes)),
        timeOf(item.removedAtNs),
        expiry(item.expiresAtNs, nowNs),
      ]),
    );
    return;
  }
  const groups = groupItems(items);
  printTable(
    output,
    jsonable({ nowNs, groups: groups.map(groupJson) }),
    ['ITEM', 'WHAT', 'ORIGINAL PATH', 'SIZE', 'REMOVED', 'EXPIRES'],
    groups.map((group) => [
      itemId(group.top),
      group.members.length > 1
        ? `${group.top.type} +${group.members.length - 1} removed from it`
        : group.top.type,
      group.top.originalPath ?? `…/${group.top.originalName}`,
      group.bytes === null ? '-' : formatBytes(Number(group.bytes)),
      timeOf(group.top.removedAtNs),
      expiry(group.expiresAtNs, nowNs),
    ]),
  );
}

function groupJson(group: TrashGroup): unknown {
  return {
    ...group.top,
    items: group.members.length,
    bytes: group.bytes,
    expiresAtNs: group.expiresAtNs,
    members: group.members.map(itemId),
  };
}

function expiry(expiresAtNs: bigint, nowNs: bigint): string {
  if (expiresAtNs <= nowNs) return `${timeOf(expiresAtNs)} (expired)`;
  const leftS = Number((expiresAtNs - nowNs) / 1_000_000_000n);
  const left =
    leftS >= 86_400
      ? `${Math.floor(leftS / 86_400)}d`
      : leftS >= 3_600
        ? `${Math.floor(leftS / 3_600)}h`
        : leftS >= 60
          ? `${Math.floor(leftS / 60)}m`
          : `${leftS}s`;
  return `${timeOf(expiresAtNs)} (in ${left})`;
}

/** The group ITEM names, among what the caller may see. */
async function findGroup(client: FsClient, text: string): Promise<TrashGroup> {
  const spec = parseItemSpec(text);
  const { items } = await fetchItems(client, spec.kind === 'name' ? spec.uid : undefined);
  try {
    return selectGroup(groupItems(items), spec);
  } catch (error) {
    throw new FsError(MetaCode.NotFound, (error as Error).message);
  }
}

/** `trash-restore ITEM [--to PATH] [--overwrite] [--only]`. */
export async function commandTrashRestore(
  client: FsClient,
  output: Output,
  text: string,
  flags: { to?: string; overwrite?: boolean; only?: boolean },
): Promise<void> {
  const group = await findGroup(client, text);
  const members = flags.only === true ? [group.top] : group.members;
  const restored: string[] = [];
  const left: Array<{ item: string; reason: string }> = [];
  for (const member of members) {
    const isTop = member === group.top;
    try {
      await client.meta.call(metaMethods.restoreTrash, {
        cred: client.credentials,
        item: { uid: member.uid, name: member.name },
        ...(isTop && flags.to !== undefined ? { to: { path: flags.to } } : {}),
        ...(flags.overwrite === true ? { overwrite: true } : {}),
      });
      restored.push(itemId(member));
    } catch (error) {
      // The top failing is the answer; below it, a name taken (an older copy of what came back) stays.
      if (isTop || !(error instanceof FsError) || error.code !== MetaCode.Exists) throw error;
      left.push({ item: itemId(member), reason: error.message });
    }
  }
  const where = flags.to ?? group.top.originalPath ?? group.top.originalName;
  const lines = [`restored ${where}: ${restored.length} item(s)`];
  for (const { item, reason } of left) lines.push(`left in the trash: ${item} (${reason})`);
  printMessage(output, { restored, left }, lines.join('\n'));
}

/** `trash-purge ITEM [--only]` or `trash-purge --expired`. */
export async function commandTrashPurge(
  client: FsClient,
  output: Output,
  text: string | undefined,
  flags: { expired?: boolean; only?: boolean },
): Promise<void> {
  if ((text === undefined) === (flags.expired !== true)) {
    throw new FsError(CommonCode.InvalidArgument, 'name an ITEM or pass --expired');
  }
  let targets: TrashItem[];
  if (text === undefined) {
    const { items, nowNs } = await fetchItems(client, undefined);
    targets = items.filter((item) => item.expiresAtNs <= nowNs);
  } else {
    const group = await findGroup(client, text);
    targets = flags.only === true ? [group.top] : group.members;
  }
  let removedInodes = 0;
  for (const item of targets) {
    for (;;) {
      const reply = await client.meta.call(metaMethods.purgeTrash, {
        cred: client.credentials,
        item: { uid: item.uid, name: item.name },
      });
      removedInodes += reply.removedInodes;
      if (reply.done) break;
    }
  }
  printMessage(
    output,
    { purged: targets.map(itemId), removedInodes },
    `purged ${targets.length} item(s), ${removedInodes} inode(s); their chunks are freed by the GC`,
  );
}

/** `trash-set DIR [--expire D | --off | --clear]`. */
export async function commandTrashSet(
  client: FsClient,
  output: Output,
  path: string,
  flags: { expire?: number; off?: boolean; clear?: boolean },
): Promise<void> {
  const chosen = [flags.expire !== undefined, flags.off === true, flags.clear === true].filter(
    Boolean,
  ).length;
  if (chosen > 1) throw new FsError(CommonCode.InvalidArgument, 'pass one of --expire, --off and --clear');
  const reply = await client.meta.call(metaMethods.setTrashPolicy, {
    cred: client.credentials,
    at: { path },
    ...(flags.expire === undefined ? {} : { expireS: flags.expire }),
    ...(flags.off === true ? { expireS: 0 } : {}),
    ...(flags.clear === true ? { clear: true } : {}),
  });
  const from = reply.fromPath ?? (reply.from === null ? '' : `directory ${reply.from}`);
  const message =
    reply.expireS === null
      ? `${path}: no trash setting applies (removals follow the mount's trash_expire_s)`
      : reply.expireS === 0
        ? `${path}: removals are permanent (set on ${from})`
        : `${path}: removals stay in the trash for ${formatDuration(reply.expireS)} (set on ${from})`;
  printMessage(output, jsonable(reply), message);
}

/** What the trash commands need of the CLI: a client as the calling user, and where to print. */
export interface TrashCommandContext {
  withClient<T>(use: (client: FsClient) => Promise<T>): Promise<T>;
  output(): Output;
}

function parseUid(value: string): number {
  const uid = Number(value);
  if (!Number.isInteger(uid) || uid < 0 || uid > 0xffff_ffff)
    throw new InvalidArgumentError('a uid is 0 to 4294967295');
  return uid;
}

/** Adds rmtree, trash-list, trash-restore, trash-purge and trash-set. */
export function addTrashCommands(program: Command, context: TrashCommandContext): void {
  const run = (use: (client: FsClient, output: Output) => Promise<void>) =>
    context.withClient((client) => use(client, context.output()));
  program
    .command('rmtree <path>')
    .description(
      'remove a file or a whole tree for good, or with --trash move it into your trash in one step',
    )
    .option('--trash', 'move it into the trash (restorable with trash-restore until it expires)')
    .option(
      '--expire <duration>',
      'how long it stays in the trash: 45s, 30m, 12h, 7d, 2w (default 7d)',
      parseDuration,
    )
    .action((path: string, flags: { trash?: boolean; expire?: number }) =>
      run((client, output) => commandRmtree(client, output, path, flags)),
    );
  program
    .command('trash-list')
    .description(
      'what is in the trash: yours, or everyone’s for root (what, original path, size, removed, expires)',
    )
    .option('--uid <uid>', "one user's trash (root only for others)", parseUid)
    .option('--flat', 'every item, not grouped by the directory it was removed from')
    .action((flags: { uid?: number; flat?: boolean }) =>
      run((client, output) => commandTrashList(client, output, flags)),
    );
  program
    .command('trash-restore <item>')
    .description(
      'move ITEM ([UID/]NAME as listed, or the path it was removed from) back, with everything removed from below it',
    )
    .option('--to <path>', 'restore to this path instead of where it was')
    .option('--overwrite', 'replace what exists at the target (as rename does)')
    .option('--only', 'restore ITEM alone, not what was removed from below it')
    .action((item: string, flags: { to?: string; overwrite?: boolean; only?: boolean }) =>
      run((client, output) => commandTrashRestore(client, output, item, flags)),
    );
  program
    .command('trash-purge [item]')
    .description(
      'remove ITEM (with what was removed from below it) from the trash for good, or every expired item',
    )
    .option('--expired', 'purge every expired item now instead of waiting for the cleaner')
    .option('--only', 'purge ITEM alone')
    .action((item: string | undefined, flags: { expired?: boolean; only?: boolean }) =>
      run((client, output) => commandTrashPurge(client, output, item, flags)),
    );
  program
    .command('trash-set <dir>')
    .description(
      "a directory's trash setting for removals below it (owner or root); without options, the one in force",
    )
    .option(
      '--expire <duration>',
      'removals stay in the trash this long: 45s, 30m, 12h, 7d, 2w',
      parseDuration,
    )
    .option('--off', 'removals below it are permanent, whatever mounts ask')
    .option('--clear', 'drop the setting (the nearest one above applies)')
    .action((path: string, flags: { expire?: number; off?: boolean; clear?: boolean }) =>
      run((client, output) => commandTrashSet(client, output, path, flags)),
    );
}
