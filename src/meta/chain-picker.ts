/**
 * Picks the chains of a new file (DESIGN §6): `stripeSize` consecutive chains of the directory's
 * chain table, round-robin, plus a random seed that shuffles them. Each meta service keeps its
 * own position per chain table, starting at a random chain, rather than a shared counter in the
 * KV: creates on different services then never conflict on a counter, and over many files every
 * service's picks spread evenly. The chain tables come from the routing info mgmtd hands out.
 */
import { FsError } from '../common/errors.js';
import type { Random } from '../common/random.js';
import { MetaCode } from '../common/status-code.js';
import { consecutiveChains, type DirectoryLayout, type FileLayout } from './protocol/index.js';

/** A chain table as routing info shows it. */
export interface ChainTableView {
  chainTableId: number;
  chainTableVersion: number;
  chains: readonly number[];
}

/** Looks a chain table up in the latest routing info this service holds. */
export type ChainTableSource = (chainTableId: number) => ChainTableView | undefined;

export class ChainPicker {
  private readonly positions = new Map<number, number>();

  constructor(
    private readonly source: ChainTableSource,
    private readonly random: Random,
  ) {}

  /** The table, or NoChainTable when routing info has no table of that id with chains. */
  table(chainTableId: number): ChainTableView {
    const table = this.source(chainTableId);
    if (table === undefined || table.chains.length === 0) {
      throw new FsError(
        MetaCode.NoChainTable,
        `chain table ${chainTableId} is not in the routing info or has no chains: create it with "admin create-chain-table"`,
      );
    }
    return table;
  }

  /** A new file's layout under `directory`'s default; the stripe shrinks to the table's size. */
  fileLayout(directory: DirectoryLayout): FileLayout {
    const table = this.table(directory.chainTableId);
    const count = table.chains.length;
    const stripeSize = Math.min(directory.stripeSize, count);
    const start = this.positions.get(table.chainTableId) ?? this.random.nextInt(count);
    this.positions.set(table.chainTableId, (start + stripeSize) % count);
    return {
      chainTableId: table.chainTableId,
      chainTableVersion: table.chainTableVersion,
      chunkSizeBytes: directory.chunkSizeBytes,
      stripeSize,
      chains: consecutiveChains(table.chains, start, stripeSize),
      seed: this.random.nextU32(),
    };
  }
}
