// Proves that a meta service on PostgreSQL completes every call of many concurrent callers that
// create and unlink files side by side, in directories of their own and in one shared directory.
// PostgreSQL tracks a serializable transaction's reads by index page, so such callers, whose keys
// are neighbours, refuse each other's transactions all the time; each call must still succeed in
// the end (through the engine's retries, which run a transaction alone once it keeps conflicting)
// rather than give up and surface as EIO at a mount.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { statusName } from '../../../src/common/status-code.js';
import { formatRequestId, metaMethods as m, type Credentials } from '../../../src/meta/protocol/index.js';
import {
  postgresAvailability,
  startPostgresTestServer,
  type PostgresTestServer,
} from '../../helpers/postgres-server.js';
import { postgresKvToml } from '../helpers/mgmtd-cluster.js';
import { startMetaCluster, type MetaCluster } from '../helpers/meta-cluster.js';
import { TestWorld } from '../helpers/processes.js';

const root: Credentials = { uid: 0, gid: 0, groups: [] };
const postgres = postgresAvailability();
const callers = 16;
const filesPerCaller = 25;

describe.skipIf(!postgres.available)(
  'a meta service on PostgreSQL under concurrent creates and unlinks',
  () => {
    let world: TestWorld;
    let cluster: MetaCluster;
    let server: PostgresTestServer;
    let address: string;

    beforeAll(async () => {
      world = new TestWorld();
      server = await startPostgresTestServer(postgres);
      cluster = await startMetaCluster(world, {
        metaCount: 1,
        kvToml: postgresKvToml(server, 'meta_contention'),
      });
      address = cluster.metas[0]?.address ?? '';
    }, 90_000);

    afterAll(async () => {
      await cluster?.rpc.close();
      await world?.cleanup();
      await server?.close();
    });

    /** Runs `call` and returns "ok" or the status it failed with, with its message. */
    async function outcome(call: Promise<unknown>): Promise<string> {
      try {
        await call;
        return 'ok';
      } catch (error) {
        if (!(error instanceof FsError)) throw error;
        return `${statusName(error.code)}: ${error.message}`;
      }
    }

    /**
     * One caller: creates its files one after another, then unlinks them; returns every failure.
     * Like a mount, it gives each call a request id, which meta records in the call's transaction.
     */
    async function caller(directory: string, prefix: string): Promise<string[]> {
      const failures: string[] = [];
      let sequence = 0;
      const withId = <T extends object>(request: T): T =>
        ({ ...request, requestId: formatRequestId(Date.now(), `t${prefix.slice(0, -1)}`, ++sequence) }) as T;
      const paths = Array.from({ length: filesPerCaller }, (_, index) => `${directory}/${prefix}${index}`);
      for (const path of paths) {
        const result = await outcome(
          cluster.call(
            address,
            m.create,
            withId({ cred: root, at: { path }, mode: 0o644, exclusive: true, write: false }),
          ),
        );
        if (result !== 'ok') failures.push(`create ${path}: ${result}`);
      }
      for (const path of paths) {
        const result = await outcome(cluster.call(address, m.unlink, withId({ cred: root, at: { path } })));
        if (result !== 'ok') failures.push(`unlink ${path}: ${result}`);
      }
      return failures;
    }

    it.each([
      ['in directories of their own', (index: number) => `/own/d${index}`],
      ['in one shared directory', () => '/shared'],
    ])(
      `completes every create and unlink of ${callers} callers %s`,
      async (_name, directoryOf) => {
        for (let index = 0; index < callers; index++) {
          await cluster.call(address, m.mkdirs, {
            cred: root,
            at: { path: directoryOf(index) },
            mode: 0o755,
            recursive: true,
          });
        }
        const failures = await Promise.all(
          Array.from({ length: callers }, (_, index) => caller(directoryOf(index), `c${index}-`)),
        );
        expect(failures.flat()).toEqual([]);
        for (let index = 0; index < callers; index++) {
          const listing = await cluster.call(address, m.readDir, {
            cred: root,
            at: { path: directoryOf(index) },
            limit: 10,
          });
          expect(listing.entries).toEqual([]);
        }
      },
      240_000,
    );
  },
);
