/**
 * READDIR cookies. Meta lists a directory in name order and resumes after a name; NFS resumes
 * after an opaque 64-bit cookie. A cookie here is the ordinal of an entry in the listing (so it
 * means the same on every gateway and after a restart), and the gateway remembers, for recent
 * cookies, the name that ends at it, so a client reading on resumes with one meta call. A cookie
 * not remembered (another gateway made it, the gateway restarted, it was dropped) is found by
 * reading the directory from its start and counting: slower, never wrong about where it is, though
 * a directory changed in between may show an entry twice or not at all, as on any NFS server.
 *
 * Bounded: at most `entriesMax` cookies are remembered; the oldest go first.
 */
import type { InodeId } from '../client/index.js';

export class ReaddirCursors {
  private readonly names = new Map<string, string>();

  constructor(private readonly entriesMax: number) {}

  /** The name the listing of `directory` reached at `cookie`, if remembered. */
  nameAt(directory: InodeId, cookie: bigint): string | undefined {
    const key = `${directory}:${cookie}`;
    const name = this.names.get(key);
    if (name !== undefined) {
      // Recently used cookies stay longest.
      this.names.delete(key);
      this.names.set(key, name);
    }
    return name;
  }

  /** Remembers that the listing of `directory` reaches `name` at `cookie`. */
  remember(directory: InodeId, cookie: bigint, name: string): void {
    const key = `${directory}:${cookie}`;
    this.names.delete(key);
    this.names.set(key, name);
    while (this.names.size > this.entriesMax) {
      const oldest = this.names.keys().next();
      if (oldest.done === true) break;
      this.names.delete(oldest.value);
    }
  }

  get size(): number {
    return this.names.size;
  }
}
