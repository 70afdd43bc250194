/**
 * Who is calling over one connection. A peer that proved the cluster secret is a node of the
 * cluster (a service, or an operator's tool on a service host) and is trusted with everything. A
 * peer that proved a user token (`admin user-add` prints them) is that user: it may call only the
 * methods its server opens to users, and a server acts for it only as that user allows.
 *
 * Tokens: the text a user holds is "<id>.<secret>". Servers know each token by its id and the
 * SHA-256 of its secret (the key both ends prove with, handshake.ts); the secret itself is never
 * sent nor stored by the cluster.
 */
import { createHash, randomBytes } from 'node:crypto';
import { FsError } from '../common/errors.js';
import { CommonCode } from '../common/status-code.js';

/** What a user may do, as the cluster's user table says. */
export interface UserIdentity {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
  /** Acts as the superuser in permission checks. */
  readonly root: boolean;
  /** May run admin commands. */
  readonly admin: boolean;
  /** May act for other uids (the FUSE daemon passes the kernel's caller, a gateway its client's). */
  readonly trusted: boolean;
}

/** The caller of one request. */
export type Caller =
  | { readonly kind: 'node' }
  | { readonly kind: 'user'; readonly tokenId: string; readonly user: UserIdentity };

export const nodeCaller: Caller = Object.freeze({ kind: 'node' });

/**
 * Who may call a method: `node` only peers holding the cluster secret, `user` any valid token
 * too, `trusted` tokens marked trusted or admin, `admin` admin tokens.
 */
export type MethodAccess = 'node' | 'user' | 'trusted' | 'admin';

/** Whether `caller` may call a method open to `access`. */
export function callerMayCall(caller: Caller, access: MethodAccess): boolean {
  if (caller.kind === 'node') return true;
  switch (access) {
    case 'node':
      return false;
    case 'user':
      return true;
    case 'trusted':
      return caller.user.trusted || caller.user.admin;
    case 'admin':
      return caller.user.admin;
  }
}

/** A server's view of the valid tokens: id -> proof key and user. Lookups are synchronous. */
export interface TokenVerifier {
  /** The token's key and user, or undefined when it is unknown, revoked or past its grace. */
  lookup(tokenId: string): { readonly key: string; readonly user: UserIdentity } | undefined;
  /**
   * The same after reloading the table, if it was not reloaded very lately: a token made a moment
   * ago works at once. Used at handshakes only, when `lookup` finds nothing.
   */
  lookupFresh?(tokenId: string): Promise<{ readonly key: string; readonly user: UserIdentity } | undefined>;
}

/** A token as a client presents it: its id and the key derived from its secret. */
export interface PresentedToken {
  readonly id: string;
  readonly key: string;
}

export const tokenIdPattern = /^[0-9a-f]{16}$/;
const tokenSecretPattern = /^[A-Za-z0-9_-]{43}$/;

/** The key both ends prove with: SHA-256 of the secret, hex. */
export function tokenKeyOf(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A new token: the text to hand to its user, its id and its key (what the cluster keeps). */
export function createToken(): { text: string; id: string; key: string } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { text: `${id}.${secret}`, id, key: tokenKeyOf(secret) };
}

/** Parses a token's text (surrounding whitespace allowed), naming `source` in the error. */
export function parseToken(text: string, source: string): PresentedToken {
  const trimmed = text.trim();
  const dot = trimmed.indexOf('.');
  const id = dot < 0 ? '' : trimmed.slice(0, dot);
  const secret = dot < 0 ? '' : trimmed.slice(dot + 1);
  if (!tokenIdPattern.test(id) || !tokenSecretPattern.test(secret)) {
    throw new FsError(
      CommonCode.InvalidArgument,
      `${source}: not a 3fs user token (expected "<16 hex digits>.<43 base64url characters>", as admin user-add prints)`,
    );
  }
  return { id, key: tokenKeyOf(secret) };
}
