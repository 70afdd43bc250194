// Proves, over thousands of seeded random schedules of a simulated cluster that runs the shipped
// code (the storage replicator core and its driver, the storage service's handlers, recovery on
// both sides, the chain I/O client with its retries, mgmtd's membership and chain state) over a
// simulated network, disks and clocks, with message loss, delays, reordering and duplication,
// partitions, failed disks, local writes that fail while their update travels on down the chain,
// crashes of storage services (a commit in flight landing or not) and mgmtd at any step, power
// cuts that keep any prefix of what a store had not synced, and clocks that run off true time: no
// serving target ever holds data older than an acknowledged write, no process breaks an invariant
// (replicas never commit different bytes under one version), and once the faults stop the cluster
// heals with every replica of a chain identical and every acknowledged write readable.
//
// A failing schedule names its seed; replay it alone, with its fault trace printed, by
//   SIM_SEED=<seed> npx vitest run tests/unit/sim
// and run more schedules with SIM_SCHEDULES=<count> (SIM_FIRST_SEED=<seed> to start elsewhere).
import { describe, expect, it } from 'vitest';
import { runSchedule, type ScheduleReport } from './cluster.js';

const replaySeed = process.env['SIM_SEED'];
const schedules = Number(process.env['SIM_SCHEDULES'] ?? 2_000);
const firstSeed = Number(process.env['SIM_FIRST_SEED'] ?? 1);

function describeFailure(report: ScheduleReport): string {
  return [
    `seed ${report.seed} failed (replay: SIM_SEED=${report.seed} npx vitest run tests/unit/sim):`,
    ...report.violations.map((violation) => `  - ${violation}`),
  ].join('\n');
}

describe('the simulated cluster under random faults', () => {
  if (replaySeed !== undefined) {
    it(`replays seed ${replaySeed}`, async () => {
      const report = await runSchedule(Number(replaySeed));
      console.log(report.trace.join('\n'));
      console.log(JSON.stringify(report.stats));
      expect(report.violations, describeFailure(report)).toEqual([]);
    });
    return;
  }

  it('replays a schedule exactly from its seed', async () => {
    const first = await runSchedule(11);
    const second = await runSchedule(11);
    expect(second.trace).toEqual(first.trace);
    expect(second.stats).toEqual(first.stats);
    expect(first.trace.length).toBeGreaterThan(0);
  });

  it(
    `keeps acknowledged writes and heals in ${schedules} schedules`,
    async () => {
      const totals = {
        ackedWrites: 0,
        failedWrites: 0,
        crashes: 0,
        powerLosses: 0,
        commitsLost: 0,
        mgmtdCrashes: 0,
        diskFailures: 0,
        partitions: 0,
        fenced: 0,
        recoveriesDone: 0,
        chunksSynced: 0,
        settled: 0,
        localWriteFailures: 0,
        repaired: 0,
        wholeChunkFallbacks: 0,
        messagesDuplicated: 0,
        reconnects: 0,
        events: 0,
      };
      const failures: string[] = [];
      for (let seed = firstSeed; seed < firstSeed + schedules; seed++) {
        const report = await runSchedule(seed);
        for (const key of Object.keys(totals) as Array<keyof typeof totals>) totals[key] += report.stats[key];
        if (report.violations.length > 0) failures.push(describeFailure(report));
        if (failures.length >= 3) break;
      }
      console.log(`simulated ${schedules} schedules: ${JSON.stringify(totals)}`);
      expect(failures.join('\n\n')).toBe('');
      // The schedules exercise what they claim to: crashes, recoveries, settling and fencing happen.
      expect(totals.crashes).toBeGreaterThan(schedules);
      expect(totals.recoveriesDone).toBeGreaterThan(schedules);
      expect(totals.chunksSynced).toBeGreaterThan(0);
      expect(totals.fenced).toBeGreaterThan(0);
      expect(totals.diskFailures).toBeGreaterThan(0);
      expect(totals.localWriteFailures).toBeGreaterThan(0);
      expect(totals.repaired).toBeGreaterThan(0);
      expect(totals.powerLosses).toBeGreaterThan(0);
      expect(totals.messagesDuplicated).toBeGreaterThan(0);
      expect(totals.reconnects).toBeGreaterThan(0);
      expect(totals.ackedWrites).toBeGreaterThan(schedules * 10);
    },
    Math.max(600_000, schedules * 300),
  );
});
