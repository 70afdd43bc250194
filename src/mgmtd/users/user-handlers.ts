/**
 * mgmtd's user methods (protocol/users.ts). Any mgmtd answers them, primary or not: they are
 * plain KV transactions. Managing users needs an admin token (or the cluster secret); the table
 * with the tokens' keys goes to nodes only.
 */
import type { Clock } from '../../common/clock.js';
import type { KvEngine } from '../../kv/index.js';
import { createToken, type Caller, type RpcHandlers } from '../../rpc/index.js';
import { mgmtdMethods } from '../protocol/index.js';
import type { CallerInfo, UserInfo, UserWithKeys } from '../protocol/users.js';
import { addUser, getUser, listUsers, readTokenTable, removeUser, rotateUserToken } from './user-store.js';

/** A user without its tokens' keys. */
export function withoutKeys(user: UserWithKeys): UserInfo {
  return { ...user, tokens: user.tokens.map(({ key: _key, ...token }) => token) };
}

export function callerInfo(caller: Caller): CallerInfo {
  if (caller.kind === 'node') return { kind: 'node' };
  const { user } = caller;
  return {
    kind: 'user',
    tokenId: caller.tokenId,
    user: {
      name: user.name,
      uid: user.uid,
      gid: user.gid,
      groups: [...user.groups],
      root: user.root,
      admin: user.admin,
      trusted: user.trusted,
    },
  };
}

export function registerUserHandlers(options: { server: RpcHandlers; kv: KvEngine; clock: Clock }): void {
  const { server, kv, clock } = options;
  server.handle(
    mgmtdMethods.userAdd,
    async (request) => {
      const token = createToken();
      const user = await addUser(kv, request, {
        id: token.id,
        key: token.key,
        createdAtMs: clock.nowMs(),
        expiresAtMs: null,
      });
      return { user: withoutKeys(user), token: token.text };
    },
    'admin',
  );
  server.handle(
    mgmtdMethods.userList,
    async () => ({ users: (await listUsers(kv)).map(withoutKeys) }),
    'admin',
  );
  server.handle(
    mgmtdMethods.userRemove,
    async (request) => {
      await removeUser(kv, request.name);
      return {};
    },
    'admin',
  );
  server.handle(
    mgmtdMethods.userSetToken,
    async (request) => {
      const token = createToken();
      const nowMs = clock.nowMs();
      const user = await rotateUserToken(kv, {
        name: request.name,
        token: { id: token.id, key: token.key, createdAtMs: nowMs, expiresAtMs: null },
        graceMs: request.graceMs,
        nowMs,
      });
      return { user: withoutKeys(user), token: token.text };
    },
    'admin',
  );
  server.handle(mgmtdMethods.tokenTable, async (request) => ({
    table: await readTokenTable(kv, request.knownVersion),
  }));
  server.handle(
    mgmtdMethods.userGet,
    async (request) => {
      const user = await getUser(kv, request.name);
      if (user === undefined) return { user: null };
      const { tokens: _tokens, ...attributes } = user;
      return { user: attributes };
    },
    'trusted',
  );
  server.handle(mgmtdMethods.whoAmI, async (_request, context) => callerInfo(context.caller), 'user');
}
