/**
 * A throwaway PostgreSQL server for tests: initdb into a fresh temporary directory, postgres on
 * 127.0.0.1 at a port chosen at run time with its unix socket in that directory, fsync off (the
 * data is thrown away; a crash of the server process still loses nothing, only a crash of the
 * machine would), and always stopped and removed afterwards. PostgreSQL refuses to run as
 * root, so under root both programs run as the `postgres` OS user. Both start through setpriv,
 * which execs without forking (the pid we hold is the postmaster's own, so signals reach it
 * directly) and has the kernel stop the server should this process die without cleaning up.
 *
 * When THREEFS_TEST_POSTGRES_URL names a server, tests use that one instead and start nothing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { skipWithout } from './requirements.js';

/** Where tests find a PostgreSQL server: one given by the environment, or one they start. */
export type PostgresAvailability =
  | { available: true; url: string; startsServer: false }
  | { available: true; bindir: string; startsServer: true }
  | { available: false; reason: string };

const startDeadlineMs = 30_000;
const stopDeadlineMs = 15_000;
const logLinesKept = 50;

/**
 * Decides, without starting anything (so it can run while tests are collected), whether the
 * postgres tests can run and how; prints why they skip, or under CI=true fails the test file.
 */
export function postgresAvailability(): PostgresAvailability {
  const availability = findPostgres();
  if (!availability.available) skipWithout('PostgreSQL', availability.reason);
  return availability;
}

/**
 * Whether a test may stop and start the server (only one it started itself), failing the file
 * under CI=true when it may not: such a test needs a server of its own.
 */
export function postgresRestartSkipped(availability: PostgresAvailability): boolean {
  return skipWithout(
    'a PostgreSQL server the test may restart',
    availability.available && !availability.startsServer
      ? 'THREEFS_TEST_POSTGRES_URL names a server that tests must not stop; unset it'
      : undefined,
  );
}

function findPostgres(): PostgresAvailability {
  const url = process.env['THREEFS_TEST_POSTGRES_URL'];
  if (url !== undefined && url !== '') return { available: true, url, startsServer: false };
  const bindir = findBindir();
  if (spawnSync('setpriv', ['--version'], { timeout: 5_000 }).status !== 0) {
    return {
      available: false,
      reason: 'setpriv (util-linux) is missing; it starts the test PostgreSQL server',
    };
  }
  if (bindir === undefined) {
    return {
      available: false,
      reason:
        'no PostgreSQL server binaries (initdb, postgres) found via pg_config or /usr/lib/postgresql/*/bin; ' +
        'install the Debian package "postgresql" or set THREEFS_TEST_POSTGRES_URL',
    };
  }
  if (process.getuid?.() === 0 && lookupUser('postgres') === undefined) {
    return {
      available: false,
      reason: 'running as root and there is no "postgres" OS user to run the server as',
    };
  }
  return { available: true, bindir, startsServer: true };
}

/** A PostgreSQL server for one test file. */
export interface PostgresTestServer {
  /** Connection settings of a superuser on loopback (no password). */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly url: string;
  /** Whether stop/start work (false for a server given by THREEFS_TEST_POSTGRES_URL). */
  readonly controllable: boolean;
  /** Stops the server: "fast" rolls back sessions and shuts down cleanly, "immediate" crashes it. */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  /** Starts the stopped server again on the same port and data. */
  start(): Promise<void>;
  /** The server's last log lines, for failure messages. */
  log(): string;
  /** Stops the server and removes its directory; safe to call twice. */
  close(): Promise<void>;
}

/** Starts a server (or wraps the one given by the environment). */
export async function startPostgresTestServer(
  availability: PostgresAvailability,
): Promise<PostgresTestServer> {
  if (!availability.available) throw new Error(availability.reason);
  if (!availability.startsServer) return externalServer(availability.url);
  const directory = await mkdtemp(join(tmpdir(), '3fs-pg-'));
  const owner = process.getuid?.() === 0 ? lookupUser('postgres') : undefined;
  try {
    if (owner !== undefined) chownSync(directory, owner.uid, owner.gid);
    const initdbCommand = asOwner(owner, join(availability.bindir, 'initdb'), [
      '-D',
      join(directory, 'data'),
      '--auth=trust',
      '--username=postgres',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    const initdb = spawnSync(initdbCommand.command, initdbCommand.args, {
      cwd: directory,
      encoding: 'utf8',
      timeout: startDeadlineMs,
    });
    if (initdb.status !== 0) {
      throw new Error(`initdb failed (${initdb.status ?? initdb.signal}): ${initdb.stderr}${initdb.stdout}`);
    }
    const server = new LocalServer(availability.bindir, directory, owner, await freePort());
    await server.start();
    return server;
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}

class LocalServer implements PostgresTestServer {
  readonly host = '127.0.0.1';
  readonly user = 'postgres';
  readonly database = 'postgres';
  readonly controllable = true;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly lines: string[] = [];
  private closed = false;
  private readonly killOnExit = (): void => {
    this.child?.kill('SIGQUIT');
  };

  constructor(
    private readonly bindir: string,
    private readonly directory: string,
    private readonly owner: { uid: number; gid: number } | undefined,
    readonly port: number,
  ) {}

  get url(): string {
    return `postgresql://${this.user}@${this.host}:${this.port}/${this.database}`;
  }

  async start(): Promise<void> {
    if (this.child !== undefined) throw new Error('the test PostgreSQL server is already running');
    const { command, args } = asOwner(this.owner, join(this.bindir, 'postgres'), [
      '-D',
      join(this.directory, 'data'),
      '-p',
      String(this.port),
      '-h',
      this.host,
      '-k',
      this.directory,
      '-c',
      'fsync=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'shared_buffers=16MB',
      '-c',
      'max_connections=100',
    ]);
    const child = spawn(command, args, {
      cwd: this.directory,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    process.once('exit', this.killOnExit);
    const keep = (chunk: Buffer): void => {
      this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      this.lines.splice(0, Math.max(0, this.lines.length - logLinesKept));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        if (this.child === child) this.child = undefined;
        process.off('exit', this.killOnExit);
        resolve();
      }),
    );
    await this.waitUntilReady(child);
  }

  async stop(mode: 'fast' | 'immediate'): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    const stopped = await Promise.race([
      this.exited.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), stopDeadlineMs).unref()),
    ]);
    if (!stopped) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  log(): string {
    return this.lines.join('\n');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.stop('fast');
    } finally {
      await rm(this.directory, { recursive: true, force: true });
    }
  }

  /** Connects until the server answers, failing early when it exits. */
  private async waitUntilReady(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + startDeadlineMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`postgres exited while starting:\n${this.log()}`);
      }
      const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1_000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return;
      } catch (error) {
        lastError = error;
      } finally {
        await client.end().catch(() => {});
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(
      `postgres did not accept connections within ${startDeadlineMs} ms: ${String(lastError)}\n${this.log()}`,
    );
  }
}

function externalServer(url: string): PostgresTestServer {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username),
    database: decodeURIComponent(parsed.pathname.slice(1)),
    url,
    controllable: false,
    stop: () =>
      Promise.reject(new Error('a server given by THREEFS_TEST_POSTGRES_URL is not stopped by tests')),
    start: () =>
      Promise.reject(new Error('a server given by THREEFS_TEST_POSTGRES_URL is not started by tests')),
    log: () => '',
    close: () => Promise.resolve(),
  };
}

/**
 * The command that runs a PostgreSQL program as `owner` (or as ourselves) through setpriv, which
 * also makes the kernel send it SIGQUIT (an immediate shutdown) when this process dies, so a test
 * process killed outright leaves no server behind.
 */
function asOwner(
  owner: { uid: number; gid: number } | undefined,
  program: string,
  args: string[],
): { command: string; args: string[] } {
  const user = owner === undefined ? [] : [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--init-groups'];
  return { command: 'setpriv', args: [...user, '--pdeathsig', 'SIGQUIT', '--', program, ...args] };
}

function findBindir(): string | undefined {
  const hasServer = (directory: string): boolean =>
    existsSync(join(directory, 'initdb')) && existsSync(join(directory, 'postgres'));
  const fromPgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8', timeout: 5_000 });
  const reported = fromPgConfig.status === 0 ? fromPgConfig.stdout.trim() : '';
  if (reported !== '' && hasServer(reported)) return reported;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => /^\d+$/.test(name))
    .sort((left, right) => Number(right) - Number(left));
  for (const version of versions) {
    const directory = join(root, version, 'bin');
    if (hasServer(directory)) return directory;
  }
  return undefined;
}

function lookupUser(name: string): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8', timeout: 5_000 });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8', timeout: 5_000 });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** A port that was free a moment ago on loopback. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
