/**
 * Unmounting when the process ends: on SIGINT/SIGTERM (drain briefly, unmount, then let the signal
 * take its default course unless the application handles it too) and on exit (immediately). A
 * second signal while draining unmounts at once. The hooks exist only while a session is mounted.
 * A process killed outright (SIGKILL) cannot run them: autoUnmount (fusermount3 watching the
 * session) and stale-mount recovery at the next mount cover that case.
 */

/** What the hooks need of a session. */
export interface Unmountable {
  /** Drains (bounded) and unmounts. */
  unmount(options: { drainTimeoutMs: number }): Promise<void>;
  /** Unmounts now, answering requests in flight with EIO. */
  closeSync(): void;
}

const signals = ['SIGINT', 'SIGTERM'] as const;
type HandledSignal = (typeof signals)[number];

const sessions = new Set<Unmountable>();
const signalled = new Set<Unmountable>();
let exitHookInstalled = false;
let signalHooksInstalled = false;
let draining = false;
let signalDrainTimeoutMs = 2_000;

function onExit(): void {
  for (const session of [...sessions]) session.closeSync();
}

function onSignal(signal: HandledSignal): void {
  const targets = [...signalled];
  if (draining) {
    // A second signal: stop waiting for handlers.
    for (const session of targets) session.closeSync();
    return;
  }
  draining = true;
  void Promise.allSettled(
    targets.map((session) => session.unmount({ drainTimeoutMs: signalDrainTimeoutMs })),
  ).then(() => {
    draining = false;
    updateHooks();
    // Without another listener the signal would have ended the process: let it do so now.
    if (!signalHooksInstalled && process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}

const listeners = new Map<HandledSignal, () => void>(
  signals.map((signal) => [signal, () => onSignal(signal)]),
);

/** Installs the hooks while some session needs them, and removes them when none does. */
function updateHooks(): void {
  const wantExit = sessions.size > 0;
  if (wantExit !== exitHookInstalled) {
    exitHookInstalled = wantExit;
    if (wantExit) process.on('exit', onExit);
    else process.off('exit', onExit);
  }
  const wantSignals = signalled.size > 0 || draining;
  if (wantSignals !== signalHooksInstalled) {
    signalHooksInstalled = wantSignals;
    for (const [signal, listener] of listeners) {
      if (wantSignals) process.on(signal, listener);
      else process.off(signal, listener);
    }
  }
}

/** Registers a mounted session; `handleSignals` adds it to the SIGINT/SIGTERM unmount. */
export function registerSession(
  session: Unmountable,
  options: { handleSignals: boolean; signalDrainTimeoutMs: number },
): void {
  sessions.add(session);
  if (options.handleSignals) {
    signalled.add(session);
    signalDrainTimeoutMs = options.signalDrainTimeoutMs;
  }
  updateHooks();
}

/** Forgets a session that ended. */
export function unregisterSession(session: Unmountable): void {
  sessions.delete(session);
  signalled.delete(session);
  updateHooks();
}
