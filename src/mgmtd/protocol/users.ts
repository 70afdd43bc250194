/**
 * The cluster's users and their tokens, as mgmtd serves them (DESIGN §15, 3FS's model). A user has
 * a name, the uid, gid and groups it acts as, and flags; each of its tokens is known by id and by
 * the key derived from its secret (rpc/caller.ts). A token being rotated out keeps working until
 * its `expiresAtMs`; a current token has none.
 */
import { z } from 'zod';
import { limits } from '../../common/limits.js';

export const userNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(
    /^[a-z_][a-z0-9_.-]*$/,
    'a user name is lower-case letters, digits, "_", "." and "-", not starting with a digit, "." or "-"',
  );
const idSchema = z.number().int().min(0).max(0xffff_fffe);
export const tokenIdSchema = z.string().regex(/^[0-9a-f]{16}$/);
const tokenKeySchema = z.string().regex(/^[0-9a-f]{64}$/);

export const userFlagsSchema = z.strictObject({
  root: z.boolean(),
  admin: z.boolean(),
  trusted: z.boolean(),
});

export const userAttributesSchema = z.strictObject({
  name: userNameSchema,
  uid: idSchema,
  gid: idSchema,
  groups: z.array(idSchema).max(limits.metaGroupsMax),
  ...userFlagsSchema.shape,
});
export type UserAttributes = z.infer<typeof userAttributesSchema>;

/** A token as the cluster keeps it. */
export const storedTokenSchema = z.strictObject({
  id: tokenIdSchema,
  key: tokenKeySchema,
  createdAtMs: z.number().int().min(0),
  /** When a rotation's grace period ends; null for a current token. */
  expiresAtMs: z.number().int().min(0).nullable(),
});
export type StoredToken = z.infer<typeof storedTokenSchema>;

/** A user with its tokens' keys: what services verify tokens against (never shown to users). */
export const userWithKeysSchema = userAttributesSchema.extend({
  tokens: z.array(storedTokenSchema).max(limits.userTokensMax),
});
export type UserWithKeys = z.infer<typeof userWithKeysSchema>;

/** A user as `user-list` shows it: its tokens without their keys. */
export const userInfoSchema = userAttributesSchema.extend({
  tokens: z.array(storedTokenSchema.omit({ key: true })).max(limits.userTokensMax),
});
export type UserInfo = z.infer<typeof userInfoSchema>;

/** The whole table services verify against, with the version it had. */
export const tokenTableSchema = z.strictObject({
  version: z.number().int().min(1),
  users: z.array(userWithKeysSchema).max(limits.usersMax),
});
export type TokenTable = z.infer<typeof tokenTableSchema>;

/** Who the caller of `whoAmI` is. */
export const callerInfoSchema = z.strictObject({
  kind: z.enum(['node', 'user']),
  /** Absent for a node. */
  user: userAttributesSchema.optional(),
  tokenId: tokenIdSchema.optional(),
});
export type CallerInfo = z.infer<typeof callerInfoSchema>;
