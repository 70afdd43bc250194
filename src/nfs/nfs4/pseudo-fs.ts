/**
 * NFSv4's pseudo file system: the directories on the way from the namespace root to the exports a
 * client may use, so that a client mounting "server:/" sees the exports and can walk into them,
 * and nothing else. A pseudo directory shows only the names that lead towards an allowed export;
 * it is read-only. An export of "/" that allows the client is its root directly (no pseudo part).
 */
import type { Inode, InodeId } from '../../client/index.js';
import type { ExportFs } from '../export-fs.js';
import type { Export, ExportTable } from '../exports.js';

/** Where a name in a pseudo directory leads: a deeper pseudo directory, or an export's root. */
export type PseudoStep =
  | { readonly kind: 'pseudo'; readonly components: readonly string[] }
  | { readonly kind: 'export'; readonly entry: Export };

export class PseudoFs {
  /** Pseudo directories' paths by inode id (prefixes of export paths), learnt as they are resolved. */
  private readonly paths = new Map<InodeId, readonly string[]>();

  constructor(
    private readonly exports: ExportTable,
    private readonly fs: ExportFs,
  ) {}

  /** The exports `address` may use. */
  private allowed(address: string): Export[] {
    return this.exports.exports.filter((entry) => this.exports.allows(entry, address));
  }

  /** The export of "/" when it allows `address` (then there is no pseudo root). */
  rootExport(address: string): Export | undefined {
    return this.allowed(address).find((entry) => entry.components.length === 0);
  }

  /** The inode of the pseudo directory at `components`, remembering its path. */
  async directory(components: readonly string[]): Promise<Inode> {
    const inode = await this.fs.resolvePath(`/${components.join('/')}`);
    this.paths.set(inode.ino, components);
    return inode;
  }

  /**
   * The path of pseudo directory `ino` if it still leads to an export `address` may use (a
   * handle of one is checked so); undefined otherwise.
   */
  async pathOf(ino: InodeId, address: string): Promise<readonly string[] | undefined> {
    let components = this.paths.get(ino);
    if (components === undefined) {
      // Learn the pseudo directories of every allowed export (a handle from another gateway).
      for (const entry of this.allowed(address)) {
        for (let length = 0; length < entry.components.length; length++) {
          await this.directory(entry.components.slice(0, length)).catch(() => undefined);
        }
      }
      components = this.paths.get(ino);
    }
    if (components === undefined || this.namesIn(components, address).length === 0) return undefined;
    return components;
  }

  /** The names a pseudo directory shows `address`, sorted. */
  namesIn(components: readonly string[], address: string): string[] {
    const names = new Set<string>();
    for (const entry of this.allowed(address)) {
      if (entry.components.length <= components.length) continue;
      if (!components.every((part, index) => entry.components[index] === part)) continue;
      names.add(entry.components[components.length] as string);
    }
    return [...names].sort();
  }

  /** Where `name` in the pseudo directory at `components` leads for `address`, if anywhere. */
  step(components: readonly string[], name: string, address: string): PseudoStep | undefined {
    const next = [...components, name];
    const allowed = this.allowed(address);
    const exact = allowed.find(
      (entry) =>
        entry.components.length === next.length &&
        next.every((part, index) => entry.components[index] === part),
    );
    if (exact !== undefined) return { kind: 'export', entry: exact };
    const deeper = allowed.some(
      (entry) =>
        entry.components.length > next.length &&
        next.every((part, index) => entry.components[index] === part),
    );
    return deeper ? { kind: 'pseudo', components: next } : undefined;
  }
}
