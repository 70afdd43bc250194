// Proves the RPC layer's user tokens over real sockets: a client proving a token the server knows
// is served as that user, only on methods open to it (user, trusted, admin); a wrong secret, an
// unknown token and a server that takes no tokens refuse the connection; a token withdrawn after
// the handshake fails the next request on the open connection; a token the server learns of only
// when it connects is found by reloading; and the token's secret never crosses the wire.
import { connect, createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { silentLogger } from '../../../src/common/logger.js';
import { RpcCode } from '../../../src/common/status-code.js';
import {
  RpcClient,
  RpcServer,
  TokenDirectory,
  createToken,
  defineMethod,
  parseToken,
  type Caller,
  type TokenTable,
  type UserIdentity,
} from '../../../src/rpc/index.js';
import { systemClock } from '../../../src/common/clock.js';
import { Cleanup, clusterSecret, rejection } from './helpers.js';

const whoMethod = defineMethod({
  serviceId: 9,
  methodId: 40,
  name: 'test.who',
  request: z.strictObject({}),
  response: z.strictObject({ who: z.string() }),
  idempotent: true,
});
const trustedMethod = defineMethod({ ...whoMethod, methodId: 41, name: 'test.trusted' });
const adminMethod = defineMethod({ ...whoMethod, methodId: 42, name: 'test.admin' });
const nodeMethod = defineMethod({ ...whoMethod, methodId: 43, name: 'test.node' });

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const plain: UserIdentity = {
  name: 'alice',
  uid: 1000,
  gid: 1000,
  groups: [],
  root: false,
  admin: false,
  trusted: false,
};

function describeCaller(caller: Caller): string {
  return caller.kind === 'node' ? 'node' : caller.user.name;
}

/** A users table the test changes at will, served to a TokenDirectory as mgmtd would. */
class Table {
  version = 1;
  users: Array<UserIdentity & { tokens: Array<{ id: string; key: string; expiresAtMs: number | null }> }> =
    [];
  fetches = 0;

  add(user: UserIdentity): string {
    const token = createToken();
    this.users.push({ ...user, tokens: [{ id: token.id, key: token.key, expiresAtMs: null }] });
    this.version += 1;
    return token.text;
  }

  remove(name: string): void {
    this.users = this.users.filter((user) => user.name !== name);
    this.version += 1;
  }

  fetch(knownVersion: number): Promise<TokenTable | null> {
    this.fetches += 1;
    return Promise.resolve(
      knownVersion === this.version ? null : { version: this.version, users: this.users },
    );
  }
}

async function server(table: Table | undefined): Promise<{ address: string; directory?: TokenDirectory }> {
  const directory =
    table === undefined
      ? undefined
      : new TokenDirectory({
          fetch: (known) => table.fetch(known),
          clock: systemClock,
          logger: silentLogger(),
          refreshMs: 60_000,
        });
  directory?.start();
  cleanup.add(async () => directory?.stop());
  const rpcServer = new RpcServer({
    clusterSecret,
    logger: silentLogger(),
    ...(directory === undefined ? {} : { tokens: directory }),
  });
  const answer = async (_request: unknown, context: { caller: Caller }) => ({
    who: describeCaller(context.caller),
  });
  rpcServer.handle(whoMethod, answer, 'user');
  rpcServer.handle(trustedMethod, answer, 'trusted');
  rpcServer.handle(adminMethod, answer, 'admin');
  rpcServer.handle(nodeMethod, answer);
  cleanup.add(() => rpcServer.close({ drainMs: 100 }));
  const address = await rpcServer.listen('127.0.0.1:0');
  return { address, ...(directory === undefined ? {} : { directory }) };
}

function client(token: string): RpcClient {
  const rpc = new RpcClient({ clusterSecret: '', token: parseToken(token, 'test'), logger: silentLogger() });
  cleanup.add(() => rpc.close());
  return rpc;
}

describe('user tokens at the RPC layer', () => {
  it('serves a known token as its user, on the methods open to it only', async () => {
    const table = new Table();
    const alice = table.add(plain);
    const gateway = table.add({ ...plain, name: 'gateway', trusted: true });
    const ops = table.add({ ...plain, name: 'ops', admin: true });
    const { address } = await server(table);
    expect(await client(alice).call(address, whoMethod, {})).toEqual({ who: 'alice' });
    for (const method of [trustedMethod, adminMethod, nodeMethod]) {
      expect((await rejection(client(alice).call(address, method, {}))).code).toBe(RpcCode.AuthFailed);
    }
    expect(await client(gateway).call(address, trustedMethod, {})).toEqual({ who: 'gateway' });
    expect((await rejection(client(gateway).call(address, adminMethod, {}))).code).toBe(RpcCode.AuthFailed);
    expect(await client(ops).call(address, adminMethod, {})).toEqual({ who: 'ops' });
    expect(await client(ops).call(address, trustedMethod, {})).toEqual({ who: 'ops' });
    expect((await rejection(client(ops).call(address, nodeMethod, {}))).code).toBe(RpcCode.AuthFailed);
    // The cluster secret still opens everything.
    const node = new RpcClient({ clusterSecret, logger: silentLogger() });
    cleanup.add(() => node.close());
    expect(await node.call(address, nodeMethod, {})).toEqual({ who: 'node' });
  });

  it('refuses a wrong secret, an unknown token, and tokens at a server that takes none', async () => {
    const table = new Table();
    const alice = table.add(plain);
    const { address } = await server(table);
    const [id] = alice.split('.');
    const forged = `${id}.${createToken().text.split('.')[1]}`;
    expect((await rejection(client(forged).call(address, whoMethod, {}))).code).toBe(RpcCode.AuthFailed);
    expect((await rejection(client(createToken().text).call(address, whoMethod, {}))).code).toBe(
      RpcCode.AuthFailed,
    );
    const closed = await server(undefined);
    const refused = await rejection(client(alice).call(closed.address, whoMethod, {}));
    expect(refused.code).toBe(RpcCode.AuthFailed);
    expect(refused.message).toMatch(/accepts no user tokens/);
  });

  it('fails the next request of an open connection once the token is withdrawn', async () => {
    const table = new Table();
    const alice = table.add(plain);
    const { address, directory } = await server(table);
    const rpc = client(alice);
    expect(await rpc.call(address, whoMethod, {})).toEqual({ who: 'alice' });
    table.remove('alice');
    await directory?.refresh();
    const failed = await rejection(rpc.call(address, whoMethod, {}));
    expect(failed.code).toBe(RpcCode.AuthFailed);
    expect(failed.message).toMatch(/revoked or expired/);
  });

  it('finds a token made after its last reload, reloading at most every quarter second', async () => {
    const table = new Table();
    const { address } = await server(table);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const bob = table.add({ ...plain, name: 'bob' });
    expect(await client(bob).call(address, whoMethod, {})).toEqual({ who: 'bob' });
    const before = table.fetches;
    const strangers = Array.from({ length: 20 }, () => client(createToken().text));
    const refusals = await Promise.all(
      strangers.map((stranger) => rejection(stranger.call(address, whoMethod, {}))),
    );
    expect(refusals.every((refusal) => refusal.code === RpcCode.AuthFailed)).toBe(true);
    expect(table.fetches - before).toBeLessThanOrEqual(3);
  });

  it('sends the token id and a proof, never the secret', async () => {
    const table = new Table();
    const alice = table.add(plain);
    const { address } = await server(table);
    const [host, port] = [
      address.slice(0, address.lastIndexOf(':')),
      Number(address.slice(address.lastIndexOf(':') + 1)),
    ];
    // A relay that records every byte the client sends.
    const sent: Buffer[] = [];
    const relay = createServer((inbound) => {
      const outbound = connect({ host, port });
      inbound.on('data', (bytes: Buffer) => sent.push(Buffer.from(bytes)));
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    cleanup.add(() => new Promise<void>((resolve) => relay.close(() => resolve())));
    const relayAddress = `127.0.0.1:${(relay.address() as AddressInfo).port}`;
    const rpc = client(alice);
    expect(await rpc.call(relayAddress, whoMethod, {})).toEqual({ who: 'alice' });
    await rpc.close();
    const wire = Buffer.concat(sent);
    const [id, secret] = alice.split('.') as [string, string];
    expect(wire.includes(Buffer.from(id))).toBe(true);
    expect(wire.includes(Buffer.from(secret))).toBe(false);
    expect(wire.includes(Buffer.from(parseToken(alice, 'test').key))).toBe(false);
  });
});
