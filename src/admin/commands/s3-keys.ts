/**
 * Access keys of the S3 gateway: `s3-key-add USER` makes a key for a cluster user (or
 * `s3-key-add LABEL --uid U --gid G [--groups G1,G2]` one for bare ids), a random id and secret
 * generated here, and prints it once, `s3-key-list` shows keys without
 * their secrets, `s3-key-remove ACCESS_KEY_ID` removes one. Keys live in meta's KV
 * (meta/protocol/s3-keys.ts), so every gateway of the cluster sees them; only root may manage them.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { InvalidArgumentError, type Command } from 'commander';
import type { FsClient } from '../../client/index.js';
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { CommonCode, MgmtdCode } from '../../common/status-code.js';
import { mgmtdMethods, userNameSchema } from '../../mgmtd/protocol/index.js';
import { metaMethods, s3KeyNameSchema, type S3KeyInfo, type S3KeyOwner } from '../../meta/protocol/index.js';
import { printMessage, printTable, type Output } from '../output.js';

/** Runs `use` with a client of the cluster and the CLI's output. */
export type WithClient = <T>(use: (client: FsClient, output: Output) => Promise<T>) => Promise<T>;

const idAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A new access key id: "3FS" and 17 random letters and digits (20, as AWS's). */
export function newAccessKeyId(): string {
  let id = '3FS';
  while (id.length < 20) id += idAlphabet[randomInt(idAlphabet.length)];
  return id;
}

/** A new secret access key: 30 random bytes in base64, 40 characters. */
export function newSecretAccessKey(): string {
  return randomBytes(30).toString('base64');
}

function parseId(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || parsed > 0xffff_ffff)
      throw new InvalidArgumentError(`${name} must be 0 to 4294967295`);
    return parsed;
  };
}

function parseGroups(value: string): number[] {
  const groups = value === '' ? [] : value.split(',').map((part) => parseId('each group')(part.trim()));
  if (groups.length > limits.metaGroupsMax)
    throw new InvalidArgumentError(`at most ${limits.metaGroupsMax} groups`);
  return groups;
}

function parseName(value: string): string {
  if (!s3KeyNameSchema.safeParse(value).success) {
    throw new InvalidArgumentError('letters, digits and _.@-, 1 to 64 of them');
  }
  return value;
}

function ownerText(owner: S3KeyOwner): string {
  if (owner.kind === 'user') return `cluster user ${owner.name}`;
  return `uid ${owner.uid} gid ${owner.gid}${owner.groups.length > 0 ? ` groups ${owner.groups.join(',')}` : ''}`;
}

/** The owner a new key gets: the cluster user NAME, or the ids given with --uid and --gid. */
async function ownerFor(
  client: FsClient,
  name: string,
  flags: { uid?: number; gid?: number; groups: number[] },
): Promise<S3KeyOwner> {
  if (flags.uid !== undefined || flags.gid !== undefined) {
    if (flags.uid === undefined || flags.gid === undefined) {
      throw new FsError(CommonCode.InvalidArgument, '--uid and --gid go together');
    }
    return { kind: 'ids', uid: flags.uid, gid: flags.gid, groups: flags.groups };
  }
  if (!userNameSchema.safeParse(name).success) {
    throw new FsError(
      CommonCode.InvalidArgument,
      `"${name}" is not a user name; pass --uid and --gid for a key of bare ids`,
    );
  }
  const { user } = await client.mgmtd.call(mgmtdMethods.userGet, { name });
  if (user === null) {
    throw new FsError(
      MgmtdCode.UserNotFound,
      `no cluster user "${name}" (admin user-add makes one; or pass --uid and --gid for a key of bare ids)`,
    );
  }
  return { kind: 'user', name };
}

/** Adds the three commands to the admin program. */
export function addS3KeyCommands(program: Command, withClient: WithClient): void {
  program
    .command('s3-key-add')
    .description(
      "make an S3 access key for the cluster user NAME (its requests act as that user's uid, gid and groups), or with --uid and --gid for bare ids; prints its secret once",
    )
    .argument('<name>', 'the cluster user the key is for (with --uid/--gid: a label)', parseName)
    .option('--uid <uid>', 'the uid requests of the key act as, instead of a user', parseId('uid'))
    .option('--gid <gid>', 'their primary gid', parseId('gid'))
    .option('--groups <gids>', 'supplementary gids, comma-separated (with --uid)', parseGroups, [])
    .action((name: string, flags: { uid?: number; gid?: number; groups: number[] }) =>
      withClient(async (client, output) => {
        const owner = await ownerFor(client, name, flags);
        const accessKeyId = newAccessKeyId();
        const secretAccessKey = newSecretAccessKey();
        await client.meta.call(metaMethods.s3KeyAdd, {
          cred: client.credentials,
          accessKeyId,
          secretAccessKey,
          name,
          owner,
        });
        printMessage(
          output,
          { accessKeyId, secretAccessKey },
          `access key id:     ${accessKeyId}\nsecret access key: ${secretAccessKey}\n` +
            `(${name}: ${ownerText(owner)}; the secret is not shown again)`,
        );
      }),
    );
  program
    .command('s3-key-list')
    .description('list S3 access keys (without their secrets)')
    .action(() =>
      withClient(async (client, output) => {
        const keys: S3KeyInfo[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await client.meta.call(metaMethods.s3KeyList, {
            cred: client.credentials,
            limit: limits.metaS3KeyListPageMax,
            ...(after === undefined ? {} : { after }),
          });
          keys.push(...page.keys);
          if (page.nextCursor === null) break;
          after = page.nextCursor;
        }
        printTable(
          output,
          keys,
          ['ACCESS KEY ID', 'NAME', 'ACTS AS', 'CREATED'],
          keys.map((key) => [
            key.accessKeyId,
            key.name,
            ownerText(key.owner),
            new Date(key.createdAtMs).toISOString(),
          ]),
        );
      }),
    );
  program
    .command('s3-key-remove')
    .description('remove an S3 access key (gateways stop accepting it within half a minute)')
    .argument('<access-key-id>', 'the key to remove')
    .action((accessKeyId: string) =>
      withClient(async (client, output) => {
        const { removed } = await client.meta.call(metaMethods.s3KeyRemove, {
          cred: client.credentials,
          accessKeyId,
        });
        if (!removed) process.exitCode = 1;
        printMessage(
          output,
          { accessKeyId, removed },
          removed ? `removed ${accessKeyId}` : `no access key ${accessKeyId}`,
        );
      }),
    );
}
