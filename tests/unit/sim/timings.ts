// Timings of the simulated cluster: the real relations hold (heartbeat timeout at least three
// heartbeats, fencing after half of it), scaled down so a schedule covers many failures quickly.

export interface SimTimings {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  chainUpdateMs: number;
  /** Deadline of a client's write through the chain. */
  writeTimeoutMs: number;
  /** Time each hop keeps for itself before forwarding (limits.storageForwardMarginMs). */
  forwardMarginMs: number;
  settleIntervalMs: number;
  recoveryRetryMs: number;
  recoveryChunkTimeoutMs: number;
  recoveryChunkAttemptsMax: number;
  recoveryConcurrency: number;
  clientAttemptsMax: number;
  /** How long the client keeps retrying one update. */
  clientIoDeadlineMs: number;
  /** The chunk size the writers use (and the largest the targets accept). */
  chunkSizeBytes: number;
}

export const simTimings: SimTimings = {
  heartbeatIntervalMs: 100,
  heartbeatTimeoutMs: 1_000,
  chainUpdateMs: 100,
  writeTimeoutMs: 800,
  forwardMarginMs: 50,
  settleIntervalMs: 300,
  recoveryRetryMs: 200,
  recoveryChunkTimeoutMs: 600,
  recoveryChunkAttemptsMax: 5,
  recoveryConcurrency: 2,
  clientAttemptsMax: 8,
  clientIoDeadlineMs: 3_000,
  chunkSizeBytes: 4_096,
};
