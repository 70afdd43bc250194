/**
 * The life cycle every service binary shares: start, tell systemd it is ready, stop cleanly on
 * SIGTERM/SIGINT (drain, flush, exit 0), and crash loudly on a bug rather than limp on. A service
 * started with an IPC channel (by `3fs local`) also stops when that channel closes: its supervisor
 * is gone, even killed with SIGKILL (Linux's parent-death signal is out of Node's reach), and
 * nothing else would ever stop it or, for the FUSE daemon, its mount.
 */
import type { z } from 'zod';
import { loadConfig } from './config.js';
import { describeError } from './errors.js';
import { limits } from './limits.js';
import type { Logger } from './logger.js';
import { sdNotify } from './sd-notify.js';

/** A started service: `stop` drains in-flight work and releases everything. */
export interface RunningService {
  stop(): Promise<void>;
}

/**
 * What a service does when a request handler breaks an invariant (an AssertionError: a bug here,
 * whatever the caller sent, since requests are validated before handlers see them): log it and
 * exit at once, as for an uncaught exception, rather than serve on from a state it cannot trust.
 * The supervisor restarts the process; storage comes back through recovery.
 */
export function crashOnBrokenInvariant(logger: Logger): (error: Error, methodName: string) => void {
  return (error, methodName) => {
    logger.fatal(
      { err: error, method: methodName },
      `${methodName} broke an invariant: this is a bug; exiting`,
    );
    process.exit(70);
  };
}

/** Upper bound on a clean stop; past it the process exits non-zero rather than hang. */
const stopDeadlineMs = 30_000;

/** Starts a service and keeps the process alive until a stop signal. Never returns normally. */
export async function runService(options: {
  name: string;
  logger: Logger;
  start: () => Promise<RunningService>;
  /**
   * How long a started service keeps serving after its supervisor is gone (see the file comment),
   * so that clients stopping at the same moment, the FUSE daemon flushing what it buffered, still
   * reach it. The FUSE daemon itself passes 0: it is the one that must flush and unmount first.
   */
  supervisorGoneGraceMs?: number;
}): Promise<void> {
  const { logger } = options;
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception: this is a bug; exiting');
    process.exit(70);
  });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled rejection: this is a bug; exiting');
    process.exit(70);
  });

  // Until the service runs there is nothing to stop: the supervisor's death ends the process.
  let stop = (reason: string): void => {
    logger.warn({ reason }, `${options.name} exiting before it started`);
    process.exit(1);
  };
  let started = false;
  if (process.channel !== undefined) {
    // The channel alone keeps no service alive; its closing is all that is watched.
    process.channel.unref();
    process.once('disconnect', () => {
      const graceMs = options.supervisorGoneGraceMs ?? limits.serviceSupervisorGoneGraceMs;
      if (!started || graceMs === 0) {
        stop('supervisor-gone');
        return;
      }
      logger.warn({ graceMs }, `supervisor gone: ${options.name} stops in ${graceMs} ms`);
      setTimeout(() => stop('supervisor-gone'), graceMs);
    });
  }

  let service: RunningService;
  try {
    service = await options.start();
  } catch (error) {
    logger.fatal({ err: error }, `${options.name} failed to start: ${describeError(error)}`);
    process.exit(1);
  }

  started = true;
  let stopping = false;
  stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second stop signal: exiting at once');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, `${options.name} stopping`);
    sendNotification(logger, 'STOPPING=1');
    const deadline = setTimeout(() => {
      logger.error(`${options.name} did not stop within ${stopDeadlineMs} ms; exiting`);
      process.exit(1);
    }, stopDeadlineMs);
    deadline.unref();
    service.stop().then(
      () => {
        logger.info(`${options.name} stopped`);
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, `${options.name} stopped with an error`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  sendNotification(logger, 'READY=1');
  logger.info(`${options.name} ready`);
}

function sendNotification(logger: Logger, state: string): void {
  try {
    sdNotify(state);
  } catch (error) {
    logger.warn({ err: error }, `cannot notify systemd (${state})`);
  }
}

/**
 * Loads a service's TOML configuration, or prints every problem (key path and reason) and exits
 * with status 2: a bad config must stop a service before it does anything.
 */
export function loadConfigOrExit<S extends z.ZodType>(schema: S, path: string): z.output<S> {
  try {
    return loadConfig(schema, path);
  } catch (error) {
    console.error(describeError(error));
    process.exit(2);
  }
}
