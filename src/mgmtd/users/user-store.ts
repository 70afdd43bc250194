/**
 * Users and tokens in the KV: one record per user under "USER" + name, and a version under "USRV"
 * that every change bumps in the same transaction, so services reload the table only when it
 * changed (tokenTable with their known version).
 */
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { decodeRecord, encodeRecord } from '../../common/record-codec.js';
import { MgmtdCode } from '../../common/status-code.js';
import type { KvEngine, KvReadTransaction, KvTransaction } from '../../kv/index.js';
import { z } from 'zod';
import {
  userWithKeysSchema,
  type StoredToken,
  type TokenTable,
  type UserAttributes,
  type UserWithKeys,
} from '../protocol/users.js';
import { prefixRange } from '../store/keys.js';

const userPrefix = Buffer.from('USER', 'ascii');
const versionKey = Buffer.from('USRV', 'ascii');

const userRecordSchema = z.strictObject({ format: z.literal(1), user: userWithKeysSchema });
const versionRecordSchema = z.strictObject({ format: z.literal(1), version: z.number().int().min(1) });

function userKey(name: string): Buffer {
  return Buffer.concat([userPrefix, Buffer.from(name, 'utf8')]);
}

async function readVersion(tx: KvReadTransaction): Promise<number> {
  const bytes = await tx.get(versionKey);
  return bytes === undefined ? 0 : decodeRecord(versionRecordSchema, bytes, 'users version').version;
}

async function bumpVersion(tx: KvTransaction): Promise<void> {
  const version = (await readVersion(tx)) + 1;
  tx.set(versionKey, encodeRecord(versionRecordSchema, { format: 1, version }));
}

async function readUser(tx: KvReadTransaction, name: string): Promise<UserWithKeys | undefined> {
  const bytes = await tx.get(userKey(name));
  return bytes === undefined ? undefined : decodeRecord(userRecordSchema, bytes, `user ${name}`).user;
}

function writeUser(tx: KvTransaction, user: UserWithKeys): void {
  tx.set(userKey(user.name), encodeRecord(userRecordSchema, { format: 1, user }));
}

async function readAllUsers(tx: KvReadTransaction): Promise<UserWithKeys[]> {
  const [begin, end] = prefixRange(userPrefix);
  const pairs = await tx.getRange(begin, end, { limit: limits.usersMax + 1 });
  return pairs.map((pair) => decodeRecord(userRecordSchema, pair.value, 'user').user);
}

/** The version of the users table (0 while no user was ever added). */
export async function usersVersion(kv: KvEngine): Promise<number> {
  return kv.read((tx) => readVersion(tx));
}

/** The whole table, or null when its version is still `knownVersion`. */
export async function readTokenTable(kv: KvEngine, knownVersion: number): Promise<TokenTable | null> {
  return kv.read(async (tx) => {
    const version = await readVersion(tx);
    if (version === 0 || version === knownVersion) return null;
    return { version, users: await readAllUsers(tx) };
  });
}

/** One user (with keys), or undefined. */
export async function getUser(kv: KvEngine, name: string): Promise<UserWithKeys | undefined> {
  return kv.read((tx) => readUser(tx, name));
}

/** Every user (with keys; the handlers strip them). */
export async function listUsers(kv: KvEngine): Promise<UserWithKeys[]> {
  return kv.read((tx) => readAllUsers(tx));
}

/** Adds a user holding one token; refuses a name in use or a full table. */
export async function addUser(
  kv: KvEngine,
  attributes: UserAttributes,
  token: StoredToken,
): Promise<UserWithKeys> {
  return kv.transact(async (tx) => {
    if ((await readUser(tx, attributes.name)) !== undefined) {
      throw new FsError(MgmtdCode.UserExists, `user "${attributes.name}" exists already`);
    }
    const [begin, end] = prefixRange(userPrefix);
    const count = (await tx.getRange(begin, end, { limit: limits.usersMax })).length;
    if (count >= limits.usersMax) {
      throw new FsError(MgmtdCode.UserExists, `the cluster has ${limits.usersMax} users, its maximum`);
    }
    const user: UserWithKeys = { ...attributes, tokens: [token] };
    writeUser(tx, user);
    await bumpVersion(tx);
    return user;
  });
}

/** Removes a user and all its tokens; refuses an unknown name. */
export async function removeUser(kv: KvEngine, name: string): Promise<void> {
  await kv.transact(async (tx) => {
    if ((await readUser(tx, name)) === undefined) {
      throw new FsError(MgmtdCode.UserNotFound, `no user "${name}"`);
    }
    tx.clear(userKey(name));
    await bumpVersion(tx);
  });
}

/**
 * Gives a user a new token. Its current tokens stay valid for `graceMs` more (0: they stop at
 * once); tokens whose grace has ended are dropped, and so are the oldest ones past the bound.
 */
export async function rotateUserToken(
  kv: KvEngine,
  options: { name: string; token: StoredToken; graceMs: number; nowMs: number },
): Promise<UserWithKeys> {
  return kv.transact(async (tx) => {
    const user = await readUser(tx, options.name);
    if (user === undefined) throw new FsError(MgmtdCode.UserNotFound, `no user "${options.name}"`);
    const expiresAtMs = options.nowMs + options.graceMs;
    const kept = user.tokens
      .map((token) => ({ ...token, expiresAtMs: Math.min(token.expiresAtMs ?? expiresAtMs, expiresAtMs) }))
      .filter((token) => token.expiresAtMs > options.nowMs)
      .slice(-(limits.userTokensMax - 1));
    const updated: UserWithKeys = { ...user, tokens: [...kept, options.token] };
    writeUser(tx, updated);
    await bumpVersion(tx);
    return updated;
  });
}
