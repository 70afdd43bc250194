// 3fs: entry point for whole-cluster commands. `3fs local` runs a cluster on this machine.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { runLocalCluster } from '../admin/local-cluster.js';
import { version } from '../common/version.js';

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new InvalidArgumentError('a port from 1 to 65535');
  return port;
}

/** ${XDG_STATE_HOME:-~/.local/state}/3fs/local: where a local cluster keeps its data by default. */
function defaultDataDir(): string {
  const stateHome = process.env['XDG_STATE_HOME'];
  const base = stateHome !== undefined && stateHome !== '' ? stateHome : join(homedir(), '.local', 'state');
  return join(base, '3fs', 'local');
}

/** A PostgreSQL URL without a password (secrets belong in files, not on command lines). */
function parsePostgresUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('a URL such as postgres://user@127.0.0.1:5432/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new InvalidArgumentError('only postgres:// URLs are accepted (sqlite is the default)');
  }
  if (url.password !== '') throw new InvalidArgumentError('put no password in the URL');
  return value;
}

interface LocalFlags {
  data?: string;
  dataDir?: string;
  mount?: string | true;
  mgmtdPort: number;
  clusterId: string;
  kv?: string;
  nfs?: number;
  s3?: number;
}

const program = new Command('3fs').description('3fs-ts: a distributed file system').version(version);
program
  .command('local')
  .description('run a whole cluster on this machine (embedded sqlite metadata engine) and mount it')
  .option('--mount [dir]', 'mount the file system on DIR (default: <data>/mnt)')
  .option('--data <dir>', `where configs, metadata and chunks live (default: ${defaultDataDir()})`)
  .addOption(new Option('--data-dir <dir>', 'the same as --data').hideHelp())
  .option(
    '--mgmtd-port <port>',
    'mgmtd port on 127.0.0.1; the others follow it (first run only)',
    parsePort,
    8000,
  )
  .option('--cluster-id <id>', 'cluster id (first run only)', 'local')
  .option(
    '--kv <url>',
    'a PostgreSQL server as the metadata engine, postgres://user@host:port/db (first run only)',
    parsePostgresUrl,
  )
  .option(
    '--nfs <port>',
    'also serve the file system over NFS (v3 and v4) on this port of 127.0.0.1',
    parsePort,
  )
  .option(
    '--s3 <port>',
    'also serve the file system over S3 on this port of 127.0.0.1 (buckets are its top-level directories)',
    parsePort,
  )
  .action(async (flags: LocalFlags) => {
    const dataDir = flags.data ?? flags.dataDir ?? defaultDataDir();
    const mount = flags.mount === true ? join(dataDir, 'mnt') : flags.mount;
    process.exitCode = await runLocalCluster(
      {
        dataDir,
        mgmtdPort: flags.mgmtdPort,
        clusterId: flags.clusterId,
        ...(flags.kv === undefined ? {} : { kvUrl: flags.kv }),
        ...(flags.nfs === undefined ? {} : { nfsPort: flags.nfs }),
        ...(flags.s3 === undefined ? {} : { s3Port: flags.s3 }),
        ...(mount === undefined ? {} : { mount }),
      },
      (text) => process.stdout.write(text),
    );
  });
await program.parseAsync();
