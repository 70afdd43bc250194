/**
 * When `3fs local` restarts a service that died, as systemd does with Restart= and RestartSec=
 * (module.nix) and StartLimitBurst=: pure, so every case is a unit test. Invariants: a service is
 * restarted at most `restartsMax` times within any `windowMs`; the wait before a restart starts at
 * `delayMsInitial` and doubles with each restart still in the window, never beyond `delayMsMax`.
 */
import { assert } from '../common/errors.js';

export interface RestartLimits {
  readonly delayMsInitial: number;
  readonly delayMsMax: number;
  readonly restartsMax: number;
  readonly windowMs: number;
}

/** What to do about a service that just died. */
export type RestartDecision =
  | { readonly kind: 'restart'; readonly delayMs: number; readonly restartsInWindow: number }
  | { readonly kind: 'give-up'; readonly restartsInWindow: number };

/** Asserts the relations between the limits that the policy relies on. */
export function checkRestartLimits(restart: RestartLimits): void {
  assert(restart.delayMsInitial > 0, 'the first restart delay is positive');
  assert(restart.delayMsMax >= restart.delayMsInitial, 'the largest restart delay is at least the first');
  assert(Number.isInteger(restart.restartsMax) && restart.restartsMax >= 1, 'at least one restart');
  // The backoff alone must not keep a crash loop under the bound: the window has to hold every
  // restart the bound allows, with its delay.
  let backoffMs = 0;
  for (let restarts = 0; restarts < restart.restartsMax; restarts++) {
    backoffMs += restartDelayMs(restarts, restart);
  }
  assert(backoffMs < restart.windowMs, 'the restart window holds restartsMax restarts with their delays');
}

/**
 * Decides about a service that died at `nowMs`, given when it was restarted before (`restartsMs`,
 * same clock). The caller records the time of the restart it then makes.
 */
export function decideRestart(
  restartsMs: readonly number[],
  nowMs: number,
  restart: RestartLimits,
): RestartDecision {
  const restartsInWindow = restartsMs.filter((atMs) => nowMs - atMs < restart.windowMs).length;
  if (restartsInWindow >= restart.restartsMax) return { kind: 'give-up', restartsInWindow };
  return { kind: 'restart', delayMs: restartDelayMs(restartsInWindow, restart), restartsInWindow };
}

function restartDelayMs(restartsInWindow: number, restart: RestartLimits): number {
  return Math.min(restart.delayMsMax, restart.delayMsInitial * 2 ** restartsInWindow);
}
