/**
 * The client library's tunables, with defaults from common/limits.ts, and the relations between
 * them that the code relies on, checked once when a client is made.
 */
import { FsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { CommonCode } from '../common/status-code.js';

export interface ClientTuning {
  /** Deadline of one meta call attempt. */
  readonly metaTimeoutMs: number;
  /** How long a meta call waits for a meta service to come back when none can be reached (0: no wait). */
  readonly metaOutageWaitMs: number;
  /** Deadline of one chunk RPC attempt. */
  readonly chunkTimeoutMs: number;
  /** How long one chunk operation keeps retrying. */
  readonly ioDeadlineMs: number;
  /** Chunk I/Os of the whole client at once. */
  readonly ioConcurrency: number;
  /** Chunk I/Os of one request at once. */
  readonly requestIoConcurrency: number;
  readonly writeBufferBytesPerFile: number;
  readonly writeBufferBytesTotal: number;
  /** Read-ahead window of a sequential reader (0: none). */
  readonly readAheadBytes: number;
  readonly lengthReportIntervalMs: number;
  readonly openFilesMax: number;
  /** Poll mgmtd for routing info this often; undefined when someone else feeds it (heartbeats). */
  readonly routingRefreshMs: number | undefined;
}

export const defaultTuning: ClientTuning = {
  metaTimeoutMs: limits.clientMetaTimeoutMsDefault,
  metaOutageWaitMs: limits.clientMetaOutageWaitMsDefault,
  chunkTimeoutMs: limits.clientChunkTimeoutMsDefault,
  ioDeadlineMs: limits.clientIoDeadlineMsDefault,
  ioConcurrency: limits.clientIoConcurrencyDefault,
  requestIoConcurrency: limits.clientRequestIoConcurrencyDefault,
  writeBufferBytesPerFile: limits.clientWriteBufferBytesPerFileDefault,
  writeBufferBytesTotal: limits.clientWriteBufferBytesTotalDefault,
  readAheadBytes: limits.clientReadAheadBytesDefault,
  lengthReportIntervalMs: limits.clientLengthReportIntervalMsDefault,
  openFilesMax: limits.clientOpenFilesMax,
  routingRefreshMs: limits.clientRoutingRefreshMsDefault,
};

/** Smallest write buffer: one write slice (1 MiB) must fit a file's and the client's buffer. */
const writeBufferBytesMin = 1024 * 1024;

/** The tuning with `overrides` applied, refused with ConfigInvalid when the values contradict. */
export function resolveTuning(overrides: Partial<ClientTuning> = {}): ClientTuning {
  const tuning: ClientTuning = { ...defaultTuning, ...overrides };
  const problems: string[] = [];
  const positive = (name: keyof ClientTuning): void => {
    const value = tuning[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
      problems.push(`${name} must be a positive integer`);
  };
  for (const name of [
    'metaTimeoutMs',
    'chunkTimeoutMs',
    'ioDeadlineMs',
    'ioConcurrency',
    'requestIoConcurrency',
    'lengthReportIntervalMs',
    'openFilesMax',
  ] as const)
    positive(name);
  if (tuning.writeBufferBytesPerFile < writeBufferBytesMin)
    problems.push(`writeBufferBytesPerFile must be at least ${writeBufferBytesMin}`);
  if (tuning.writeBufferBytesTotal < tuning.writeBufferBytesPerFile)
    problems.push('writeBufferBytesTotal must be at least writeBufferBytesPerFile');
  if (!Number.isSafeInteger(tuning.metaOutageWaitMs) || tuning.metaOutageWaitMs < 0)
    problems.push('metaOutageWaitMs must be a non-negative integer');
  if (!Number.isSafeInteger(tuning.readAheadBytes) || tuning.readAheadBytes < 0)
    problems.push('readAheadBytes must be a non-negative integer');
  if (tuning.requestIoConcurrency > tuning.ioConcurrency)
    problems.push('requestIoConcurrency must be at most ioConcurrency');
  if (tuning.routingRefreshMs !== undefined && tuning.routingRefreshMs < 10)
    problems.push('routingRefreshMs must be at least 10');
  if (problems.length > 0) {
    throw new FsError(CommonCode.ConfigInvalid, `invalid client tuning: ${problems.join('; ')}`);
  }
  return tuning;
}
