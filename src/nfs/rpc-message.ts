/**
 * ONC RPC version 2 messages (the call header, the AUTH_SYS credential, and replies): decoding of a
 * call up to its procedure arguments, and encoding of every reply shape the gateway sends.
 *
 * A call whose header cannot be read at all (fewer bytes than a header) is answered with nothing:
 * the connection is closed. A call that can be read but is not one we serve gets the RPC answer
 * for it (RPC_MISMATCH, AUTH_ERROR, PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS).
 */
import { malformed, XdrReader, XdrWriter } from './xdr.js';

export const rpcVersion = 2;

export const MessageType = { Call: 0, Reply: 1 } as const;
export const ReplyStatus = { Accepted: 0, Denied: 1 } as const;

/** accept_stat of an accepted reply. */
export const AcceptStatus = {
  Success: 0,
  ProgramUnavailable: 1,
  ProgramMismatch: 2,
  ProcedureUnavailable: 3,
  GarbageArguments: 4,
  SystemError: 5,
} as const;
export type AcceptStatus = (typeof AcceptStatus)[keyof typeof AcceptStatus];

/** reject_stat of a denied reply. */
export const RejectStatus = { RpcMismatch: 0, AuthError: 1 } as const;

/** auth_stat of an AUTH_ERROR. */
export const AuthStatus = {
  BadCredentials: 1,
  RejectedCredentials: 2,
  BadVerifier: 3,
  RejectedVerifier: 4,
  TooWeak: 5,
} as const;
export type AuthStatus = (typeof AuthStatus)[keyof typeof AuthStatus];

export const AuthFlavor = { None: 0, Sys: 1 } as const;

/** Bytes of an opaque_auth body at most (RFC 5531). */
const authBodyBytesMax = 400;
/** AUTH_SYS limits (RFC 5531 appendix A). */
const machineNameBytesMax = 255;
const authSysGroupsMax = 16;

/** The identity an AUTH_SYS credential claims. */
export interface AuthSys {
  readonly stamp: number;
  readonly machineName: string;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

/** A credential: none, AUTH_SYS, or a flavor we do not take (its number). */
export type Credential =
  | { readonly flavor: 'none' }
  | { readonly flavor: 'sys'; readonly sys: AuthSys }
  | { readonly flavor: 'other'; readonly number: number };

/** A call's header; the procedure's arguments follow at `args`. */
export interface RpcCall {
  readonly xid: number;
  readonly program: number;
  readonly version: number;
  readonly procedure: number;
  readonly credential: Credential;
  readonly args: XdrReader;
}

/** What a decode made of a message: a call to serve, or a reply to send at once. */
export type DecodedCall =
  | { readonly kind: 'call'; readonly call: RpcCall }
  | { readonly kind: 'reject'; readonly xid: number; readonly reply: (writer: XdrWriter) => void };

/** Decodes the AUTH_SYS body; malformed unless it is exactly one well-formed authsys_parms. */
export function decodeAuthSys(body: Buffer): AuthSys {
  const reader = new XdrReader(body);
  const stamp = reader.u32('auth stamp');
  const machineName = reader.string(machineNameBytesMax, 'auth machine name');
  const uid = reader.u32('auth uid');
  const gid = reader.u32('auth gid');
  const groups = reader.array(authSysGroupsMax, (item) => item.u32('auth group'), 'auth groups');
  if (reader.remaining !== 0) throw malformed('AUTH_SYS body has trailing bytes');
  return { stamp, machineName, uid, gid, groups };
}

/**
 * Decodes a call message. Throws (MalformedXdr) when not even the header can be read; answers with
 * a reject for a message that is not a version 2 call or carries a bad credential.
 */
export function decodeCall(message: Buffer): DecodedCall {
  const reader = new XdrReader(message);
  const xid = reader.u32('xid');
  const type = reader.u32('message type');
  if (type !== MessageType.Call) throw malformed(`message type ${type} is not a call`);
  const version = reader.u32('rpc version');
  if (version !== rpcVersion) {
    return { kind: 'reject', xid, reply: (writer) => writeRpcMismatch(writer, xid) };
  }
  const program = reader.u32('program');
  const programVersion = reader.u32('program version');
  const procedure = reader.u32('procedure');
  const credentialFlavor = reader.u32('credential flavor');
  const credentialBody = reader.opaque(authBodyBytesMax, 'credential body');
  reader.u32('verifier flavor');
  reader.opaque(authBodyBytesMax, 'verifier body');
  let credential: Credential;
  if (credentialFlavor === AuthFlavor.None) {
    credential = { flavor: 'none' };
  } else if (credentialFlavor === AuthFlavor.Sys) {
    try {
      credential = { flavor: 'sys', sys: decodeAuthSys(credentialBody) };
    } catch {
      return {
        kind: 'reject',
        xid,
        reply: (writer) => writeAuthError(writer, xid, AuthStatus.BadCredentials),
      };
    }
  } else {
    credential = { flavor: 'other', number: credentialFlavor };
  }
  return {
    kind: 'call',
    call: { xid, program, version: programVersion, procedure, credential, args: reader },
  };
}

/** The header of an accepted reply with an AUTH_NONE verifier and `status`. */
export function writeAcceptedHeader(writer: XdrWriter, xid: number, status: AcceptStatus): void {
  writer.u32(xid).u32(MessageType.Reply).u32(ReplyStatus.Accepted);
  writer.u32(AuthFlavor.None).u32(0);
  writer.u32(status);
}

/** PROG_MISMATCH with the versions served. */
export function writeProgramMismatch(writer: XdrWriter, xid: number, low: number, high: number): void {
  writeAcceptedHeader(writer, xid, AcceptStatus.ProgramMismatch);
  writer.u32(low).u32(high);
}

/** A denied reply: RPC_MISMATCH (we speak version 2 only). */
export function writeRpcMismatch(writer: XdrWriter, xid: number): void {
  writer.u32(xid).u32(MessageType.Reply).u32(ReplyStatus.Denied);
  writer.u32(RejectStatus.RpcMismatch).u32(rpcVersion).u32(rpcVersion);
}

/** A denied reply: AUTH_ERROR with `status`. */
export function writeAuthError(writer: XdrWriter, xid: number, status: AuthStatus): void {
  writer.u32(xid).u32(MessageType.Reply).u32(ReplyStatus.Denied);
  writer.u32(RejectStatus.AuthError).u32(status);
}

/** Encodes a call message (the tests' clients and the rpcbind registration use it). */
export function writeCall(
  writer: XdrWriter,
  call: {
    xid: number;
    program: number;
    version: number;
    procedure: number;
    credential?: AuthSys | undefined;
  },
): void {
  writer.u32(call.xid).u32(MessageType.Call).u32(rpcVersion);
  writer.u32(call.program).u32(call.version).u32(call.procedure);
  if (call.credential === undefined) {
    writer.u32(AuthFlavor.None).u32(0);
  } else {
    const body = new XdrWriter(authBodyBytesMax);
    const sys = call.credential;
    body.u32(sys.stamp).string(sys.machineName).u32(sys.uid).u32(sys.gid);
    body.u32(sys.groups.length);
    for (const group of sys.groups) body.u32(group);
    writer.u32(AuthFlavor.Sys).opaque(body.toBuffer());
  }
  writer.u32(AuthFlavor.None).u32(0);
}

/** A decoded reply (the tests' clients): accepted with a status and its results, or denied. */
export type DecodedReply =
  | { readonly kind: 'accepted'; readonly xid: number; readonly status: number; readonly results: XdrReader }
  | { readonly kind: 'denied'; readonly xid: number; readonly reject: number; readonly detail: number };

/** Decodes a reply message (for clients). */
export function decodeReply(message: Buffer): DecodedReply {
  const reader = new XdrReader(message);
  const xid = reader.u32('xid');
  if (reader.u32('message type') !== MessageType.Reply) throw malformed('not a reply');
  const replyStatus = reader.u32('reply status');
  if (replyStatus === ReplyStatus.Denied) {
    const reject = reader.u32('reject status');
    return { kind: 'denied', xid, reject, detail: reader.u32('reject detail') };
  }
  reader.u32('verifier flavor');
  reader.opaque(authBodyBytesMax, 'verifier body');
  return { kind: 'accepted', xid, status: reader.u32('accept status'), results: reader };
}
