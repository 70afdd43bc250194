/**
 * The gateway's view of the access keys meta keeps (meta/protocol/s3-keys.ts): a key is looked up
 * on first use and then trusted for s3KeyCacheMs, an unknown id remembered as unknown for
 * s3KeyMissCacheMs, at most s3KeyCacheEntriesMax entries (the oldest go first), and concurrent
 * lookups of one id share one call. So a removed key stops working on every gateway within
 * s3KeyCacheMs, and a flood of made-up ids costs meta one read per id and interval.
 *
 * A key's owner becomes the POSIX identity of its requests here: its ids, or its cluster user's
 * (looked up in mgmtd when the key is loaded, so a removed user's keys stop within s3KeyCacheMs);
 * an owner kind this build does not know (a newer meta's) is treated as no key at all.
 */
import type { FsClient } from '../client/index.js';
import type { Clock } from '../common/clock.js';
import { limits } from '../common/limits.js';
import { metaMethods, type S3Key } from '../meta/protocol/index.js';
import { mgmtdMethods } from '../mgmtd/protocol/index.js';
import type { AccessKey, KeyLookup } from './authenticate.js';
import { fromFsError } from './errors.js';
import { gatewayCredentials } from './staging.js';

interface Entry {
  readonly key: AccessKey | undefined;
  readonly expiresAtMs: number;
}

/** The identity of a key's requests, or undefined when it has none (removed user, unknown kind). */
export type OwnerResolver = (owner: S3Key['owner']) => Promise<AccessKey['identity'] | undefined>;

/** Resolves `ids` owners only: the identity is in the record. */
export const idsOwners: OwnerResolver = (owner) =>
  Promise.resolve(
    owner.kind === 'ids' ? { uid: owner.uid, gid: owner.gid, groups: owner.groups } : undefined,
  );

/** A key record as authentication uses it, or undefined when its owner maps to no identity. */
export async function accessKeyOf(
  record: S3Key,
  resolve: OwnerResolver = idsOwners,
): Promise<AccessKey | undefined> {
  const identity = await resolve(record.owner);
  if (identity === undefined) return undefined;
  return { accessKeyId: record.accessKeyId, secretAccessKey: record.secretAccessKey, identity };
}

export class AccessKeys {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<AccessKey | undefined>>();

  constructor(
    private readonly options: {
      /** Fetches a key from meta (undefined: none); the client's s3KeyGet by default. */
      fetch: (accessKeyId: string) => Promise<S3Key | undefined>;
      /** Maps a key's owner to an identity; `ids` owners only by default. */
      resolve?: OwnerResolver;
      clock: Clock;
    },
  ) {}

  /** Keys read through `client` as root; a user owner's identity is looked up in mgmtd. */
  static fromClient(client: FsClient, clock: Clock): AccessKeys {
    return new AccessKeys({
      clock,
      resolve: async (owner) => {
        if (owner.kind !== 'user') return idsOwners(owner);
        const { user } = await client.mgmtd.call(mgmtdMethods.userGet, { name: owner.name });
        if (user === null) return undefined;
        return { uid: user.root ? 0 : user.uid, gid: user.gid, groups: user.groups };
      },
      fetch: async (accessKeyId) => {
        const { key } = await client.meta.call(metaMethods.s3KeyGet, {
          cred: gatewayCredentials,
          accessKeyId,
        });
        return key ?? undefined;
      },
    });
  }

  /** The lookup authentication calls. */
  readonly lookup: KeyLookup = (accessKeyId) => {
    const nowMs = this.options.clock.nowMs();
    const cached = this.entries.get(accessKeyId);
    if (cached !== undefined && cached.expiresAtMs > nowMs) return Promise.resolve(cached.key);
    const pending = this.inflight.get(accessKeyId);
    if (pending !== undefined) return pending;
    const fetched = this.fetch(accessKeyId).finally(() => this.inflight.delete(accessKeyId));
    this.inflight.set(accessKeyId, fetched);
    return fetched;
  };

  private async fetch(accessKeyId: string): Promise<AccessKey | undefined> {
    // Ids meta's schema refuses are no keys; asking would only earn a BadRequest.
    if (!/^[A-Z0-9]{16,32}$/.test(accessKeyId)) return undefined;
    let key: AccessKey | undefined;
    try {
      const record = await this.options.fetch(accessKeyId);
      key = record === undefined ? undefined : await accessKeyOf(record, this.options.resolve);
    } catch (error) {
      throw fromFsError(error);
    }
    const ttlMs = key === undefined ? limits.s3KeyMissCacheMs : limits.s3KeyCacheMs;
    this.entries.delete(accessKeyId);
    this.entries.set(accessKeyId, { key, expiresAtMs: this.options.clock.nowMs() + ttlMs });
    while (this.entries.size > limits.s3KeyCacheEntriesMax) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
    return key;
  }
}
