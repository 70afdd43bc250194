/**
 * Keeps a process's cluster secrets in step with its secret file, without a restart: the file is
 * read at start (a bad file stops the start), then again every clusterSecretCheckIntervalMs and at
 * once on SIGHUP. New connections use what was read last; established ones stay up, since they
 * were authenticated at their handshake.
 *
 * Invariants: a read that fails, or finds a file that breaks the rules (cluster-secrets.ts), keeps
 * the secrets held and says why, once per distinct problem, never every interval; checks never run
 * at the same time (a check asked for during one runs once after it); nothing is read after stop.
 */
import {
  ClusterSecrets,
  readClusterSecretsFile,
  readClusterSecretsFileAsync,
  secretFingerprint,
} from './cluster-secrets.js';
import type { Clock, TimerHandle } from './clock.js';
import { assert, describeError } from './errors.js';
import { limits } from './limits.js';
import type { Logger } from './logger.js';

/** What one check did: took new secrets, found the same ones, or kept the held ones (a bad file). */
export type SecretFileCheck = 'reloaded' | 'unchanged' | 'kept';

export interface SecretFileWatcherOptions {
  readonly path: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Time between checks (limits.clusterSecretCheckIntervalMs by default). */
  readonly intervalMs?: number;
  /** Whether SIGHUP asks for a check at once (services); off where the process is not ours (tests). */
  readonly reloadOnSighup?: boolean;
}

/** Watches one cluster secret file; see the file comment. */
export class SecretFileWatcher {
  /** The secrets held now: hand these to the process's RPC clients and servers. */
  readonly secrets: ClusterSecrets;
  private readonly options: SecretFileWatcherOptions;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private timer: TimerHandle | undefined;
  private running: Promise<SecretFileCheck> | undefined;
  private checkAgain = false;
  private lastProblem: string | undefined;
  private started = false;
  private stopped = false;
  private readonly onSighup = (): void => {
    // Stays registered after stop: SIGHUP's default action would kill a process that is draining.
    if (this.stopped) return;
    this.logger.info('SIGHUP: reading the cluster secret file again');
    void this.check();
  };

  /** Reads the file once; throws ConfigInvalid when it cannot be read or breaks the rules. */
  constructor(options: SecretFileWatcherOptions) {
    this.options = options;
    this.logger = options.logger.child({ secretFile: options.path });
    this.intervalMs = options.intervalMs ?? limits.clusterSecretCheckIntervalMs;
    assert(Number.isInteger(this.intervalMs) && this.intervalMs > 0, 'intervalMs is a positive integer');
    this.secrets = new ClusterSecrets(readClusterSecretsFile(options.path));
  }

  /** Starts the periodic checks (and SIGHUP, when asked for). */
  start(): void {
    assert(!this.started, 'a secret file watcher starts once');
    this.started = true;
    if (this.options.reloadOnSighup === true) process.on('SIGHUP', this.onSighup);
    this.schedule();
  }

  /** Stops checking; the secrets held stay as they are. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Reads the file now (after the check running, if any); never rejects. */
  check(): Promise<SecretFileCheck> {
    if (this.running !== undefined) {
      this.checkAgain = true;
      return this.running;
    }
    const running = this.runChecks().finally(() => {
      this.running = undefined;
    });
    this.running = running;
    return running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(this.intervalMs, () => {
      this.timer = undefined;
      void this.check().then(() => this.schedule());
    });
  }

  private async runChecks(): Promise<SecretFileCheck> {
    let outcome: SecretFileCheck;
    do {
      this.checkAgain = false;
      outcome = await this.checkOnce();
    } while (this.checkAgain && !this.stopped);
    return outcome;
  }

  private async checkOnce(): Promise<SecretFileCheck> {
    let secrets: string[];
    try {
      secrets = await readClusterSecretsFileAsync(this.options.path);
    } catch (error) {
      // A watcher stopped meanwhile has nothing left to warn about.
      if (!this.stopped) this.keep(describeError(error));
      return 'kept';
    }
    if (this.stopped) return 'unchanged';
    if (this.lastProblem !== undefined) {
      this.lastProblem = undefined;
      this.logger.info('the cluster secret file is valid again');
    }
    if (this.secrets.holds(secrets)) return 'unchanged';
    const previous = this.secrets.fingerprints();
    this.secrets.replace(secrets);
    this.logger.info(
      {
        connectingWith: secretFingerprint(this.secrets.current),
        accepting: this.secrets.fingerprints(),
        previous,
      },
      'cluster secrets reloaded: new connections use them, established ones stay',
    );
    return 'reloaded';
  }

  private keep(problem: string): void {
    if (problem === this.lastProblem) return;
    this.lastProblem = problem;
    this.logger.warn(
      { connectingWith: secretFingerprint(this.secrets.current), accepting: this.secrets.fingerprints() },
      `${problem}; keeping the cluster secrets held`,
    );
  }
}

/**
 * What every long-running process does with its `[cluster] secret_file`: reads it (throwing on a
 * bad file), then follows it on a timer and on SIGHUP until `stop`.
 */
export function watchSecretFile(options: { path: string; clock: Clock; logger: Logger }): SecretFileWatcher {
  const watcher = new SecretFileWatcher({ ...options, reloadOnSighup: true });
  watcher.start();
  return watcher;
}
