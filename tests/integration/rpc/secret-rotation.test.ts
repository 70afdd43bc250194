// Proves servers accept every secret they hold and prove back with the one used, clients prove their current one on each new connection, and established connections outlive a rotation.
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterSecrets } from '../../../src/common/cluster-secrets.js';
import { silentLogger } from '../../../src/common/logger.js';
import { RpcCode } from '../../../src/common/status-code.js';
import { decodeBody, encodeBody } from '../../../src/rpc/body-codec.js';
import { FrameKind } from '../../../src/rpc/frame.js';
import {
  acceptSchema,
  challengeSchema,
  clientProof,
  createNonce,
  proofMatches,
  serverProof,
} from '../../../src/rpc/handshake.js';
import { RpcClient, RpcServer, probeClusterSecret } from '../../../src/rpc/index.js';
import {
  Cleanup,
  RawPeer,
  capturingLogger,
  clusterSecret,
  echoMethod,
  registerTestHandlers,
  rejection,
  startFakeServer,
} from './helpers.js';

const oldSecret = 'the-old-cluster-secret-0123456789';
const newSecret = 'the-new-cluster-secret-9876543210';
const request = { text: 'through a rotation', id: 7n, count: 1 };

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function server(secrets: ClusterSecrets): Promise<string> {
  const { logger } = capturingLogger();
  const rpcServer = new RpcServer({ clusterSecret: secrets, logger });
  registerTestHandlers(rpcServer);
  cleanup.add(() => rpcServer.close({ drainMs: 100 }));
  return rpcServer.listen('127.0.0.1:0');
}

function client(secrets: ClusterSecrets | string): RpcClient {
  const rpc = new RpcClient({ clusterSecret: secrets, logger: silentLogger() });
  cleanup.add(() => rpc.close());
  return rpc;
}

describe('a server holding several secrets', () => {
  it('accepts a client proving any of them and refuses one proving none', async () => {
    const address = await server(new ClusterSecrets([oldSecret, newSecret]));
    expect(await client(oldSecret).call(address, echoMethod, request)).toMatchObject(request);
    expect(await client(newSecret).call(address, echoMethod, request)).toMatchObject(request);
    const refused = await rejection(client('a-secret-nobody-holds-42').call(address, echoMethod, request));
    expect(refused.code).toBe(RpcCode.AuthFailed);
  });

  it('proves back with the secret the client used, saying whether it is its current one', async () => {
    const address = await server(new ClusterSecrets([newSecret, oldSecret]));
    for (const [secret, current] of [
      [oldSecret, false],
      [newSecret, true],
    ] as const) {
      const peer = await RawPeer.connect(address);
      cleanup.add(() => peer.destroy());
      const challenge = challengeSchema.parse(decodeBody((await peer.nextFrame()).body));
      const clientNonce = createNonce();
      const proof = clientProof({ secret, serverNonce: challenge.nonce, clientNonce });
      peer.sendFrame({
        kind: FrameKind.HandshakeAnswer,
        status: 0,
        requestId: 0,
        serviceId: 0,
        methodId: 0,
        body: encodeBody({ nonce: clientNonce, proof }),
        payload: undefined,
      });
      const result = await peer.nextFrame();
      expect(result.header.status).toBe(0);
      const accept = acceptSchema.parse(decodeBody(result.body));
      const expected = serverProof({ secret, serverNonce: challenge.nonce, clientNonce });
      expect(proofMatches(expected, accept.proof)).toBe(true);
      expect(accept.current).toBe(current);
    }
  });
});

describe('a rotation', () => {
  it('keeps established connections and changes only what new connections prove', async () => {
    const serverSecrets = new ClusterSecrets([oldSecret]);
    const address = await server(serverSecrets);
    const clientSecrets = new ClusterSecrets([oldSecret]);
    const rpc = client(clientSecrets);
    await rpc.call(address, echoMethod, request);

    // Step 1: everyone accepts the new secret too.
    serverSecrets.replace([oldSecret, newSecret]);
    clientSecrets.replace([oldSecret, newSecret]);
    // Step 2: everyone connects with the new one.
    serverSecrets.replace([newSecret, oldSecret]);
    clientSecrets.replace([newSecret, oldSecret]);
    // Step 3: the old one is gone.
    serverSecrets.replace([newSecret]);
    clientSecrets.replace([newSecret]);

    // The connection authenticated with the old secret stays up.
    expect(await rpc.call(address, echoMethod, request)).toMatchObject(request);
    // A new connection of the same client proves the new secret.
    const secondAddress = await server(new ClusterSecrets([newSecret]));
    expect(await rpc.call(secondAddress, echoMethod, request)).toMatchObject(request);
    // A new connection with the old secret alone is refused now; one with the new is accepted.
    expect((await rejection(client(oldSecret).call(address, echoMethod, request))).code).toBe(
      RpcCode.AuthFailed,
    );
    expect(await client(newSecret).call(address, echoMethod, request)).toMatchObject(request);
  });
});

describe('probeClusterSecret', () => {
  it('tells a current secret from one also accepted, a refused one, and no server', async () => {
    const address = await server(new ClusterSecrets([newSecret, oldSecret]));
    const logger = silentLogger();
    expect(await probeClusterSecret({ address, secret: newSecret, logger })).toEqual({ result: 'current' });
    expect(await probeClusterSecret({ address, secret: oldSecret, logger })).toEqual({ result: 'accepted' });
    expect((await probeClusterSecret({ address, secret: 'a-secret-nobody-holds-42', logger })).result).toBe(
      'refused',
    );
    const closed = await server(new ClusterSecrets([newSecret]));
    await cleanup.run();
    const gone = await probeClusterSecret({
      address: closed,
      secret: newSecret,
      logger,
      connectTimeoutMs: 500,
    });
    expect(gone.result).toBe('unreachable');
    expect(gone.message).toMatch(/connect/);
  });

  it('reports a server that does not say which secret is current as accepting', async () => {
    const fake = await startFakeServer(() => Buffer.alloc(0));
    cleanup.add(() => fake.close());
    expect(
      await probeClusterSecret({ address: fake.address, secret: clusterSecret, logger: silentLogger() }),
    ).toEqual({ result: 'accepted-unknown' });
  });
});
