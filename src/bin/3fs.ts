// 3fs: entry point for whole-cluster commands. `3fs local` runs a cluster on this machine.
import { Command, InvalidArgumentError } from 'commander';
import { runLocalCluster } from '../admin/local-cluster.js';
import { version } from '../common/version.js';

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new InvalidArgumentError('a port from 1 to 65535');
  return port;
}

const program = new Command('3fs').description('3fs-ts: a distributed file system').version(version);
program
  .command('local')
  .description('run a whole cluster on this machine (embedded sqlite metadata engine)')
  .option('--data-dir <dir>', 'where configs, metadata and chunks live', '.3fs-local')
  .option('--mgmtd-port <port>', 'mgmtd listen port on 127.0.0.1', parsePort, 8000)
  .option('--cluster-id <id>', 'cluster id', 'local')
  .action(async (flags: { dataDir: string; mgmtdPort: number; clusterId: string }) => {
    process.exitCode = await runLocalCluster(flags, (text) => process.stdout.write(text));
  });
await program.parseAsync();
