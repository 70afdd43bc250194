/**
 * mgmtd's key layout: a four-byte prefix per record type, then fixed-width big-endian ids so one
 * prefix holds exactly one record type and ranges list them in id order.
 */

const prefix = (text: string): Buffer => Buffer.from(text, 'ascii');

export const prefixes = {
  cluster: prefix('CLST'),
  lease: prefix('MLEA'),
  routingVersion: prefix('RVER'),
  node: prefix('NODE'),
  target: prefix('TRGT'),
  chain: prefix('CHAN'),
  chainTable: prefix('CHTB'),
} as const;

function withU64(base: Buffer, id: number): Buffer {
  const key = Buffer.alloc(base.length + 8);
  base.copy(key);
  key.writeBigUInt64BE(BigInt(id), base.length);
  return key;
}

export const keys = {
  cluster: (): Buffer => prefixes.cluster,
  lease: (): Buffer => prefixes.lease,
  routingVersion: (): Buffer => prefixes.routingVersion,
  node: (nodeId: number): Buffer => withU64(prefixes.node, nodeId),
  target: (targetId: number): Buffer => withU64(prefixes.target, targetId),
  chain: (chainId: number): Buffer => withU64(prefixes.chain, chainId),
  chainTable: (chainTableId: number): Buffer => withU64(prefixes.chainTable, chainTableId),
};

/** The [begin, end) range holding every key of one prefix. */
export function prefixRange(base: Buffer): [Buffer, Buffer] {
  const end = Buffer.from(base);
  // The prefixes are ASCII letters, so the last byte never overflows.
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  return [base, end];
}
