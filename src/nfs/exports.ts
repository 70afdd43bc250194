/**
 * The gateway's exports: which directory of the namespace each one serves, to which client
 * networks, read-only or not, and how callers' identities are squashed. Pure: the table is built
 * from the validated config and answers questions; nothing here talks to the cluster.
 *
 * Invariants:
 * - an address no export allows is served nothing (the server refuses its connections);
 * - a call through an export is made with the credentials `mapCredentials` gives, never with the
 *   raw AUTH_SYS identity: all_squash maps everyone to the anonymous ids, root_squash maps uid 0
 *   (and gid 0, in the primary and supplementary groups) to them;
 * - export tags (in file handles) are derived from the export path alone, so every gateway with
 *   the same export reads the same handles.
 */
import { createHash } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { limits } from '../common/limits.js';
import type { Credentials } from '../client/index.js';
import type { Credential } from './rpc-message.js';

/** One export as configured (config.ts validates the fields). */
export interface ExportSpec {
  readonly path: string;
  readonly clients: readonly string[];
  readonly readOnly: boolean;
  readonly rootSquash: boolean;
  readonly allSquash: boolean;
  readonly anonUid: number;
  readonly anonGid: number;
}

/** One export with its derived parts. */
export interface Export extends ExportSpec {
  /** Identifies the export inside file handles: 32 bits of a hash of its path, never 0 (pseudo). */
  readonly tag: number;
  /** The path's components ("/a/b" is ["a", "b"], "/" is []). */
  readonly components: readonly string[];
  readonly networks: BlockList;
}

/** A network as `address`, `address/prefix` or `*` (every address); undefined when malformed. */
export function parseNetwork(
  text: string,
): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  if (text === '*') return { address: '::', prefix: 0, family: 'ipv6' };
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const bits = version === 4 ? 32 : 128;
  if (slash === -1) return { address, prefix: bits, family };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= bits ? { address, prefix, family } : undefined;
}

/** The path's components; the path is absolute and normalized (config.ts checks it). */
export function pathComponents(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}

/** A client address as a plain IPv4 address when it is an IPv4-mapped IPv6 one. */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped === null ? address : (mapped[1] as string);
}

function tagOf(path: string): number {
  const tag = createHash('sha256').update(`3fs-nfs-export:${path}`).digest().readUInt32BE(0);
  return tag === 0 ? 1 : tag;
}

function networksOf(clients: readonly string[]): BlockList {
  const list = new BlockList();
  for (const client of clients) {
    const network = parseNetwork(client);
    if (network === undefined) throw new RangeError(`not a network: ${client}`);
    if (client === '*') {
      list.addSubnet('0.0.0.0', 0, 'ipv4');
      list.addSubnet('::', 0, 'ipv6');
    } else {
      list.addSubnet(network.address, network.prefix, network.family);
    }
  }
  return list;
}

/** The export table; see the file comment. */
export class ExportTable {
  readonly exports: readonly Export[];
  private readonly byTag = new Map<number, Export>();

  constructor(specs: readonly ExportSpec[]) {
    this.exports = specs.map((spec) => ({
      ...spec,
      tag: tagOf(spec.path),
      components: pathComponents(spec.path),
      networks: networksOf(spec.clients),
    }));
    for (const entry of this.exports) {
      if (this.byTag.has(entry.tag)) throw new RangeError(`two exports share the tag of ${entry.path}`);
      this.byTag.set(entry.tag, entry);
    }
  }

  /** The export a handle's tag names, if it still exists. */
  withTag(tag: number): Export | undefined {
    return this.byTag.get(tag);
  }

  /** Whether `address` may use `entry`. */
  allows(entry: Export, address: string): boolean {
    const plain = plainAddress(address);
    const family = isIP(plain) === 4 ? 'ipv4' : 'ipv6';
    return entry.networks.check(plain, family);
  }

  /** Whether any export allows `address` (else its connections are refused). */
  allowsAny(address: string): boolean {
    return this.exports.some((entry) => this.allows(entry, address));
  }

  /**
   * The export a mount path falls in for `address`: the allowed export with the longest path that
   * is the path or one of its ancestors, and the components below it. Undefined when none.
   */
  resolveMount(
    components: readonly string[],
    address: string,
  ): { entry: Export; rest: readonly string[] } | undefined {
    let best: Export | undefined;
    for (const entry of this.exports) {
      if (entry.components.length > components.length) continue;
      if (!entry.components.every((part, index) => components[index] === part)) continue;
      if (!this.allows(entry, address)) continue;
      if (best === undefined || entry.components.length > best.components.length) best = entry;
    }
    return best === undefined ? undefined : { entry: best, rest: components.slice(best.components.length) };
  }
}

/**
 * The credentials a call through `entry` is made with; undefined for a flavor the gateway does
 * not take (the call is refused with AUTH_TOOWEAK or the protocol's equivalent).
 */
export function mapCredentials(entry: ExportSpec, credential: Credential): Credentials | undefined {
  const anonymous: Credentials = { uid: entry.anonUid, gid: entry.anonGid, groups: [] };
  if (credential.flavor === 'other') return undefined;
  if (credential.flavor === 'none' || entry.allSquash) return anonymous;
  const { sys } = credential;
  const squashRoot = entry.rootSquash;
  const uid = squashRoot && sys.uid === 0 ? entry.anonUid : sys.uid;
  const gid = squashRoot && sys.gid === 0 ? entry.anonGid : sys.gid;
  const groups = [...new Set(sys.groups.map((group) => (squashRoot && group === 0 ? entry.anonGid : group)))]
    .filter((group) => group !== gid)
    .slice(0, limits.metaGroupsMax);
  return { uid, gid, groups };
}
