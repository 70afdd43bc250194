/**
 * Directory quotas on the writing side (meta/quota/quota-grants.ts). A file whose inode names
 * quotas is written within a grant: the length its writers may make it without asking. A write
 * that would end past the grant this client knows asks meta for more first (one call per
 * metaQuotaGrantBytes appended), and fails whole with EDQUOT, writing nothing, when the quotas
 * cannot hold all of it. Meta answering that no byte limit applies ends the asking for the file.
 */
import { FsError } from '../common/errors.js';
import { MetaCode } from '../common/status-code.js';
import { metaMethods, type Credentials, type Session } from '../meta/protocol/index.js';
import type { MetaClient } from './meta-client.js';

/** What the client knows of one file's grant (kept in its OpenInode record). */
export interface QuotaRoom {
  readonly file: { readonly ino: bigint };
  /** The file's inode names quotas, and meta has not said that none limits its bytes. */
  quotaLimited: boolean;
  /** The length meta granted this file's writers (0 until asked). */
  quotaCeiling: bigint;
}

/** Resolves once the file may be `endBytes` long; QuotaExceeded when its quotas cannot hold that. */
export async function requireQuotaRoom(options: {
  meta: MetaClient;
  room: QuotaRoom;
  cred: Credentials;
  session: Session;
  endBytes: bigint;
}): Promise<void> {
  const { room, endBytes } = options;
  if (!room.quotaLimited || endBytes <= room.quotaCeiling) return;
  const { ceilingBytes } = await options.meta.call(metaMethods.quotaGrant, {
    cred: options.cred,
    ino: room.file.ino,
    session: options.session,
    endBytes,
  });
  if (ceilingBytes === null) {
    room.quotaLimited = false;
    return;
  }
  if (ceilingBytes > room.quotaCeiling) room.quotaCeiling = ceilingBytes;
  if (endBytes > room.quotaCeiling) {
    throw new FsError(
      MetaCode.QuotaExceeded,
      `file ${room.file.ino} may grow to ${room.quotaCeiling} bytes within its directory quotas, not ${endBytes}`,
    );
  }
}
