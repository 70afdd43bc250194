/**
 * The server's boundary for one request: find the method, check the payload checksum, validate the
 * body with the method's schema, run the handler, and turn whatever happens into a reply. Nothing a
 * peer sends makes this throw: bad input becomes an error status, and so does a failing handler.
 * A handler that breaks an invariant (AssertionError) is a bug on this side: the server's owner
 * decides through `onBrokenInvariant` (the services crash rather than go on with corrupt state).
 */
import { formatIssues } from '../common/config.js';
import { AssertionError, FsError, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { CommonCode, Ok, RpcCode, statusName } from '../common/status-code.js';
import { encodeBody } from './body-codec.js';
import { errorBody } from './error-reply.js';
import { payloadChecksumMatches, type Frame } from './frame.js';
import type { LazyAbort } from './lazy-abort.js';
import { callerMayCall, type Caller, type MethodAccess } from './caller.js';
import { methodKey, type MethodDef } from './method.js';

/** What a handler learns about its call besides the request. */
export interface CallContext {
  /** "host:port" of the calling node. */
  readonly peerAddress: string;
  /** Who calls: a node of the cluster or a user's token (caller.ts). */
  readonly caller: Caller;
  /**
   * The request's raw payload, checksum already verified unless the method says its handler
   * checks it (MethodDef.payloadCheckedByHandler); undefined when none was sent.
   */
  readonly payload: Buffer | undefined;
  /** The CRC32C `payload` was verified against; undefined when none was sent or it was not checked. */
  readonly payloadCrc32c: number | undefined;
  /** Aborts when the connection closes or the server stops waiting for handlers. */
  readonly signal: AbortSignal;
  /**
   * Attaches raw bytes to the response; they are sent as they are, after the body. `crc32c`, when
   * the handler already holds the bytes' CRC32C (it verified them), spares summing them again.
   */
  setReplyPayload(payload: Buffer, crc32c?: number): void;
  /**
   * A buffer of `length` bytes for the reply's payload from the server's payload pool, or
   * undefined (no pool, or a length it does not pool). The server owns it: it goes back to the
   * pool once the reply is written, so the handler keeps nothing of it past its own end.
   */
  replyBuffer(length: number): Buffer | undefined;
  /**
   * After a successful reply, hands the connection over: the server stops reading it once this
   * request arrived, writes the reply, gives the socket's descriptor to `take` (which must
   * duplicate it at once) and forgets the connection. The peer must send nothing more until it has
   * the reply.
   */
  handOverConnection(take: (fd: number) => void): void;
}

/** A handler as stored by the server: types erased, the method's schema restores them at the edge. */
export interface RegisteredMethod {
  readonly method: MethodDef<unknown, unknown>;
  /** Who may call it. */
  readonly access: MethodAccess;
  readonly handler: (request: unknown, context: CallContext) => Promise<unknown>;
}

/** The reply to send for one request. */
export interface Reply {
  readonly status: number;
  readonly body: Uint8Array;
  readonly payload: Buffer | undefined;
  /** The payload's CRC32C when the handler supplied it. */
  readonly payloadCrc32c?: number | undefined;
  /** What takes the connection over after this reply (CallContext.handOverConnection). */
  readonly handOver?: ((fd: number) => void) | undefined;
}

function errorReply(status: number, message: string): Reply {
  return { status, body: encodeBody(errorBody(message)), payload: undefined };
}

/** Runs one request whose body has decoded to `body`; always resolves with a reply. */
export async function dispatchRequest(options: {
  readonly methods: ReadonlyMap<number, RegisteredMethod>;
  readonly frame: Frame;
  readonly body: unknown;
  /** Undefined when the connection's token was revoked since the handshake. */
  readonly caller: Caller | undefined;
  readonly peerAddress: string;
  /** Aborts when the handler should stop; its signal is created only if the handler asks. */
  readonly abort: LazyAbort;
  readonly logger: Logger;
  /** Told of an AssertionError a handler threw, before the caller gets Common.Internal. */
  readonly onBrokenInvariant?: ((error: AssertionError, methodName: string) => void) | undefined;
  /** Backs `CallContext.replyBuffer` (the connection lets go of what it hands out). */
  readonly replyBuffer?: ((length: number) => Buffer | undefined) | undefined;
  /** Told when the handler asks to take the connection over (it stops reading then). */
  readonly onHandOver?: (() => void) | undefined;
}): Promise<Reply> {
  const { frame, logger } = options;
  const { serviceId, methodId } = frame.header;
  const registered = options.methods.get(methodKey(serviceId, methodId));
  if (registered === undefined) {
    return errorReply(RpcCode.UnknownMethod, `unknown method: service ${serviceId}, method ${methodId}`);
  }
  const { method, handler } = registered;
  const { caller } = options;
  if (caller === undefined) {
    return errorReply(
      RpcCode.AuthFailed,
      `${method.name}: the connection's user token was revoked or expired`,
    );
  }
  if (!callerMayCall(caller, registered.access)) {
    const who = caller.kind === 'user' ? `user "${caller.user.name}"` : 'this caller';
    return errorReply(
      RpcCode.AuthFailed,
      `${method.name}: ${who} may not call it (${registered.access === 'node' ? 'cluster nodes only' : `${registered.access} tokens only`})`,
    );
  }
  if (!method.payloadCheckedByHandler && !payloadChecksumMatches(frame)) {
    return errorReply(
      RpcCode.PayloadChecksumMismatch,
      `${method.name}: request payload fails its CRC32C check`,
    );
  }
  let replyPayload: Buffer | undefined;
  let replyPayloadCrc32c: number | undefined;
  let handOver: ((fd: number) => void) | undefined;
  const context: CallContext = {
    peerAddress: options.peerAddress,
    caller,
    payload: frame.payload,
    payloadCrc32c:
      frame.payload === undefined || method.payloadCheckedByHandler ? undefined : frame.header.payloadCrc32c,
    get signal() {
      return options.abort.signal;
    },
    setReplyPayload: (payload, crc32c) => {
      replyPayload = payload;
      replyPayloadCrc32c = crc32c;
    },
    replyBuffer: (length) => options.replyBuffer?.(length),
    handOverConnection: (take) => {
      handOver = take;
      options.onHandOver?.();
    },
  };
  let response: unknown;
  try {
    const parsed = method.request.safeParse(options.body);
    if (!parsed.success) {
      return errorReply(
        RpcCode.BadRequest,
        `${method.name}: invalid request:\n${formatIssues(parsed.error.issues)}`,
      );
    }
    response = await handler(parsed.data, context);
  } catch (error) {
    if (error instanceof FsError && error.code !== Ok) {
      logger.debug(
        { method: method.name, code: statusName(error.code) },
        `${method.name} failed: ${error.message}`,
      );
      return errorReply(error.code, error.message);
    }
    if (error instanceof AssertionError) options.onBrokenInvariant?.(error, method.name);
    return internalErrorReply(method.name, error, logger);
  }
  try {
    return {
      status: Ok,
      body: encodeBody(response),
      payload: replyPayload,
      payloadCrc32c: replyPayloadCrc32c,
      handOver,
    };
  } catch (error) {
    // The handler returned something that cannot cross the wire: a bug on this side, not the caller's.
    return internalErrorReply(method.name, error, logger);
  }
}

function internalErrorReply(methodName: string, error: unknown, logger: Logger): Reply {
  logger.error(
    { method: methodName, err: error },
    `${methodName} failed unexpectedly: ${describeError(error)}`,
  );
  return errorReply(CommonCode.Internal, `${methodName}: ${describeError(error)}`);
}
