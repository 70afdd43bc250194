/**
 * A failed update's result in a batch reply (Storage.cloneChunks, Storage.forwardBatch) as the
 * FsError the same update sent alone would have failed with: its own status code when the code is
 * known here, else Internal naming the code.
 */
import { FsError } from '../../common/errors.js';
import { CommonCode, isKnownStatus } from '../../common/status-code.js';
import type { UpdateResult } from './methods.js';

/** The error of a failed update result. */
export function updateResultError(result: Extract<UpdateResult, { ok: false }>): FsError {
  return isKnownStatus(result.code)
    ? new FsError(result.code, result.message)
    : new FsError(CommonCode.Internal, `${result.message} (status ${result.code})`);
}
