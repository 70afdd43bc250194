/**
 * The one mapping of PostgreSQL and node-postgres errors onto KV status codes. Serialization
 * failures and deadlocks are conflicts (the transaction runs again); a lost, refused or
 * timed-out connection and a server shutting down or starting are Unavailable (retryable, on a
 * new connection); everything else is an EngineFailure carrying the server's message and SQLSTATE.
 */
import pg from 'pg';
import { FsError, describeError } from '../common/errors.js';
import { KvCode } from '../common/status-code.js';

/** SQLSTATEs after which running the transaction again may succeed as is. */
const conflictStates: ReadonlySet<string> = new Set([
  '40001', // serialization_failure: SERIALIZABLE found a dependency cycle, or a concurrent update
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
]);

/** SQLSTATEs of a server that is going away, starting, or out of connections. */
const unavailableStates: ReadonlySet<string> = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or in recovery
  '57014', // query_canceled: our statement_timeout fired (the server was slow or a lock was held)
  '53300', // too_many_connections
  '25006', // read_only_sql_transaction: a standby answered (failover in progress)
  '40003', // statement_completion_unknown
]);

/**
 * node-postgres reports a broken connection as a plain Error (no SQLSTATE) or a Node system error;
 * these are the codes and messages it uses. Matching text is confined to this edge.
 */
const connectionErrorCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOENT', // a unix socket that is not there (yet): the server is not running
]);
const connectionErrorMessages = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'is not queryable',
  'Client was closed',
  'Connection ended',
];

/** The SQLSTATE of an error the server sent, or undefined for errors of the client side. */
export function sqlStateOf(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError && typeof error.code === 'string' ? error.code : undefined;
}

/**
 * True when the connection that produced `error` cannot be trusted any more: it must be
 * destroyed, not returned to the pool.
 */
export function isConnectionBroken(error: unknown): boolean {
  const state = sqlStateOf(error);
  if (state !== undefined) return state.startsWith('08') || state.startsWith('57P');
  return !(error instanceof FsError);
}

/**
 * True when the server itself answered with an error: whatever the statement was (COMMIT
 * included), the server has decided, so its outcome is known.
 */
export function isServerAnswer(error: unknown): boolean {
  const state = sqlStateOf(error);
  return state !== undefined && !state.startsWith('08') && !state.startsWith('57P');
}

/** True for errors of a connection that broke, was refused, or timed out. */
export function isConnectionFailure(error: unknown): boolean {
  const state = sqlStateOf(error);
  if (state !== undefined) return state.startsWith('08') || unavailableStates.has(state);
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && connectionErrorCodes.has(code)) return true;
  return connectionErrorMessages.some((text) => error.message.includes(text));
}

/** Maps an error met while doing `action` onto a KV status code. */
export function postgresFailure(error: unknown, action: string): FsError {
  if (error instanceof FsError) return error;
  const state = sqlStateOf(error);
  const detail = state === undefined ? describeError(error) : `${describeError(error)} (SQLSTATE ${state})`;
  if (state !== undefined && conflictStates.has(state)) {
    return new FsError(KvCode.Conflict, `postgres refused to ${action}: ${detail}`, { cause: error });
  }
  if (isConnectionFailure(error)) {
    return new FsError(KvCode.Unavailable, `postgres unavailable while trying to ${action}: ${detail}`, {
      cause: error,
    });
  }
  return new FsError(KvCode.EngineFailure, `postgres failed to ${action}: ${detail}`, { cause: error });
}
