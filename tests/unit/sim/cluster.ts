// One seeded schedule of the simulated cluster: mgmtd, three or four storage services with one
// target each (the shipped storage code, storage-node.ts), chains of two or three, and three writers
// (the shipped chain I/O client, writer.ts). A chaos phase crashes storage services (at any step of
// whatever they are doing, a commit in flight landing or not) or cuts their power (keeping any
// prefix of what was not yet synced), crashes mgmtd, fails a target's disk (while another serving
// replica holds its data), cuts links, loses, delays, reorders and duplicates messages, and lets
// every process's clock run off true time by a few percent; then the faults stop, everything
// restarts, and the cluster must heal. Checked throughout:
//
// - no target that answers reads as `serving` holds a chunk older than its last acknowledged write
//   (its committed content is the acknowledged one, or that of a write still in flight or failed);
//
// and once healed:
//
// - every target of every chain is serving, nothing is pending, the replicas of each chain hold
//   identical chunks (versions and contents), and each chunk holds its last acknowledged write
//   (or a later write whose outcome its writer could not know);
// - no handler and no background task hit a broken assertion (among them: no two replicas commit
//   different bytes under one version).
import { seededRandom, type Random } from '../../../src/common/random.js';
import { describeContent } from './chunk-model.js';
import { SimMgmtd, mgmtdId } from './mgmtd-model.js';
import { SimNetwork, quietNetwork } from './network.js';
import { noSkew, type ClockSkew } from './process-clock.js';
import { SimScheduler } from './scheduler.js';
import { SimStorageNode } from './storage-node.js';
import { simTimings } from './timings.js';
import { SimWriter } from './writer.js';

export interface ScheduleReport {
  readonly seed: number;
  readonly violations: string[];
  readonly trace: string[];
  readonly stats: {
    storageNodes: number;
    chains: number;
    ackedWrites: number;
    failedWrites: number;
    crashes: number;
    powerLosses: number;
    commitsLost: number;
    mgmtdCrashes: number;
    diskFailures: number;
    partitions: number;
    fenced: number;
    recoveriesDone: number;
    chunksSynced: number;
    settled: number;
    localWriteFailures: number;
    repaired: number;
    wholeChunkFallbacks: number;
    events: number;
    healedAtMs: number;
    messagesLost: number;
    messagesDuplicated: number;
    reconnects: number;
  };
}

const writersCount = 3;
const healLimitMs = 40_000;
const violationsMax = 5;

function between(random: Random, low: number, high: number): number {
  return low + random.nextInt(Math.max(1, high - low));
}

/** A clock off true time: an offset of up to ten minutes and a rate within `rateSpread`. */
function skewOf(random: Random, rateSpread: number): ClockSkew {
  if (rateSpread === 0) return noSkew;
  return {
    offsetMs: (random.nextFloat() * 2 - 1) * 600_000,
    rate: 1 + (random.nextFloat() * 2 - 1) * rateSpread,
  };
}

/** Runs schedule `seed`; `trace` records its fault events for a replay. */
export async function runSchedule(seed: number): Promise<ScheduleReport> {
  const random = seededRandom(seed);
  const faultRandom = seededRandom(seed ^ 0x5eed);
  const scheduler = new SimScheduler();
  const network = new SimNetwork(scheduler, seededRandom(seed ^ 0xbeef));
  const trace: string[] = [];
  const violations: string[] = [];
  const note = (text: string): void => {
    trace.push(`${String(scheduler.nowMs()).padStart(6)} ms  ${text}`);
  };
  const violate = (text: string): void => {
    if (violations.length < violationsMax) violations.push(`${scheduler.nowMs()} ms: ${text}`);
  };

  const storageCount = 3 + random.nextInt(2);
  const replicas = random.nextInt(3) === 0 ? 2 : 3;
  // Clocks run off true time by up to 5% in half the schedules (the fencing margin is 2x).
  const rateSpread = faultRandom.nextInt(2) === 0 ? 0 : 0.05;
  const skewRandom = seededRandom(seed ^ 0xc10c);
  // Half the schedules sync every commit (sync_writes); in the others a power cut loses what the
  // stores had not synced, so writers count an update as done once it is fsynced too.
  const durable = faultRandom.nextInt(2) === 0;
  const powerCuts = faultRandom.nextInt(100) < 40;
  const mgmtd = new SimMgmtd(scheduler, simTimings, skewOf(skewRandom, rateSpread));
  network.register(mgmtd);
  mgmtd.start();
  note(
    `${storageCount} storage services, chains of ${replicas}, ${durable ? 'durable' : 'lazily synced'} stores${powerCuts ? ', power cuts' : ''}, clock rates within ${rateSpread * 100}%`,
  );

  // The freshness check runs after every change of what it looks at (a commit, an acknowledgement,
  // a routing update), once per simulated instant.
  let checkScheduled = false;
  let checkFreshness = (): void => undefined;
  const changed = (): void => {
    if (checkScheduled) return;
    checkScheduled = true;
    scheduler.setTimer(0, () => {
      checkScheduled = false;
      checkFreshness();
    });
  };

  let healing = false;
  let crashes = 0;
  let powerLosses = 0;
  const restart = (node: SimStorageNode, delayMs: number): void => {
    scheduler.setTimer(delayMs, () => {
      if (node.alive) return;
      note(`${node.id} restarts`);
      node.start();
    });
  };
  const storage: SimStorageNode[] = [];
  for (let nodeId = 1; nodeId <= storageCount; nodeId++) {
    const node = new SimStorageNode(nodeId, nodeId * 100 + 1, scheduler, network, simTimings, {
      seed: seed * 31 + nodeId,
      skew: skewOf(skewRandom, rateSpread),
      durable,
      onExit: (fenced) => {
        note(`${fenced.id} fenced itself and exits`);
        restart(fenced, between(faultRandom, 50, 500));
      },
      onChange: changed,
    });
    network.register(node);
    storage.push(node);
    node.start();
  }
  // Local writes that fail now and then (a transient I/O error, a full disk) in some schedules: the
  // update may have gone on down the chain already (the core's applyAndForward).
  let localWriteFailures = 0;
  if (faultRandom.nextInt(100) < 40) {
    const writeFaults = seededRandom(seed ^ 0x10ca1);
    const rate = 0.02 + writeFaults.nextFloat() * 0.08;
    for (const node of storage) {
      node.prepareFails = () => {
        if (healing || writeFaults.nextFloat() >= rate) return false;
        localWriteFailures += 1;
        return true;
      };
    }
  }
  await scheduler.runUntil(400);
  mgmtd.createChainTable(replicas);
  await scheduler.runUntil(900);
  const chains = mgmtd.routing().chains;
  if (
    chains.length === 0 ||
    !chains.every((chain) => chain.targets.every((t) => t.publicState === 'serving'))
  ) {
    violations.push('the cluster did not form its chains');
  }

  const writers = Array.from({ length: writersCount }, (_, index) => {
    const chain = chains[index % Math.max(1, chains.length)];
    const writer = new SimWriter(
      index + 1,
      chain?.chainId ?? 1,
      scheduler,
      network,
      seededRandom(seed * 7 + index),
      simTimings,
      { skew: skewOf(skewRandom, rateSpread), syncEachUpdate: powerCuts && !durable },
    );
    writer.onChange = changed;
    network.register(writer);
    return writer;
  });
  const writing = writers.map((writer) =>
    writer.run().catch((error: unknown) => {
      violate(
        `${writer.id} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    }),
  );

  // --- chaos ------------------------------------------------------------------------------
  const chaosMs = between(faultRandom, 2_500, 6_000);
  const startMs = scheduler.nowMs();
  network.faults = {
    lossRate: faultRandom.nextFloat() * 0.05,
    delayMsMin: 1,
    delayMsMax: between(faultRandom, 2, 15),
    longDelayRate: faultRandom.nextFloat() * 0.03,
    longDelayMsMax: 400,
    reconnectRate: faultRandom.nextFloat() * 0.03,
    duplicateRate: faultRandom.nextFloat() * 0.05,
  };
  let partitions = 0;
  let mgmtdCrashes = 0;
  const endpoints = [mgmtdId, ...storage.map((node) => node.id), ...writers.map((writer) => writer.id)];
  for (
    let atMs = between(faultRandom, 100, 1_200);
    atMs < chaosMs;
    atMs += between(faultRandom, 150, 1_400)
  ) {
    const node = storage[faultRandom.nextInt(storage.length)] as SimStorageNode;
    const downMs = between(faultRandom, 30, 2_500);
    const powerCut = powerCuts && faultRandom.nextInt(3) === 0;
    scheduler.setTimer(atMs, () => {
      if (!node.alive || healing || diskFailureInDoubt) return;
      crashes += 1;
      if (powerCut) {
        powerLosses += 1;
        note(`${node.id} loses power`);
        node.powerLoss();
      } else {
        note(`${node.id} crashes`);
        node.crash();
      }
      restart(node, downMs);
    });
  }
  let diskFailures = 0;
  /** Set from a disk failure until mgmtd shows its target offline: no other fault meanwhile. */
  let diskFailureInDoubt = false;
  if (faultRandom.nextInt(100) < 30) {
    const node = storage[faultRandom.nextInt(storage.length)] as SimStorageNode;
    const atMs = between(faultRandom, 200, chaosMs);
    const repairMs = between(faultRandom, 200, 2_500);
    scheduler.setTimer(atMs, () => {
      // A disk fails only where the design survives it: on a heartbeating service (mgmtd hears of it
      // and moves the target out), whose target is not its chain's first serving one (the one that
      // would be kept as the last serving target), while another serving replica holds the data.
      const chain = mgmtd
        .routing()
        .chains.find((candidate) => candidate.targets.some((target) => target.targetId === node.targetId));
      const serving = chain?.targets.filter((target) => target.publicState === 'serving') ?? [];
      const othersServe = serving.every(
        (target) => storage.find((candidate) => candidate.targetId === target.targetId)?.serving() === true,
      );
      const survivable =
        mgmtd.alive &&
        othersServe &&
        serving.length >= 2 &&
        serving[0]?.targetId !== node.targetId &&
        serving.some((target) => target.targetId === node.targetId);
      if (healing || !survivable) return;
      diskFailures += 1;
      diskFailureInDoubt = true;
      note(`${node.id}'s disk fails`);
      node.failDisk();
      // The operator replaces it once the cluster shows the target out of its chain.
      const repair = (): void => {
        scheduler.setTimer(repairMs, () => {
          if (!node.diskFailed() || !node.alive) return;
          const state = mgmtd
            .routing()
            .targets.find((target) => target.targetId === node.targetId)?.publicState;
          if (state !== 'offline') {
            repair();
            return;
          }
          diskFailureInDoubt = false;
          note(`${node.id} restarts on a new disk`);
          node.crash();
          node.replaceDisk();
          node.start();
        });
      };
      repair();
    });
  }
  if (faultRandom.nextInt(100) < 35) {
    const atMs = between(faultRandom, 200, chaosMs);
    const downMs = between(faultRandom, 100, 1_600);
    scheduler.setTimer(atMs, () => {
      if (healing || diskFailureInDoubt) return;
      mgmtdCrashes += 1;
      note('mgmtd crashes');
      mgmtd.crash();
      scheduler.setTimer(downMs, () => {
        if (mgmtd.alive) return;
        note('mgmtd restarts');
        mgmtd.start();
      });
    });
  }
  for (
    let atMs = between(faultRandom, 100, 1_500);
    atMs < chaosMs;
    atMs += between(faultRandom, 200, 2_000)
  ) {
    const a = endpoints[faultRandom.nextInt(endpoints.length)] as string;
    const b = endpoints[faultRandom.nextInt(endpoints.length)] as string;
    if (a === b || (a.startsWith('c') && b.startsWith('c'))) continue;
    const cutMs = between(faultRandom, 50, 1_500);
    scheduler.setTimer(atMs, () => {
      if (healing) return;
      partitions += 1;
      note(`link ${a}-${b} cut for ${cutMs} ms`);
      network.setPartitioned(a, b, true);
      scheduler.setTimer(cutMs, () => network.setPartitioned(a, b, false));
    });
  }

  // Freshness of serving replicas, checked after every change throughout.
  checkFreshness = (): void => {
    const routing = mgmtd.routing();
    for (const node of storage) {
      if (!node.serving() || node.diskFailed() || node.viewedState() !== 'serving') continue;
      for (const writer of writers) {
        const chain = routing.chains.find((candidate) => candidate.chainId === writer.chainId);
        if (!chain?.targets.some((target) => target.targetId === node.targetId)) continue;
        if (node.hasPending(writer.chunkId)) continue;
        const content = contentOf(node, writer);
        const allowed = writer.allowed();
        if (!allowed.has(content)) {
          violate(
            `${node.id} serves ${writer.id}'s chunk = ${show(content)}, but its writer allows only ${[...allowed].map(show).join(' | ')}`,
          );
        }
      }
    }
  };
  const broken = (): boolean =>
    violations.length > 0 ||
    network.bugs.length > 0 ||
    storage.some((node) => node.stats.brokenInvariants.length > 0);

  await scheduler.runUntil(startMs + chaosMs, broken);

  // --- heal -------------------------------------------------------------------------------
  healing = true;
  note('faults stop; everything restarts');
  network.faults = quietNetwork;
  network.partitions.clear();
  if (!mgmtd.alive) mgmtd.start();
  for (const node of storage) {
    if (
      node.diskFailed() &&
      mgmtd.routing().targets.find((t) => t.targetId === node.targetId)?.publicState === 'offline'
    ) {
      node.crash();
      node.replaceDisk();
    }
    if (!node.alive) restart(node, 1);
  }
  for (const writer of writers) writer.stopped = true;
  let writersDone = false;
  void Promise.all(writing).then(() => (writersDone = true));
  let healed = false;
  let healedAtMs = 0;
  const checkHealed = (): void => {
    scheduler.setTimer(50, () => {
      healed = writersDone && isHealed(mgmtd, storage);
      if (healed) healedAtMs = scheduler.nowMs() - startMs - chaosMs;
      else checkHealed();
    });
  };
  checkHealed();
  if (!broken()) {
    await scheduler.runUntil(scheduler.nowMs() + healLimitMs, () => healed || broken());
  }

  if (violations.length === 0 && !healed && !broken()) {
    violations.push(`the cluster did not heal within ${healLimitMs} ms: ${describeState(mgmtd, storage)}`);
  }
  if (violations.length === 0) checkConverged(mgmtd, storage, writers, violate);
  for (const bug of network.bugs.slice(0, 3)) violations.push(`a handler failed: ${bug}`);
  for (const node of storage) {
    for (const error of node.stats.brokenInvariants.slice(0, 2))
      violations.push(`a background task broke an invariant: ${error}`);
  }
  const sum = (pick: (node: SimStorageNode) => number) =>
    storage.reduce((total, node) => total + pick(node), 0);
  return {
    seed,
    violations,
    trace,
    stats: {
      storageNodes: storageCount,
      chains: chains.length,
      ackedWrites: writers.reduce((total, writer) => total + writer.ackedWrites, 0),
      failedWrites: writers.reduce((total, writer) => total + writer.failedWrites, 0),
      crashes,
      powerLosses,
      commitsLost: sum((node) => node.disk.commitsLost),
      mgmtdCrashes,
      diskFailures,
      partitions,
      fenced: sum((node) => node.stats.fenced),
      recoveriesDone: sum((node) => node.stats.recoveriesDone),
      chunksSynced: sum((node) => node.stats.chunksSynced),
      settled: sum((node) => node.stats.log.settled),
      localWriteFailures,
      repaired: sum((node) => node.stats.log.repaired),
      wholeChunkFallbacks: sum((node) => node.stats.log.wholeChunkFallbacks),
      events: scheduler.eventsRun,
      healedAtMs,
      messagesLost: network.messagesLost,
      messagesDuplicated: network.messagesDuplicated,
      reconnects: network.reconnects,
    },
  };
}

/** What `node` holds of `writer`'s chunk, as the checker compares contents. */
function contentOf(node: SimStorageNode, writer: SimWriter): string {
  return describeContent(node.committed(writer.chunkId)?.data.toString('latin1'));
}

/** A content for a message: zeros shown as '0'. */
function show(content: string): string {
  return content.replaceAll('\0', '0');
}

function chainNodes(mgmtd: SimMgmtd, storage: readonly SimStorageNode[]) {
  return mgmtd.routing().chains.map((chain) => ({
    chain,
    nodes: chain.targets.map((target) => storage.find((node) => node.targetId === target.targetId)),
  }));
}

/** Every chain's targets serve (in mgmtd's and their own view), nothing is pending or recovering. */
function isHealed(mgmtd: SimMgmtd, storage: readonly SimStorageNode[]): boolean {
  if (!mgmtd.alive) return false;
  for (const { chain, nodes } of chainNodes(mgmtd, storage)) {
    if (!chain.targets.every((target) => target.publicState === 'serving')) return false;
    for (const node of nodes) {
      if (node === undefined || !node.serving() || node.viewedState() !== 'serving') return false;
      if (node.pendingCount() > 0 || node.recoveriesRunning() > 0) return false;
    }
    const [first, ...rest] = nodes;
    for (const other of rest) if (!sameChunks(first as SimStorageNode, other as SimStorageNode)) return false;
  }
  return true;
}

function sameChunks(a: SimStorageNode, b: SimStorageNode): boolean {
  const mine = a.disk.current;
  const theirs = b.disk.current;
  if (mine.size !== theirs.size) return false;
  for (const [key, chunk] of mine) {
    const other = theirs.get(key);
    if (other?.version !== chunk.version || !other.data.equals(chunk.data)) return false;
  }
  return true;
}

function checkConverged(
  mgmtd: SimMgmtd,
  storage: readonly SimStorageNode[],
  writers: readonly SimWriter[],
  violate: (text: string) => void,
): void {
  for (const writer of writers) {
    const chain = chainNodes(mgmtd, storage).find((entry) => entry.chain.chainId === writer.chainId);
    for (const node of chain?.nodes ?? []) {
      if (node === undefined) continue;
      const content = contentOf(node, writer);
      const allowed = writer.allowed();
      if (!allowed.has(content)) {
        violate(
          `after healing ${node.id} holds ${writer.id}'s chunk = ${show(content)}; allowed: ${[...allowed].map(show).join(' | ')}`,
        );
      }
    }
  }
}

function describeState(mgmtd: SimMgmtd, storage: readonly SimStorageNode[]): string {
  const chains = mgmtd
    .routing()
    .chains.map(
      (chain) =>
        `chain ${chain.chainId} v${chain.chainVersion}: ${chain.targets.map((t) => `${t.targetId}(${t.publicState})`).join(' ')}`,
    );
  const nodes = storage.map(
    (node) =>
      `${node.id} alive=${node.alive} serving=${node.serving()} view=${node.viewedState() ?? '-'} local=${node.localState() ?? '-'} pending=${node.pendingCount()} recovering=${node.recoveriesRunning()} chunks=${[...node.disk.current].map(([key, chunk]) => `${key}@${chunk.version}:${show(chunk.data.toString('latin1'))}`).join(',')}`,
  );
  return [...chains, ...nodes].join('; ');
}
