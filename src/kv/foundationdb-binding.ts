/**
 * The one place that loads the npm `foundationdb` binding. The package is an optional dependency
 * (its native part needs FoundationDB's client library, libfdb_c, at install and at load time),
 * so it is imported dynamically, only when the foundationdb engine is chosen, and typed here by
 * the few parts the engine uses rather than by the package's own declarations (which are absent
 * wherever the package could not be installed).
 *
 * FoundationDB's network is one per process: the API version and network options are set once,
 * before the first database is opened, and every engine of the process shares them.
 */
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { KvCode } from '../common/status-code.js';

/** An error raised by FoundationDB, with its numeric error code. */
export interface FdbError extends Error {
  code: number;
}

/** Options of one transaction, as the binding names them (milliseconds for times). */
export interface FdbTransactionOptions {
  timeout?: number;
  retry_limit?: number;
  max_retry_delay?: number;
}

/** A FoundationDB transaction scoped to a key prefix (the binding adds and strips the prefix). */
export interface FdbTransaction {
  /** Fetches the transaction's read version (a round trip, batched by the client library). */
  getReadVersion(): Promise<unknown>;
  get(key: Buffer): Promise<Buffer | undefined>;
  getRangeAll(
    begin: Buffer,
    end: Buffer,
    options: { limit?: number; reverse?: boolean },
  ): Promise<Array<[Buffer, Buffer]>>;
  set(key: Buffer, value: Buffer): void;
  clear(key: Buffer): void;
  clearRange(begin: Buffer, end: Buffer): void;
  /** The same transaction reading without adding read conflicts. */
  snapshot(): FdbTransaction;
  /** Cancels the transaction: its pending reads fail and it can no longer commit. */
  rawCancel(): void;
}

/** A FoundationDB database handle, possibly scoped to a key prefix. */
export interface FdbDatabase {
  /** The same database with every key under `prefix`. */
  at(prefix: Buffer): FdbDatabase;
  /**
   * Runs `body` and commits, retrying through FoundationDB's own loop (onError: backoff, then
   * `body` again) on retryable FoundationDB errors; other errors end the loop at once.
   */
  doTn<T>(body: (transaction: FdbTransaction) => Promise<T>, options?: FdbTransactionOptions): Promise<T>;
  close(): void;
}

/** The binding's module, as much of it as the engine uses. */
export interface FdbBinding {
  setAPIVersion(version: number): void;
  configNetwork(options: { knob?: string }): void;
  open(clusterFile?: string): FdbDatabase;
  FDBError: abstract new (...args: never[]) => FdbError;
}

/** What to install, said by every error about a missing client library. */
export const foundationDbLibraryHint =
  'install FoundationDB\'s client library, libfdb_c (the "foundationdb-clients" package from ' +
  "FoundationDB's releases for Debian/Ubuntu or RHEL, or nixpkgs' foundationdb)";

/** What to install, said by every error about the missing npm package. */
export const foundationDbInstallHint =
  `${foundationDbLibraryHint}, then run \`npm install\` again so that the optional npm package ` +
  '"foundationdb" (its Node binding) installs too';

const moduleName = 'foundationdb';
let loading: Promise<FdbBinding> | undefined;
/** The API version each loaded binding was started with (the real binding is one per process). */
const networks = new WeakMap<FdbBinding, { apiVersion: number }>();

/** Loads the binding once per process; fails with EngineNotAvailable, naming what to install. */
export function loadFoundationDbBinding(): Promise<FdbBinding> {
  loading ??= importBinding();
  return loading;
}

async function importBinding(): Promise<FdbBinding> {
  let imported: { default?: unknown } & Record<string, unknown>;
  try {
    // A variable, so that neither the type checker nor the bundler try to resolve the package.
    imported = (await import(moduleName)) as typeof imported;
  } catch (error) {
    loading = undefined;
    const code = (error as { code?: unknown }).code;
    // The package itself is absent (not one of its own dependencies, which fails the same way).
    const missing =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      describeError(error).includes(`'${moduleName}'`);
    throw new FsError(
      KvCode.EngineNotAvailable,
      missing
        ? `the foundationdb engine is not installed: the npm package "foundationdb" is absent (it installs only where FoundationDB's client library is present): ${foundationDbInstallHint}`
        : `the foundationdb engine cannot load its Node binding (${describeError(error)}): ${foundationDbLibraryHint}; if the package itself is damaged, run \`npm install\` again`,
      { cause: error },
    );
  }
  const binding = (imported.default ?? imported) as Partial<FdbBinding>;
  if (
    typeof binding.open !== 'function' ||
    typeof binding.setAPIVersion !== 'function' ||
    typeof binding.configNetwork !== 'function' ||
    typeof binding.FDBError !== 'function'
  ) {
    throw new FsError(
      KvCode.EngineNotAvailable,
      `the npm package "foundationdb" does not look like the FoundationDB binding this engine was written for (version 2): ${foundationDbInstallHint}`,
    );
  }
  return binding as FdbBinding;
}

/**
 * Selects the API version and sets the network options, once per process, before the first open.
 * One network option matters: FoundationDB refuses keys over 10,000 bytes, and every key of ours
 * carries the engine's prefix on top of the up to 10,000 bytes the KV accepts, so the client's
 * key size limit is raised by the longest prefix allowed. (The limit is enforced by the client
 * library only; storage servers take keys up to 30,000 bytes, the system keys' limit.)
 */
export function startFoundationDbNetwork(binding: FdbBinding, apiVersion: number): void {
  const network = networks.get(binding);
  if (network !== undefined) {
    if (network.apiVersion !== apiVersion) {
      throw new FsError(
        KvCode.EngineFailure,
        `FoundationDB API version ${network.apiVersion} is already selected in this process; ${apiVersion} cannot be used too`,
      );
    }
    return;
  }
  try {
    binding.setAPIVersion(apiVersion);
    binding.configNetwork({
      knob: `key_size_limit=${limits.kvKeyBytesMax + limits.kvFoundationDbPrefixBytesMax}`,
    });
  } catch (error) {
    throw new FsError(
      KvCode.EngineFailure,
      `cannot start FoundationDB's client network with API version ${apiVersion}: ${describeError(error)}`,
      { cause: error },
    );
  }
  networks.set(binding, { apiVersion });
}
