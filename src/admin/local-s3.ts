/**
 * The S3 gateway of `3fs local --s3 PORT`: its configuration (the whole namespace, on 127.0.0.1),
 * an access key for the user who runs the cluster (made on the first run with --s3 and kept in
 * etc/s3-credentials, an AWS shared credentials file readable by that user only, so the same key
 * works on every later run), and the lines of the summary that say how to use it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { FsClient } from '../client/index.js';
import { readSecretFile, splitAddress } from '../common/config.js';
import { metaMethods } from '../meta/protocol/index.js';
import { newAccessKeyId, newSecretAccessKey } from './commands/s3-keys.js';

/** The S3 gateway of a local cluster. */
export interface LocalS3 {
  config: string;
  nodeId: number;
  address: string;
  /** The AWS shared credentials file holding the local user's key. */
  credentials: string;
}

/** The S3 gateway's node id in a local cluster. */
export const localS3NodeId = 260;

/** The gateway's TOML; `sections` are the cluster, mgmtd and monitor sections every service has. */
export function s3ConfigText(
  s3: LocalS3,
  sections: { cluster: string; mgmtd: string; monitor: string },
): string {
  return `# The S3 gateway of the local cluster (its port comes from "3fs local --s3").
[node]
id = ${s3.nodeId}

${sections.cluster}
${sections.mgmtd}
[s3]
listen = "${s3.address}"
# Every top-level directory of the file system is a bucket.
export_root = "/"
region = "us-east-1"

${sections.monitor}`;
}

/** The access key id in a credentials file this module wrote, or undefined. */
function keyIdIn(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  return /^aws_access_key_id = (\S+)$/m.exec(readFileSync(path, 'utf8'))?.[1];
}

/**
 * Makes the local user's access key unless the credentials file names one meta still has; the
 * key acts as the user who runs the cluster (who owns the file system's root).
 */
export async function ensureLocalS3Key(options: {
  s3: LocalS3;
  mgmtdAddress: string;
  secretFile: string;
}): Promise<void> {
  const root = { uid: 0, gid: 0, groups: [] };
  const client = await FsClient.connect({
    mgmtdAddresses: [options.mgmtdAddress],
    clusterSecret: readSecretFile(options.secretFile),
    credentials: root,
    tuning: { routingRefreshMs: undefined },
  });
  try {
    const existing = keyIdIn(options.s3.credentials);
    if (existing !== undefined) {
      const { key } = await client.meta.call(metaMethods.s3KeyGet, { cred: root, accessKeyId: existing });
      if (key !== null) return;
    }
    const accessKeyId = newAccessKeyId();
    const secretAccessKey = newSecretAccessKey();
    const uid = process.geteuid?.() ?? 0;
    const gid = process.getegid?.() ?? 0;
    const groups = (process.getgroups?.() ?? []).filter((group) => group !== gid).slice(0, 64);
    await client.meta.call(metaMethods.s3KeyAdd, {
      cred: root,
      accessKeyId,
      secretAccessKey,
      name: 'local',
      owner: { kind: 'ids', uid, gid, groups },
    });
    writeFileSync(
      options.s3.credentials,
      `# The S3 key of "3fs local" (made by its first run with --s3).\n[default]\n` +
        `aws_access_key_id = ${accessKeyId}\naws_secret_access_key = ${secretAccessKey}\n`,
      { mode: 0o600 },
    );
  } finally {
    await client.close();
  }
}

/** The S3 lines of the summary: where it answers and how to reach it. */
export function s3Summary(s3: LocalS3): string {
  const { port } = splitAddress(s3.address);
  return (
    `  s3:      http://${s3.address} (region us-east-1; the key is in ${s3.credentials})\n` +
    `           AWS_SHARED_CREDENTIALS_FILE=${s3.credentials} aws --region us-east-1 --endpoint-url http://127.0.0.1:${port} s3 ls\n`
  );
}
