/**
 * The access keys of the S3 gateway in the KV (methods 45–48; the protocol module says what a key
 * is): one record per key under S3KY | accessKeyId, so adding one key never conflicts with adding
 * another and a gateway's lookup is one point read. Only root may call these; a key's id is
 * chosen by the caller, and adding the same key twice (a retried call) answers the stored one.
 */
import type { Clock } from '../common/clock.js';
import { FsError } from '../common/errors.js';
import { decodeRecord, encodeRecord } from '../common/record-codec.js';
import { MetaCode } from '../common/status-code.js';
import { concatKey, keyAfter, prefixEnd, type KvEngine } from '../kv/index.js';
import { z } from 'zod';
import type { HandlerTable } from './meta-handlers.js';
import {
  metaMethods as m,
  s3KeySchema,
  type Credentials,
  type S3Key,
  type S3KeyInfo,
} from './protocol/index.js';
import { tags } from './store/keys.js';

/** What the handlers need of the service. */
export interface S3KeyServiceParts {
  readonly kv: KvEngine;
  readonly clock: Clock;
}

const s3KeyRecordSchema = s3KeySchema.extend({ format: z.literal(1) });

function keyOf(accessKeyId: string): Buffer {
  return concatKey(tags.s3Key, Buffer.from(accessKeyId, 'ascii'));
}

function requireRoot(cred: Credentials, what: string): void {
  if (cred.uid !== 0) throw new FsError(MetaCode.NotPermitted, `only root may ${what} S3 access keys`);
}

function decode(bytes: Uint8Array, accessKeyId: string): S3Key {
  const { format: _format, ...key } = decodeRecord(s3KeyRecordSchema, bytes, `S3 access key ${accessKeyId}`);
  return key;
}

function infoOf(key: S3Key): S3KeyInfo {
  const { secretAccessKey: _secret, ...info } = key;
  return info;
}

/** Registers s3KeyAdd, s3KeyGet, s3KeyList and s3KeyRemove. */
export function registerS3KeyHandlers(parts: S3KeyServiceParts, table: HandlerTable): void {
  const { kv, clock } = parts;
  table.on(m.s3KeyAdd, async (request) => {
    requireRoot(request.cred, 'add');
    const { cred: _cred, ...wanted } = request;
    const key = await kv.transact(async (tx) => {
      const existing = await tx.get(keyOf(wanted.accessKeyId));
      if (existing !== undefined) {
        const stored = decode(existing, wanted.accessKeyId);
        const same =
          stored.secretAccessKey === wanted.secretAccessKey &&
          stored.name === wanted.name &&
          JSON.stringify(stored.owner) === JSON.stringify(wanted.owner);
        if (!same) throw new FsError(MetaCode.Exists, `access key ${wanted.accessKeyId} exists`);
        return stored;
      }
      const created: S3Key = { ...wanted, createdAtMs: clock.nowMs() };
      tx.set(keyOf(wanted.accessKeyId), encodeRecord(s3KeyRecordSchema, { format: 1, ...created }));
      return created;
    });
    return { key: infoOf(key) };
  });
  table.on(m.s3KeyGet, async (request) => {
    requireRoot(request.cred, 'read');
    const bytes = await kv.read((tx) => tx.get(keyOf(request.accessKeyId)));
    return { key: bytes === undefined ? null : decode(bytes, request.accessKeyId) };
  });
  table.on(m.s3KeyList, async (request) => {
    requireRoot(request.cred, 'list');
    const begin = request.after === undefined ? tags.s3Key : keyAfter(keyOf(request.after));
    const found = await kv.read((tx) =>
      tx.getRange(begin, prefixEnd(tags.s3Key), { limit: request.limit + 1 }),
    );
    const keys = found
      .slice(0, request.limit)
      .map((pair) => infoOf(decode(pair.value, pair.key.subarray(tags.s3Key.length).toString('ascii'))));
    return {
      keys,
      nextCursor: found.length > request.limit ? (keys[keys.length - 1]?.accessKeyId ?? null) : null,
    };
  });
  table.on(m.s3KeyRemove, async (request) => {
    requireRoot(request.cred, 'remove');
    const removed = await kv.transact(async (tx) => {
      const key = keyOf(request.accessKeyId);
      if ((await tx.get(key)) === undefined) return false;
      tx.clear(key);
      return true;
    });
    return { removed };
  });
}
