/**
 * Users and tokens (DESIGN §15): `user-add NAME --uid U --gid G [--groups ...] [--root] [--admin]
 * [--trusted]` makes a user and prints its token once; `user-list`, `user-remove NAME`,
 * `user-set-token NAME [--grace DURATION]` (rotation: the old tokens keep working for the grace
 * period), and `whoami`. The table lives in the KV through mgmtd; managing it needs an admin token
 * or the cluster secret.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { MgmtdClient } from '../../cluster/index.js';
import { limits } from '../../common/limits.js';
import { mgmtdMethods, userNameSchema, type UserInfo } from '../../mgmtd/protocol/index.js';
import { printMessage, printTable, type Output } from '../output.js';

/** Runs `use` with a mgmtd client and the CLI's output. */
export type WithMgmtd = <T>(use: (mgmtd: MgmtdClient, output: Output) => Promise<T>) => Promise<T>;

function parseId(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || parsed > 0xffff_fffe)
      throw new InvalidArgumentError(`${name} must be 0 to 4294967294`);
    return parsed;
  };
}

function parseGroups(value: string): number[] {
  const groups = value === '' ? [] : value.split(',').map((part) => parseId('each group')(part.trim()));
  if (groups.length > limits.metaGroupsMax)
    throw new InvalidArgumentError(`at most ${limits.metaGroupsMax} groups`);
  return groups;
}

function parseUserName(value: string): string {
  const parsed = userNameSchema.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues[0]?.message ?? 'not a user name');
  return value;
}

const durationUnits: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "0", "90s", "15m", "12h", "7d" -> milliseconds (at most a year). */
export function parseDuration(value: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  const amount = match === null ? Number.NaN : Number(match[1]);
  const ms = amount * (durationUnits[match?.[2] ?? 's'] ?? Number.NaN);
  if (!Number.isSafeInteger(ms) || ms > 365 * 86_400_000) {
    throw new InvalidArgumentError('a duration such as 0, 90s, 15m, 12h or 7d (at most 365d)');
  }
  return ms;
}

function flagsText(user: UserInfo): string {
  const flags = [user.root ? 'root' : '', user.admin ? 'admin' : '', user.trusted ? 'trusted' : ''].filter(
    (flag) => flag !== '',
  );
  return flags.length === 0 ? '-' : flags.join(',');
}

function tokensText(user: UserInfo): string {
  return user.tokens
    .map((token) =>
      token.expiresAtMs === null
        ? token.id
        : `${token.id} (until ${new Date(token.expiresAtMs).toISOString()})`,
    )
    .join(' ');
}

export function addUserCommands(program: Command, withMgmtd: WithMgmtd): void {
  program
    .command('user-add')
    .description('add a user of the cluster and print its token (shown once; keep it in a 0600 file)')
    .argument('<name>', 'user name', parseUserName)
    .requiredOption('--uid <uid>', 'the uid it acts as', parseId('uid'))
    .requiredOption('--gid <gid>', 'its primary gid', parseId('gid'))
    .option('--groups <gids>', 'supplementary gids, comma-separated', parseGroups, [])
    .option('--root', 'acts as the superuser in permission checks')
    .option('--admin', 'may run admin commands')
    .option('--trusted', 'may act for other uids (FUSE daemons and gateways)')
    .action(
      (
        name: string,
        flags: {
          uid: number;
          gid: number;
          groups: number[];
          root?: boolean;
          admin?: boolean;
          trusted?: boolean;
        },
      ) =>
        withMgmtd(async (mgmtd, output) => {
          const reply = await mgmtd.call(mgmtdMethods.userAdd, {
            name,
            uid: flags.uid,
            gid: flags.gid,
            groups: flags.groups,
            root: flags.root === true,
            admin: flags.admin === true,
            trusted: flags.trusted === true,
          });
          printMessage(output, reply, reply.token);
        }),
    );
  program
    .command('user-list')
    .description('list the users of the cluster and their token ids')
    .action(() =>
      withMgmtd(async (mgmtd, output) => {
        const { users } = await mgmtd.call(mgmtdMethods.userList, {});
        printTable(
          output,
          users,
          ['NAME', 'UID', 'GID', 'GROUPS', 'FLAGS', 'TOKENS'],
          users.map((user) => [
            user.name,
            user.uid,
            user.gid,
            user.groups.join(',') || '-',
            flagsText(user),
            tokensText(user),
          ]),
        );
      }),
    );
  program
    .command('user-remove')
    .description('remove a user: its tokens stop working within a few seconds')
    .argument('<name>', 'user name', parseUserName)
    .action((name: string) =>
      withMgmtd(async (mgmtd, output) => {
        await mgmtd.call(mgmtdMethods.userRemove, { name });
        printMessage(output, { removed: name }, `removed user ${name}`);
      }),
    );
  program
    .command('user-set-token')
    .description('give a user a new token and print it; its old tokens keep working for the grace period')
    .argument('<name>', 'user name', parseUserName)
    .option(
      '--grace <duration>',
      'how long the old tokens keep working (0: stop at once)',
      parseDuration,
      3_600_000,
    )
    .action((name: string, flags: { grace: number }) =>
      withMgmtd(async (mgmtd, output) => {
        const reply = await mgmtd.call(mgmtdMethods.userSetToken, { name, graceMs: flags.grace });
        printMessage(output, reply, reply.token);
      }),
    );
  program
    .command('whoami')
    .description('who the cluster takes this command for (a user token, or a node holding the secret)')
    .action(() =>
      withMgmtd(async (mgmtd, output) => {
        const me = await mgmtd.call(mgmtdMethods.whoAmI, {});
        const user = me.user;
        printMessage(
          output,
          me,
          user === undefined
            ? 'a node of the cluster (holding the cluster secret)'
            : `user ${user.name} (uid ${user.uid}, gid ${user.gid}${user.root ? ', root' : ''}${user.admin ? ', admin' : ''}${user.trusted ? ', trusted' : ''}), token ${me.tokenId ?? ''}`,
        );
      }),
    );
}
