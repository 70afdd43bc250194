/**
 * Who a client is: its id in write sessions (stable per FUSE node, so a restarted daemon can
 * prune the sessions its previous life left), the ids of its sessions, and the credentials a
 * library user calls with by default (the process's own).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { limits } from '../common/limits.js';
import type { Credentials, Session } from '../meta/protocol/index.js';

const sessionPartMax = 64;

/** `text` reduced to the characters a session part allows, at most 64 of them. */
function sessionPart(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9_.:-]/g, '-').slice(0, sessionPartMax);
  return cleaned.length > 0 ? cleaned : 'client';
}

/** The client id of a FUSE daemon: one per node id, the same across restarts. */
export function fuseClientId(nodeId: number): string {
  return `fuse-${nodeId}`;
}

/** A client id unique to this process, for library users. */
export function processClientId(): string {
  return sessionPart(`lib-${randomBytes(4).toString('hex')}-${process.pid}-${hostname()}`);
}

/** Hands out session ids unique within the client's life (and across its restarts). */
export class SessionIds {
  private next = 0;
  private readonly epoch: string;

  constructor(
    readonly clientId: string,
    startedAtMs: number,
  ) {
    this.epoch = Math.floor(startedAtMs).toString(36);
  }

  /** A new write session. */
  take(): Session {
    this.next += 1;
    return { clientId: sessionPart(this.clientId), sessionId: `${this.epoch}-${this.next.toString(36)}` };
  }
}

/** The credentials of this process: effective uid and gid, and its supplementary groups. */
export function processCredentials(): Credentials {
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const groups = (process.getgroups?.() ?? []).filter((group) => group !== gid);
  return { uid, gid, groups: groups.slice(0, limits.metaGroupsMax) };
}
