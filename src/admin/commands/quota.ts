/**
 * Admin commands of directory quotas, through the client library: `quota-set` (root; a new quota
 * counts the tree already there, call by call, before the command returns), `quota-get`,
 * `quota-list` (root) and `quota-remove` (root). Sizes take binary units (10G is 10 GiB), inode
 * counts decimal ones (2M is two million), and `none` drops a limit.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { FsClient } from '../../client/index.js';
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { CommonCode } from '../../common/status-code.js';
import { metaMethods, type InodeId, type QuotaInfo } from '../../meta/protocol/index.js';
import { formatBytes, printMessage, printTable, type Output } from '../output.js';
import { formatDuration, parseDuration } from './trash-groups.js';

const binaryUnits: Readonly<Record<string, bigint>> = {
  '': 1n,
  K: 1n << 10n,
  M: 1n << 20n,
  G: 1n << 30n,
  T: 1n << 40n,
  P: 1n << 50n,
};
const decimalUnits: Readonly<Record<string, bigint>> = {
  '': 1n,
  K: 1_000n,
  M: 1_000_000n,
  G: 1_000_000_000n,
};
const amountMax = (1n << 63n) - 1n;

/** A limit given on the command line: an amount, or null for `none`. */
export type LimitArgument = bigint | null;

function parseAmount(text: string, units: Readonly<Record<string, bigint>>, what: string): LimitArgument {
  const trimmed = text.trim();
  if (trimmed === 'none') return null;
  const match = /^([0-9]{1,19})([KMGTP]?)(i?B)?$/i.exec(trimmed);
  const unit = units[(match?.[2] ?? '').toUpperCase()];
  if (match === null || unit === undefined || (match[3] !== undefined && units !== binaryUnits))
    throw new InvalidArgumentError(`${what}: a whole number with an optional unit, or none`);
  const amount = BigInt(match[1] as string) * unit;
  if (amount > amountMax) throw new InvalidArgumentError(`${what}: at most ${amountMax}`);
  return amount;
}

/** Bytes: 1048576, 512K, 10M, 10G, 2TiB (binary units), or none. */
export function parseBytesLimit(text: string): LimitArgument {
  return parseAmount(text, binaryUnits, 'a byte limit');
}

/** Inodes: 1000, 50K, 2M (decimal units), or none. */
export function parseInodesLimit(text: string): LimitArgument {
  return parseAmount(text, decimalUnits, 'an inode limit');
}

/** A grace period: 0, or a duration as trash settings take it (45s, 30m, 12h, 7d, 2w). */
export function parseGrace(text: string): number {
  if (text.trim() === '0') return 0;
  const seconds = parseDuration(text);
  if (seconds > limits.quotaGraceSMax) throw new InvalidArgumentError('a grace period of at most ten years');
  return seconds;
}

/** JSON for quotas: bigints as decimal strings. */
function jsonable(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, field: unknown) => (typeof field === 'bigint' ? String(field) : field)),
  );
}

function bytesText(bytes: bigint | undefined): string {
  return bytes === undefined ? '-' : formatBytes(Number(bytes));
}

function countText(count: bigint | undefined): string {
  return count === undefined ? '-' : count.toLocaleString('en-US');
}

function timeText(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A quota's state in a few words: counting, over a limit, or ok. */
export function quotaStateText(quota: QuotaInfo): string {
  if (quota.counting) return 'counting';
  const { limits: quotaLimits, usage } = quota;
  const bytes = usage.bytes + usage.reservedBytes;
  const overHard =
    (quotaLimits.hardBytes !== undefined && bytes > quotaLimits.hardBytes) ||
    (quotaLimits.hardInodes !== undefined && usage.inodes > quotaLimits.hardInodes);
  if (overHard) return 'over hard limit';
  const since = [quota.softBytesSinceNs, quota.softInodesSinceNs].filter((ns) => ns !== undefined);
  const earliest = since.reduce<bigint | undefined>(
    (min, ns) => (min === undefined || ns < min ? ns : min),
    undefined,
  );
  if (earliest !== undefined) return `over soft limit since ${timeText(earliest)}`;
  return 'ok';
}

const head = ['PATH', 'BYTES', 'SOFT', 'HARD', 'INODES', 'SOFT', 'HARD', 'GRACE', 'STATE'];

function rowOf(quota: QuotaInfo): string[] {
  const { limits: quotaLimits, usage } = quota;
  const reserved = usage.reservedBytes > 0n ? ` (+${formatBytes(Number(usage.reservedBytes))} granted)` : '';
  return [
    quota.path ?? `(directory ${quota.directory})`,
    `${formatBytes(Number(usage.bytes))}${reserved}`,
    bytesText(quotaLimits.softBytes),
    bytesText(quotaLimits.hardBytes),
    countText(usage.inodes),
    countText(quotaLimits.softInodes),
    countText(quotaLimits.hardInodes),
    formatDuration(quotaLimits.graceS),
    quotaStateText(quota),
  ];
}

interface SetFlags {
  bytes?: LimitArgument;
  inodes?: LimitArgument;
  softBytes?: LimitArgument;
  softInodes?: LimitArgument;
  grace?: number;
}

/** `quota-set DIR [limits]`: sets or changes, then counts what was there until done. */
export async function commandQuotaSet(
  client: FsClient,
  output: Output,
  path: string,
  flags: SetFlags,
): Promise<void> {
  let changes: Record<string, unknown> = {
    ...(flags.bytes === undefined ? {} : { hardBytes: flags.bytes }),
    ...(flags.inodes === undefined ? {} : { hardInodes: flags.inodes }),
    ...(flags.softBytes === undefined ? {} : { softBytes: flags.softBytes }),
    ...(flags.softInodes === undefined ? {} : { softInodes: flags.softInodes }),
    ...(flags.grace === undefined ? {} : { graceS: flags.grace }),
  };
  for (let call = 0; call < limits.adminQuotaCountCallsMax; call++) {
    const reply = await client.meta.call(metaMethods.quotaSet, {
      cred: client.credentials,
      at: { path },
      ...changes,
    });
    if (reply.done) {
      printTable(output, jsonable(reply.quota), head, [rowOf(reply.quota)]);
      return;
    }
    // The limits are set: later calls only go on counting.
    changes = {};
    if (call === 0 && !output.json) output.write(`counting what is below ${path} ...\n`);
  }
  throw new FsError(
    CommonCode.Internal,
    `the count of ${path} did not end within ${limits.adminQuotaCountCallsMax} calls`,
  );
}

/** `quota-get PATH`: the quota on a directory and those counting it. */
export async function commandQuotaGet(client: FsClient, output: Output, path: string): Promise<void> {
  const reply = await client.meta.call(metaMethods.quotaGet, { cred: client.credentials, at: { path } });
  const rows = [...reply.containing, ...(reply.quota === null ? [] : [reply.quota])];
  if (rows.length === 0 && !output.json) {
    output.write(`no quota counts ${path}\n`);
    return;
  }
  printTable(output, jsonable(reply), head, rows.map(rowOf));
}

/** `quota-list`: every quota (root). */
export async function commandQuotaList(client: FsClient, output: Output): Promise<void> {
  const quotas: QuotaInfo[] = [];
  let after: InodeId | undefined;
  for (;;) {
    const page = await client.meta.call(metaMethods.quotaList, {
      cred: client.credentials,
      limit: limits.metaQuotaListPageMax,
      ...(after === undefined ? {} : { after }),
    });
    quotas.push(...page.quotas);
    if (page.nextCursor === null) break;
    after = page.nextCursor;
  }
  printTable(output, jsonable({ quotas }), head, quotas.map(rowOf));
}

/** `quota-remove DIR`. */
export async function commandQuotaRemove(client: FsClient, output: Output, path: string): Promise<void> {
  const { removed } = await client.meta.call(metaMethods.quotaRemove, {
    cred: client.credentials,
    at: { path },
  });
  printMessage(output, { path, removed }, removed ? `removed the quota on ${path}` : `${path} had no quota`);
}

export interface QuotaCommandContext {
  withClient<T>(use: (client: FsClient) => Promise<T>): Promise<T>;
  output(): Output;
}

export function addQuotaCommands(program: Command, context: QuotaCommandContext): void {
  const run = (use: (client: FsClient, output: Output) => Promise<void>) =>
    context.withClient((client) => use(client, context.output()));
  program
    .command('quota-set <dir>')
    .description('set or change the quota of a directory tree (root); a new one first counts what is there')
    .option('--bytes <size>', 'hard limit of bytes (10G, 512M, none)', parseBytesLimit)
    .option(
      '--inodes <count>',
      'hard limit of files, directories and links (1000, 2M, none)',
      parseInodesLimit,
    )
    .option(
      '--soft-bytes <size>',
      'soft limit of bytes: refuses like the hard one after the grace period',
      parseBytesLimit,
    )
    .option('--soft-inodes <count>', 'soft limit of inodes', parseInodesLimit)
    .option(
      '--grace <duration>',
      'how long usage may stay over a soft limit: 0, 12h, 7d (default 7d)',
      parseGrace,
    )
    .action((dir: string, flags: SetFlags) =>
      run((client, output) => commandQuotaSet(client, output, dir, flags)),
    );
  program
    .command('quota-get <path>')
    .description('the quota of a directory, and the quotas of the trees it is in (usage, limits, state)')
    .action((path: string) => run((client, output) => commandQuotaGet(client, output, path)));
  program
    .command('quota-list')
    .description('every directory quota with its usage and limits (root)')
    .action(() => run((client, output) => commandQuotaList(client, output)));
  program
    .command('quota-remove <dir>')
    .description('remove the quota of a directory (root)')
    .action((dir: string) => run((client, output) => commandQuotaRemove(client, output, dir)));
}
