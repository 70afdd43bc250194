/** A user token kept in a file (`token_file` of a client's config, `--token-file` of admin). */
import { readFileSync } from 'node:fs';
import { FsError, describeError } from '../common/errors.js';
import { CommonCode } from '../common/status-code.js';
import { parseToken } from '../rpc/index.js';

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

/**
 * How a client of the file system configured by a `[cluster]` section connects: with the token in
 * its `token_file` when there is one, else with the cluster secret `secret()` gives.
 */
export function clientAuthentication<Secret>(
  cluster: { readonly token_file?: string | undefined },
  secret: () => Secret,
): { token: string } | { clusterSecret: Secret } {
  return cluster.token_file === undefined
    ? { clusterSecret: secret() }
    : { token: readTokenFile(cluster.token_file) };
}
