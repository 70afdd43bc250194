/**
 * The error type of every operating error, and `assert` for broken invariants.
 * Callers branch on `error.code` (a StatusCode), never on message text.
 */
import { statusName, type StatusCode } from './status-code.js';

/** An operating error: something that can happen to a correct program (timeouts, bad input, conflicts). */
export class FsError extends Error {
  readonly code: StatusCode;

  constructor(code: StatusCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = `FsError(${statusName(code)})`;
    this.code = code;
  }
}

/** True when `error` is an FsError with the given code. */
export function hasCode(error: unknown, code: StatusCode): error is FsError {
  return error instanceof FsError && error.code === code;
}

/** A broken invariant: a bug. It must never be caught and turned into an operating error. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionError';
  }
}

/** Throws an AssertionError when `condition` is false. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** A one-line description of any thrown value, for logs and error messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
