// Proves the restart policy of `3fs local`: a service that dies is restarted after a delay that
// starts at the first delay and doubles with each restart still in the window up to the largest,
// the window forgets old restarts, a crash loop gives up at the bound, and limits that contradict
// each other are refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRestartLimits, decideRestart, type RestartLimits } from '../../../src/admin/restart-policy.js';
import { limits } from '../../../src/common/limits.js';

const policy: RestartLimits = {
  delayMsInitial: 2_000,
  delayMsMax: 16_000,
  restartsMax: 5,
  windowMs: 120_000,
};

describe('decideRestart', () => {
  it('restarts a service that died for the first time after the first delay', () => {
    expect(decideRestart([], 1_000_000, policy)).toEqual({
      kind: 'restart',
      delayMs: 2_000,
      restartsInWindow: 0,
    });
  });

  it('doubles the delay with each restart in the window, up to the largest', () => {
    const delays: number[] = [];
    const restarts: number[] = [];
    let now = 0;
    for (let death = 0; death < 5; death++) {
      const decision = decideRestart(restarts, now, policy);
      expect(decision.kind).toBe('restart');
      if (decision.kind !== 'restart') return;
      delays.push(decision.delayMs);
      now += decision.delayMs;
      restarts.push(now);
    }
    expect(delays).toEqual([2_000, 4_000, 8_000, 16_000, 16_000]);
  });

  it('gives up when the service died again after the most restarts the window allows', () => {
    const restarts = [1_000, 3_000, 7_000, 15_000, 31_000];
    expect(decideRestart(restarts, 40_000, policy)).toEqual({ kind: 'give-up', restartsInWindow: 5 });
  });

  it('forgets restarts older than the window, and starts the backoff over', () => {
    const restarts = [1_000, 3_000, 7_000, 15_000, 31_000];
    expect(decideRestart(restarts, 31_000 + 120_000, policy)).toEqual({
      kind: 'restart',
      delayMs: 2_000,
      restartsInWindow: 0,
    });
    expect(decideRestart(restarts, 15_000 + 120_000, policy)).toMatchObject({
      kind: 'restart',
      restartsInWindow: 1,
    });
  });

  it('never restarts more often than the bound within any window, nor waits beyond the largest delay', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 60_000 }), { maxLength: 40 }), (gapsMs) => {
        const restarts: number[] = [];
        let now = 0;
        for (const gapMs of gapsMs) {
          now += gapMs;
          const decision = decideRestart(restarts, now, policy);
          if (decision.kind === 'give-up') continue;
          expect(decision.delayMs).toBeGreaterThanOrEqual(policy.delayMsInitial);
          expect(decision.delayMs).toBeLessThanOrEqual(policy.delayMsMax);
          now += decision.delayMs;
          restarts.push(now);
          const inWindow = restarts.filter((atMs) => now - atMs < policy.windowMs).length;
          expect(inWindow).toBeLessThanOrEqual(policy.restartsMax);
        }
      }),
    );
  });
});

describe('checkRestartLimits', () => {
  it('accepts the limits of common/limits.ts', () => {
    expect(() =>
      checkRestartLimits({
        delayMsInitial: limits.localRestartDelayMsInitial,
        delayMsMax: limits.localRestartDelayMsMax,
        restartsMax: limits.localRestartsMax,
        windowMs: limits.localRestartWindowMs,
      }),
    ).not.toThrow();
  });

  it('refuses a window too short to hold the restarts it allows', () => {
    expect(() => checkRestartLimits({ ...policy, windowMs: 40_000 })).toThrow(/restart window/);
  });

  it('refuses a largest delay below the first', () => {
    expect(() => checkRestartLimits({ ...policy, delayMsMax: 1_000 })).toThrow(/largest restart delay/);
  });
});
