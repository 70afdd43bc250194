/**
 * Access keys of the S3 gateway, kept by meta in the KV (methods 45–48) so that every gateway of a
 * cluster sees the same keys and none keeps any state of its own. A key maps to the POSIX identity
 * (uid, gid, groups) the gateway passes with every file system call it makes for the key's
 * requests; the namespace's permissions decide the rest.
 *
 * The owner is a tagged union: `ids` names the identity itself, `user` a cluster user (`admin
 * user-add`), whose uid, gid and groups the gateway looks up through mgmtd when it loads the key,
 * so a key stops working when its user is removed. Readers that do not know a kind refuse the key.
 *
 * The secret is stored as is: SigV4 needs it (not a hash of it) to check a signature. Only root
 * may add, list, read or remove keys, and listings never carry secrets.
 */
import { z } from 'zod';
import { limits } from '../../common/limits.js';
import { userNameSchema } from '../../mgmtd/protocol/index.js';
import { gidSchema, uidSchema } from './types.js';

/** An access key id: 16 to 32 upper-case letters and digits (AWS's are 20). */
export const s3AccessKeyIdSchema = z.string().regex(/^[A-Z0-9]{16,32}$/, '16 to 32 of A-Z and 0-9');

/** A secret access key: 40 characters of base64's alphabet, as AWS's. */
export const s3SecretAccessKeySchema = z.string().regex(/^[A-Za-z0-9+/]{40}$/, '40 base64 characters');

/** A key's label, for operators (several keys may share one). */
export const s3KeyNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'letters, digits and _.@-, 1 to 64');

/** Whom a key's requests act as. */
export const s3KeyOwnerSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('ids'),
    uid: uidSchema,
    gid: gidSchema,
    groups: z.array(gidSchema).max(limits.metaGroupsMax),
  }),
  z.strictObject({ kind: z.literal('user'), name: userNameSchema }),
]);
export type S3KeyOwner = z.infer<typeof s3KeyOwnerSchema>;

/** A key without its secret (listings). */
export const s3KeyInfoSchema = z.strictObject({
  accessKeyId: s3AccessKeyIdSchema,
  name: s3KeyNameSchema,
  owner: s3KeyOwnerSchema,
  /** When meta stored it, milliseconds since the epoch. */
  createdAtMs: z.number().int().min(0),
});
export type S3KeyInfo = z.infer<typeof s3KeyInfoSchema>;

/** A key with its secret. */
export const s3KeySchema = s3KeyInfoSchema.extend({ secretAccessKey: s3SecretAccessKeySchema });
export type S3Key = z.infer<typeof s3KeySchema>;
