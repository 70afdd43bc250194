/**
 * Admin commands on the file system itself, through the client library (no mount needed):
 * `stat` (an inode, its layout and the chains holding its chunks), `set-layout` (a directory's
 * default layout for new files), `ls` and `cat`.
 */
import type { FsClient, Inode } from '../../client/index.js';
import { metaMethods } from '../../meta/protocol/index.js';
import type { RoutingInfo } from '../../mgmtd/protocol/index.js';
import { formatBytes, printMessage, printTable, type Output } from '../output.js';

/** JSON for inodes: bigints as decimal strings. */
function jsonable(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, field: unknown) => (typeof field === 'bigint' ? String(field) : field)),
  );
}

function octalMode(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function timeOf(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

function sizeOf(inode: Inode): string {
  if (inode.type === 'file') return String(inode.length);
  if (inode.type === 'symlink') return String(Buffer.byteLength(inode.target));
  if ('device' in inode) return `${inode.device.major}, ${inode.device.minor}`;
  return '-';
}

/** `stat PATH`: the inode, and for a file its layout and chains as routing info shows them. */
export async function commandStat(client: FsClient, output: Output, path: string): Promise<void> {
  const inode = await client.lstat(path);
  const routing = await client.routing.refresh();
  const lines = [
    `path:    ${path}`,
    `inode:   ${inode.ino}`,
    `type:    ${inode.type}`,
    `mode:    ${octalMode(inode.mode)}  uid ${inode.uid}  gid ${inode.gid}  nlink ${inode.nlink}`,
    `size:    ${sizeOf(inode)}`,
    `atime:   ${timeOf(inode.atimeNs)}`,
    `mtime:   ${timeOf(inode.mtimeNs)}`,
    `ctime:   ${timeOf(inode.ctimeNs)}`,
    ...detailLines(inode, routing),
  ];
  printMessage(output, jsonable(inode), lines.join('\n'));
}

function detailLines(inode: Inode, routing: RoutingInfo): string[] {
  if (inode.type === 'symlink') return [`target:  ${inode.target}`];
  if (inode.type === 'directory') {
    const layout = inode.layout;
    return [
      `parent:  ${inode.parent}`,
      `layout for new files: chain table ${layout.chainTableId}, chunk ${formatBytes(layout.chunkSizeBytes)}, stripe ${layout.stripeSize}`,
    ];
  }
  if ('device' in inode) return [`device:  major ${inode.device.major}, minor ${inode.device.minor}`];
  if (inode.type !== 'file') return [];
  const layout = inode.layout;
  const chains = layout.chains.map((chainId) => {
    const chain = routing.chains.find((candidate) => candidate.chainId === chainId);
    const targets =
      chain === undefined
        ? 'not in routing info'
        : `v${chain.chainVersion}: ${chain.targets.map((target) => `${target.targetId}(${target.publicState})`).join(' -> ')}`;
    return `  chain ${chainId} ${targets}`;
  });
  return [
    `layout:  chain table ${layout.chainTableId} v${layout.chainTableVersion}, chunk ${formatBytes(layout.chunkSizeBytes)} (${layout.chunkSizeBytes} bytes), stripe ${layout.stripeSize}, seed ${layout.seed}`,
    `truncate version: ${inode.truncateVersion}`,
    'chains (in layout order):',
    ...chains,
  ];
}

/** `set-layout DIR`: the default layout of files created in DIR from now on. */
export async function commandSetLayout(
  client: FsClient,
  output: Output,
  path: string,
  changes: { chunkSize?: number; stripe?: number; chainTable?: number },
): Promise<void> {
  const inode = await client.setLayout(path, {
    ...(changes.chunkSize === undefined ? {} : { chunkSizeBytes: changes.chunkSize }),
    ...(changes.stripe === undefined ? {} : { stripeSize: changes.stripe }),
    ...(changes.chainTable === undefined ? {} : { chainTableId: changes.chainTable }),
  });
  const layout = inode.type === 'directory' ? inode.layout : undefined;
  printMessage(
    output,
    jsonable(inode),
    layout === undefined
      ? `${path}: layout set`
      : `${path}: new files get chain table ${layout.chainTableId}, chunk ${formatBytes(layout.chunkSizeBytes)}, stripe ${layout.stripeSize}`,
  );
}

/** `ls PATH`: the entries of a directory (or the file itself), with their attributes. */
export async function commandLs(client: FsClient, output: Output, path: string): Promise<void> {
  const target = await client.stat(path);
  const named: Array<{ name: string; inode: Inode | null }> = [];
  if (target.type !== 'directory') {
    named.push({ name: path, inode: target });
  } else {
    const entries = await client.readdir(path);
    for (let start = 0; start < entries.length; start += 1_000) {
      const slice = entries.slice(start, start + 1_000);
      const { inodes } = await client.meta.call(metaMethods.batchStat, {
        cred: client.credentials,
        inos: slice.map((entry) => entry.ino),
      });
      slice.forEach((entry, index) => named.push({ name: entry.name, inode: inodes[index] ?? null }));
    }
  }
  printTable(
    output,
    jsonable(named),
    ['INODE', 'TYPE', 'MODE', 'UID', 'GID', 'NLINK', 'SIZE', 'MTIME', 'NAME'],
    named.map(({ name, inode }) =>
      inode === null
        ? ['-', '-', '-', '-', '-', '-', '-', '-', name]
        : [
            String(inode.ino),
            inode.type,
            octalMode(inode.mode),
            inode.uid,
            inode.gid,
            inode.nlink,
            sizeOf(inode),
            timeOf(inode.mtimeNs),
            inode.type === 'symlink' ? `${name} -> ${inode.target}` : name,
          ],
    ),
  );
}

/** `cat PATH`: a file's bytes, streamed in 4 MiB reads. */
export async function commandCat(
  client: FsClient,
  path: string,
  writeBytes: (bytes: Buffer) => Promise<void>,
): Promise<void> {
  const file = await client.open(path);
  try {
    for (let offset = 0n; ;) {
      const bytes = await file.read(offset, 4 * 1024 * 1024);
      if (bytes.length === 0) return;
      await writeBytes(bytes);
      offset += BigInt(bytes.length);
    }
  } finally {
    await file.close();
  }
}
