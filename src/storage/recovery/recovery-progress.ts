/**
 * The progress of one recovery as its driver sees it: the chunks and bytes planning found to
 * differ, how many are done, and the copy rate over the last few seconds (a sliding window of
 * samples, so a stall shows as a falling rate rather than an average over the whole run).
 */
import type { Clock } from '../../common/clock.js';
import type { RecoveryPhase, RecoveryProgress } from '../protocol/index.js';

/** Length of the window the rate is measured over. */
const rateWindowMs = 5_000;
/** Samples kept in the window at most (one per copied chunk, the oldest merged away). */
const samplesMax = 256;

export interface RecoveryIdentity {
  readonly chainId: number;
  readonly chainVersion: number;
  readonly fromTargetId: number;
  readonly targetId: number;
}

export class RecoveryProgressTracker {
  private phase: RecoveryPhase = 'planning';
  private chunksTotal = 0;
  private bytesTotal = 0;
  private chunksDone = 0;
  private bytesDone = 0;
  private chunksSkipped = 0;
  private error: string | undefined;
  private readonly startedAtMs: number;
  private updatedAtMs: number;
  private samples: Array<{ atMs: number; bytes: number }> = [];

  constructor(
    readonly identity: RecoveryIdentity,
    private readonly clock: Clock,
  ) {
    this.startedAtMs = clock.nowMs();
    this.updatedAtMs = this.startedAtMs;
  }

  /** Planning found one more chunk to replace (with its bytes) or remove (0 bytes). */
  planned(bytes: number): void {
    this.chunksTotal += 1;
    this.bytesTotal += bytes;
    this.touch();
  }

  /** Planning found a chunk identical on both sides. */
  skipped(): void {
    this.chunksSkipped += 1;
  }

  copying(): void {
    this.phase = 'copying';
    this.touch();
  }

  /** One chunk was made equal on the syncing target, `bytes` sent for it. */
  copied(bytes: number): void {
    this.chunksDone += 1;
    this.bytesDone += bytes;
    const atMs = this.clock.monotonicMs();
    this.samples.push({ atMs, bytes });
    if (this.samples.length > samplesMax) this.samples = this.samples.slice(-samplesMax);
    this.touch();
  }

  finish(phase: 'done' | 'failed' | 'aborted', error?: string): void {
    this.phase = phase;
    if (error !== undefined) this.error = error.slice(0, 1024);
    this.touch();
  }

  get finished(): boolean {
    return this.phase === 'done' || this.phase === 'failed' || this.phase === 'aborted';
  }

  /** A snapshot for the recoveryProgress method. */
  snapshot(): RecoveryProgress {
    return {
      ...this.identity,
      phase: this.phase,
      // Writes during recovery can add chunks planning did not count; totals never fall below done.
      chunksTotal: Math.max(this.chunksTotal, this.chunksDone),
      bytesTotal: Math.max(this.bytesTotal, this.bytesDone),
      chunksDone: this.chunksDone,
      bytesDone: this.bytesDone,
      chunksSkipped: this.chunksSkipped,
      bytesPerSecond: this.finished ? 0 : this.rate(),
      startedAtMs: Math.floor(this.startedAtMs),
      updatedAtMs: Math.floor(this.updatedAtMs),
      ...(this.error === undefined ? {} : { error: this.error }),
    };
  }

  private rate(): number {
    const nowMs = this.clock.monotonicMs();
    const recent = this.samples.filter((sample) => nowMs - sample.atMs <= rateWindowMs);
    if (recent.length === 0) return 0;
    const spanMs = Math.max(1_000, nowMs - (recent[0]?.atMs ?? nowMs));
    const bytes = recent.reduce((sum, sample) => sum + sample.bytes, 0);
    return (bytes / spanMs) * 1000;
  }

  private touch(): void {
    this.updatedAtMs = this.clock.nowMs();
  }
}
