/** A user token kept in a file (`token_file` of a client's config, `--token-file` of admin). */
import { readFileSync } from 'node:fs';
import { FsError, describeError } from '../common/errors.js';
import { CommonCode } from '../common/status-code.js';
import type { ClusterSecretsLike } from '../common/cluster-secrets.js';
import { readSecretFile } from '../common/config.js';
import { parseToken, type PresentedToken } from '../rpc/index.js';

/** Reads a token file (its first line; surrounding whitespace ignored), at most 1 KiB. */
export function readTokenFile(path: string): string {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > 1024) throw new Error(`${bytes.length} bytes; a token file holds one short line`);
    text = bytes.toString('utf8');
  } catch (error) {
    throw new FsError(
      CommonCode.ConfigInvalid,
      `cannot read the token file ${path}: ${describeError(error)}`,
    );
  }
  const line = text.trim().split('\n')[0]?.trim() ?? '';
  parseToken(line, `token file ${path}`);
  return line;
}

/** A `[cluster]` section of a client: a token file, a secret file, or both. */
interface ClientCluster {
  readonly secret_file?: string | undefined;
  readonly token_file?: string | undefined;
}

function secretsOf<Secret>(cluster: ClientCluster, secrets: Secret | undefined): Secret | string {
  if (secrets !== undefined) return secrets;
  if (cluster.secret_file === undefined) {
    throw new FsError(CommonCode.ConfigInvalid, '[cluster] names neither token_file nor secret_file');
  }
  return readSecretFile(cluster.secret_file);
}

/**
 * How a client of the file system configured by a `[cluster]` section connects: with the token in
 * its `token_file` when there is one, else with the cluster secret (`secrets`, or its secret file).
 */
export function clientAuthentication<Secret>(
  cluster: ClientCluster,
  secrets?: Secret,
): { token: string } | { clusterSecret: Secret | string } {
  return cluster.token_file === undefined
    ? { clusterSecret: secretsOf(cluster, secrets) }
    : { token: readTokenFile(cluster.token_file) };
}

/** The same for an RpcClient of its own (metrics): the token's id and key, or the secret. */
export function rpcAuthentication(
  cluster: ClientCluster,
  secrets?: ClusterSecretsLike,
): { clusterSecret: ClusterSecretsLike; token?: PresentedToken } {
  const auth = clientAuthentication(cluster, secrets);
  return 'token' in auth
    ? { clusterSecret: '', token: parseToken(auth.token, cluster.token_file ?? 'the token file') }
    : auth;
}
