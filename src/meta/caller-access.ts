/**
 * Who may call which meta method, and as whom. Nodes of the cluster (peers holding the cluster
 * secret) call everything with the credentials they send. A user token calls the methods of the
 * file system; the credentials it sends count only if its user is trusted (the FUSE daemon and the
 * gateways pass their callers' identity) or an admin: any other user acts as itself, whatever
 * uid it claims (uid 0 when it is marked root). Cluster housekeeping, fsck, quotas, trash
 * management and S3 keys need an admin token; pruning a client's sessions and the S3 gateway's key
 * lookup a trusted one.
 */
import type { Caller, MethodAccess } from '../rpc/index.js';
import type { Credentials } from './protocol/index.js';

const adminMethods = new Set([
  'Meta.setDirLayout',
  'Meta.listGcQueue',
  'Meta.listPendingTruncations',
  'Meta.checkInvariants',
  'Meta.removeDanglingEntries',
  'Meta.listTrash',
  'Meta.restoreTrash',
  'Meta.purgeTrash',
  'Meta.setTrashPolicy',
  'Meta.s3KeyAdd',
  'Meta.s3KeyList',
  'Meta.s3KeyRemove',
  'Meta.quotaSet',
  'Meta.quotaList',
  'Meta.quotaRemove',
]);
/**
 * A FUSE daemon or gateway drops the write sessions its previous life left (by its client id,
 * which a plain user could name for another client); the S3 gateway reads keys with their secrets.
 */
const trustedMethods = new Set(['Meta.pruneSessions', 'Meta.s3KeyGet']);

/** Who may call the meta method named `name`. */
export function metaMethodAccess(name: string): MethodAccess {
  if (adminMethods.has(name)) return 'admin';
  if (trustedMethods.has(name)) return 'trusted';
  return 'user';
}

/** The credentials a user's requests act with when it may not choose them. */
function ownCredentials(caller: Extract<Caller, { kind: 'user' }>): Credentials {
  const { user } = caller;
  return { uid: user.root ? 0 : user.uid, gid: user.gid, groups: [...user.groups] };
}

/** `request` as the service runs it for `caller`: its `cred` replaced when the caller may not choose. */
export function actingAs<Req>(caller: Caller, request: Req): Req {
  if (caller.kind === 'node' || caller.user.trusted || caller.user.admin) return request;
  if (typeof request !== 'object' || request === null || !('cred' in request)) return request;
  return { ...request, cred: ownCredentials(caller) };
}
