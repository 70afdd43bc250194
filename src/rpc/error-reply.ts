/**
 * How an error crosses the wire: a Response (or HandshakeResult) frame with a non-zero status code
 * and a body `{ message }`. The client turns it back into an FsError with the same code and message.
 */
import { z } from 'zod';
import { FsError } from '../common/errors.js';
import { RpcCode, type StatusCode } from '../common/status-code.js';

/** The body of every frame with a non-zero status. */
export const errorBodySchema = z.object({ message: z.string() });

/** Longer messages are cut: an error reply must always fit in a frame body, whatever went wrong. */
const messageCharactersMax = 16_384;

/** The body to send for an error with this message. */
export function errorBody(message: string): z.output<typeof errorBodySchema> {
  if (message.length <= messageCharactersMax) return { message };
  return {
    message: `${message.slice(0, messageCharactersMax)}… (${message.length - messageCharactersMax} more characters)`,
  };
}

/**
 * The FsError a received error status stands for. Codes this build does not know (from a newer
 * peer) are kept as they are: callers compare codes, and statusName prints them as Unknown(n).
 */
export function errorFromReply(status: number, body: unknown): FsError {
  const parsed = errorBodySchema.safeParse(body);
  if (!parsed.success) {
    return new FsError(RpcCode.BadResponse, `error reply with status ${status} has no message`);
  }
  return new FsError(status as StatusCode, parsed.data.message);
}
