/**
 * The users and tokens a local cluster runs with (made or repaired on every run, kept in its etc
 * directory, 0600): `admin` (an admin token, for `admin --token-file`), `fuse` (trusted: the FUSE
 * daemon passes each caller's uid), `gateway` (trusted: the NFS and S3 gateways pass their clients'
 * identities) and `local` (the user who runs the cluster, for the client library). A token file
 * whose token the cluster no longer knows gets a new token.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MgmtdClient } from '../cluster/index.js';
import { mgmtdMethods, type UserAttributes, type UserInfo } from '../mgmtd/protocol/index.js';
import { parseToken } from '../rpc/index.js';

/** Where a local cluster's token files are. */
export interface LocalTokens {
  admin: string;
  fuse: string;
  gateway: string;
  local: string;
}

export function localTokenFiles(etcDir: string): LocalTokens {
  return {
    admin: join(etcDir, 'admin.token'),
    fuse: join(etcDir, 'fuse.token'),
    gateway: join(etcDir, 'gateway.token'),
    local: join(etcDir, 'user.token'),
  };
}

/** The token id a token file holds, or undefined when it is missing or unreadable. */
function tokenIdIn(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return parseToken(readFileSync(path, 'utf8'), path).id;
  } catch {
    return undefined;
  }
}

/** Makes sure every local user exists and its token file holds a token the cluster knows. */
export async function ensureLocalTokens(mgmtd: MgmtdClient, files: LocalTokens): Promise<void> {
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const groups = (process.getgroups?.() ?? []).filter((group) => group !== gid).slice(0, 64);
  const wanted: Array<{ file: string; attributes: UserAttributes }> = [
    { file: files.admin, attributes: user('admin', 0, 0, [], { admin: true, root: true }) },
    { file: files.fuse, attributes: user('fuse', 0, 0, [], { trusted: true }) },
    { file: files.gateway, attributes: user('gateway', 0, 0, [], { trusted: true }) },
    { file: files.local, attributes: user('local', uid, gid, groups, {}) },
  ];
  const { users } = await mgmtd.call(mgmtdMethods.userList, {});
  const byName = new Map<string, UserInfo>(users.map((existing) => [existing.name, existing]));
  for (const { file, attributes } of wanted) {
    const existing = byName.get(attributes.name);
    const id = tokenIdIn(file);
    if (
      existing !== undefined &&
      existing.tokens.some((token) => token.id === id && token.expiresAtMs === null)
    )
      continue;
    const reply =
      existing === undefined
        ? await mgmtd.call(mgmtdMethods.userAdd, attributes)
        : await mgmtd.call(mgmtdMethods.userSetToken, { name: attributes.name, graceMs: 0 });
    writeFileSync(file, `${reply.token}\n`, { mode: 0o600 });
  }
}

function user(
  name: string,
  uid: number,
  gid: number,
  groups: number[],
  flags: { root?: boolean; admin?: boolean; trusted?: boolean },
): UserAttributes {
  return {
    name,
    uid,
    gid,
    groups,
    root: flags.root === true,
    admin: flags.admin === true,
    trusted: flags.trusted === true,
  };
}
