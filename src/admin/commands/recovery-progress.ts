/**
 * `admin recovery-progress`: where the recovery of returning targets stands (DESIGN §7). Routing
 * info names the targets that are syncing or waiting; each online storage service reports the
 * recoveries it drives as a predecessor (Storage.recoveryProgress): chunks and bytes left, the copy
 * rate, and from those an estimate of the time left. Once, as a table (or JSON); with `watch`,
 * refreshed every `intervalMs` until every target serves again: as progress bars (cli-progress)
 * when the progress stream is a terminal, as one line per target and refresh otherwise.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { MgmtdClient } from '../../cluster/index.js';
import { systemClock, type Clock } from '../../common/clock.js';
import { describeError } from '../../common/errors.js';
import { PublicState, type RoutingInfo } from '../../mgmtd/protocol/index.js';
import type { RpcClient } from '../../rpc/index.js';
import { storageMethods, type RecoveryPhase, type RecoveryProgress } from '../../storage/protocol/index.js';
import { formatBytes, printTable, type Output } from '../output.js';

/** One target that is being brought back, as the command reports it. */
export interface TargetRecoveryRow {
  targetId: number;
  chainId: number;
  /** Its public state in routing info: syncing (being copied to) or waiting (its turn has not come). */
  publicState: string;
  /** The predecessor copying to it, when one reports a recovery. */
  fromTargetId: number | null;
  /** The recovery's phase; `waiting` when no predecessor reports one yet. */
  phase: RecoveryPhase | 'waiting';
  chunksLeft: number;
  bytesLeft: number;
  chunksDone: number;
  bytesDone: number;
  bytesTotal: number;
  bytesPerSecond: number;
  /** Seconds left at the current rate; null when unknown (no rate yet). */
  etaSeconds: number | null;
  error?: string;
}

export interface RecoveryReport {
  routingVersion: number;
  targets: TargetRecoveryRow[];
  /** Targets down (offline or lastsrv): they recover once their service returns. */
  downTargets: number[];
  /** Storage services that did not answer. */
  unreachable: Array<{ nodeId: number; address: string; error: string }>;
  /** True when no target is syncing, waiting or down, and no recovery is running. */
  done: boolean;
}

export interface RecoveryProgressOptions {
  readonly mgmtd: Pick<MgmtdClient, 'refreshRoutingInfo'>;
  readonly rpc: Pick<RpcClient, 'call'>;
  /** Where the table or JSON goes (stdout). */
  readonly output: Output;
  /** Deadline of each call to a storage service. */
  readonly timeoutMs: number;
  /** Refresh until no target recovers any more (or `signal` aborts, or `watchLimitMs` passes). */
  readonly watch?: boolean;
  /** Time between refreshes when watching (1 s by default). */
  readonly intervalMs?: number;
  /** The longest a watch lasts (24 hours by default). */
  readonly watchLimitMs?: number;
  /** Where progress bars and progress lines go when watching (stderr by default). */
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean };
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
}

const activePhases: ReadonlySet<string> = new Set(['planning', 'copying']);

/** Asks mgmtd and every online storage service, and builds the report. */
export async function collectRecoveryProgress(
  options: Pick<RecoveryProgressOptions, 'mgmtd' | 'rpc' | 'timeoutMs'>,
): Promise<RecoveryReport> {
  const routing = await options.mgmtd.refreshRoutingInfo();
  const storageNodes = routing.nodes.filter((node) => node.type === 'storage' && node.status === 'online');
  const unreachable: RecoveryReport['unreachable'] = [];
  const recoveries: RecoveryProgress[] = [];
  await Promise.all(
    storageNodes.map(async (node) => {
      try {
        const reply = await options.rpc.call(
          node.address,
          storageMethods.recoveryProgress,
          {},
          { timeoutMs: options.timeoutMs },
        );
        recoveries.push(...reply.recoveries);
      } catch (error) {
        unreachable.push({ nodeId: node.nodeId, address: node.address, error: describeError(error) });
      }
    }),
  );
  return buildReport(routing, recoveries, unreachable);
}

/** The report from routing info and the recoveries the storage services reported (pure). */
export function buildReport(
  routing: RoutingInfo,
  recoveries: readonly RecoveryProgress[],
  unreachable: RecoveryReport['unreachable'] = [],
): RecoveryReport {
  const recovering = routing.targets.filter(
    (target) =>
      target.publicState === PublicState.Syncing ||
      target.publicState === PublicState.Waiting ||
      recoveries.some(
        (recovery) => recovery.targetId === target.targetId && activePhases.has(recovery.phase),
      ),
  );
  const targets = recovering
    .map((target) => toRow(target, latestFor(recoveries, target.targetId)))
    .sort((a, b) => a.chainId - b.chainId || a.targetId - b.targetId);
  const downTargets = routing.targets
    .filter(
      (target) =>
        target.chainId !== 0 && (target.publicState === 'offline' || target.publicState === 'lastsrv'),
    )
    .map((target) => target.targetId);
  return {
    routingVersion: routing.routingVersion,
    targets,
    downTargets,
    unreachable: unreachable.sort((a, b) => a.nodeId - b.nodeId),
    done: targets.length === 0 && downTargets.length === 0,
  };
}

/** The running recovery of a target, else the one that finished last. */
function latestFor(recoveries: readonly RecoveryProgress[], targetId: number): RecoveryProgress | undefined {
  const mine = recoveries.filter((recovery) => recovery.targetId === targetId);
  return (
    mine.find((recovery) => activePhases.has(recovery.phase)) ??
    [...mine].sort((a, b) => b.updatedAtMs - a.updatedAtMs)[0]
  );
}

function toRow(
  target: { targetId: number; chainId: number; publicState: string },
  recovery: RecoveryProgress | undefined,
): TargetRecoveryRow {
  if (
    recovery === undefined ||
    (recovery.phase !== 'planning' && recovery.phase !== 'copying' && target.publicState === 'waiting')
  ) {
    return {
      targetId: target.targetId,
      chainId: target.chainId,
      publicState: target.publicState,
      fromTargetId: null,
      phase: 'waiting',
      chunksLeft: 0,
      bytesLeft: 0,
      chunksDone: 0,
      bytesDone: 0,
      bytesTotal: 0,
      bytesPerSecond: 0,
      etaSeconds: null,
    };
  }
  const bytesLeft = Math.max(0, recovery.bytesTotal - recovery.bytesDone);
  return {
    targetId: target.targetId,
    chainId: target.chainId,
    publicState: target.publicState,
    fromTargetId: recovery.fromTargetId,
    phase: recovery.phase,
    chunksLeft: Math.max(0, recovery.chunksTotal - recovery.chunksDone),
    bytesLeft,
    chunksDone: recovery.chunksDone,
    bytesDone: recovery.bytesDone,
    bytesTotal: recovery.bytesTotal,
    bytesPerSecond: recovery.bytesPerSecond,
    etaSeconds: recovery.bytesPerSecond > 0 ? Math.ceil(bytesLeft / recovery.bytesPerSecond) : null,
    ...(recovery.error === undefined ? {} : { error: recovery.error }),
  };
}

function formatEta(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

function rateText(row: TargetRecoveryRow): string {
  return `${formatBytes(row.bytesPerSecond)}/s`;
}

/** Prints the report once: a table (or JSON), with a line on what else matters. */
export function printRecoveryReport(output: Output, report: RecoveryReport): void {
  if (output.json) {
    output.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  if (report.targets.length === 0) {
    output.write('no target is recovering: every returning target is serving\n');
  } else {
    printTable(
      output,
      report,
      ['TARGET', 'CHAIN', 'STATE', 'FROM', 'PHASE', 'CHUNKS LEFT', 'BYTES LEFT', 'RATE', 'ETA'],
      report.targets.map((row) => [
        row.targetId,
        row.chainId,
        row.publicState,
        row.fromTargetId ?? '-',
        row.error === undefined ? row.phase : `${row.phase} (${row.error})`,
        row.chunksLeft,
        formatBytes(row.bytesLeft),
        rateText(row),
        formatEta(row.etaSeconds),
      ]),
    );
  }
  if (report.downTargets.length > 0) {
    output.write(`down, recovering once their service returns: ${report.downTargets.join(', ')}\n`);
  }
  for (const node of report.unreachable) {
    output.write(`storage node ${node.nodeId} at ${node.address} did not answer: ${node.error}\n`);
  }
}

/**
 * Runs the command: prints the report once, or watches until no target recovers any more.
 * Resolves with the last report.
 */
export async function recoveryProgressCommand(options: RecoveryProgressOptions): Promise<RecoveryReport> {
  const report = await collectRecoveryProgress(options);
  if (options.watch !== true) {
    printRecoveryReport(options.output, report);
    return report;
  }
  const stream = options.stream ?? process.stderr;
  const view = options.output.json
    ? undefined
    : stream.isTTY === true
      ? new BarsView(stream)
      : new LinesView(stream);
  const clock = options.clock ?? systemClock;
  const deadlineMs = clock.monotonicMs() + (options.watchLimitMs ?? 24 * 3_600_000);
  const aborted = (): boolean => options.signal?.aborted === true;
  let latest = report;
  try {
    for (;;) {
      if (options.output.json) options.output.write(`${JSON.stringify(latest)}\n`);
      else view?.show(latest);
      if (latest.done || aborted() || clock.monotonicMs() >= deadlineMs) break;
      await clock.sleep(options.intervalMs ?? 1_000, options.signal).catch(() => undefined);
      if (aborted()) break;
      latest = await collectRecoveryProgress(options);
    }
  } finally {
    view?.close();
  }
  if (!options.output.json) printRecoveryReport(options.output, latest);
  return latest;
}

/** How a watch shows each refresh. */
interface WatchView {
  show(report: RecoveryReport): void;
  close(): void;
}

/** Progress bars on a terminal: one per recovering target, bytes copied of bytes to copy. */
class BarsView implements WatchView {
  private readonly bars = new Map<number, SingleBar>();
  private readonly multibar: MultiBar;

  constructor(stream: NodeJS.WritableStream) {
    this.multibar = new MultiBar(
      {
        stream: stream as NodeJS.WritableStream & { isTTY: boolean },
        format:
          ' target {target} <- {from} |{bar}| {percentage}% | {chunks} chunks left | {left} left | {rate} | ETA {etaText} | {phase}',
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        autopadding: true,
      },
      Presets.shades_classic,
    );
  }

  show(report: RecoveryReport): void {
    const seen = new Set<number>();
    for (const row of report.targets) {
      seen.add(row.targetId);
      const payload = {
        target: row.targetId,
        from: row.fromTargetId ?? '-',
        chunks: row.chunksLeft,
        left: formatBytes(row.bytesLeft),
        rate: `${formatBytes(row.bytesPerSecond)}/s`,
        etaText: formatEta(row.etaSeconds),
        phase: row.phase,
      };
      const total = Math.max(1, row.bytesTotal);
      const bar = this.bars.get(row.targetId);
      if (bar === undefined) {
        this.bars.set(row.targetId, this.multibar.create(total, row.bytesDone, payload));
      } else {
        bar.setTotal(total);
        bar.update(row.bytesDone, payload);
      }
    }
    for (const [targetId, bar] of this.bars) {
      if (seen.has(targetId)) continue;
      // Done: the bar is shown full once more and left on screen.
      bar.update(bar.getTotal(), { phase: 'serving', chunks: 0, left: formatBytes(0), etaText: '0s' });
      this.bars.delete(targetId);
    }
    this.multibar.update();
  }

  close(): void {
    this.multibar.stop();
  }
}

/** One line per recovering target and refresh, for logs and pipes. */
class LinesView implements WatchView {
  constructor(private readonly stream: NodeJS.WritableStream) {}

  show(report: RecoveryReport): void {
    if (report.downTargets.length > 0) {
      this.stream.write(`down, waiting for their service: target(s) ${report.downTargets.join(', ')}\n`);
    }
    for (const row of report.targets) {
      const percent = row.bytesTotal > 0 ? Math.floor((row.bytesDone / row.bytesTotal) * 100) : 0;
      this.stream.write(
        `target ${row.targetId} (chain ${row.chainId}, ${row.publicState}) ${row.phase}: ${percent}%, ` +
          `${row.chunksLeft} chunks and ${formatBytes(row.bytesLeft)} left at ${rateText(row)}, ETA ${formatEta(row.etaSeconds)}\n`,
      );
    }
  }

  close(): void {}
}
