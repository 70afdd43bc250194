/**
 * How CopyObject copies an object's bytes: by a copy-on-write clone inside the cluster (metadata
 * time: every chunk stays shared with the source until either side writes it), or byte by byte
 * through the gateway. A clone gives the copy the source's layout; a byte copy gives it the layout
 * of the staging directory it is written in, as any upload. The clone is taken only when the source
 * has the chain table and chunk size an upload gets and a stripe no wider than an upload's, so a
 * copy never gets a layout an upload of the same bytes could not have had. Pure:
 * object-operations.ts acts on the decision.
 */
import type { DirectoryInode, FileLayout } from '../client/index.js';

/** A clone, or the byte copy and why a clone did not apply. */
export type CopyMethod = { readonly method: 'clone' } | { readonly method: 'bytes'; readonly reason: string };

/** The method of copying a source of layout `source` into a staging directory of layout `staging`. */
export function copyMethod(layouts: { source: FileLayout; staging: DirectoryInode['layout'] }): CopyMethod {
  const { source, staging } = layouts;
  if (source.chunkSizeBytes !== staging.chunkSizeBytes) {
    return {
      method: 'bytes',
      reason: `the source's chunk size (${source.chunkSizeBytes}) is not an upload's (${staging.chunkSizeBytes})`,
    };
  }
  if (source.chainTableId !== staging.chainTableId) {
    return {
      method: 'bytes',
      reason: `the source's chain table (${source.chainTableId}) is not an upload's (${staging.chainTableId})`,
    };
  }
  // A create narrows the stripe to the chains its table has, so a narrower one is an upload's too.
  if (source.stripeSize > staging.stripeSize) {
    return {
      method: 'bytes',
      reason: `the source's stripe (${source.stripeSize} chains) is wider than an upload's (${staging.stripeSize})`,
    };
  }
  return { method: 'clone' };
}
