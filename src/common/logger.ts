/**
 * Structured logging: one JSON line per event on stderr (journald captures it), with context
 * bound once through `logger.child({ ... })`.
 */
import { pino, destination, stdTimeFunctions, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

/** Creates the process logger. Writes synchronously so the last lines before an exit are kept. */
export function createLogger(options: { component: string; level?: LogLevel }): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { component: options.component, pid: process.pid },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination({ dest: 2, sync: true }),
  );
}

/** A logger that discards everything, for tests and library use without logging. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
