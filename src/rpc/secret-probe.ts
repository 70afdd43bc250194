/**
 * Asks a server whether it accepts one cluster secret, by running the handshake with that secret
 * alone and closing the connection without a call (`admin secret-rotate status`).
 */
import { ClusterSecrets } from '../common/cluster-secrets.js';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { RpcCode } from '../common/status-code.js';
import { ClientConnection } from './client-connection.js';

/**
 * How a server took a secret: its current one (it connects out with it too), one it also accepts,
 * accepted without saying which (a server of an earlier version), refused, or no answer at all.
 */
export type SecretProbeResult = 'current' | 'accepted' | 'accepted-unknown' | 'refused' | 'unreachable';

export interface SecretProbe {
  readonly result: SecretProbeResult;
  /** Why it was unreachable (or refused), for people. */
  readonly message?: string;
}

/** Runs one handshake with `secret` against `address`; never rejects. */
export async function probeClusterSecret(options: {
  address: string;
  secret: string;
  logger: Logger;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
}): Promise<SecretProbe> {
  const connection = new ClientConnection({
    address: options.address,
    clusterSecrets: new ClusterSecrets([options.secret]),
    logger: options.logger,
    frameBytesMax: limits.rpcHandshakeFrameBytesMax,
    connectTimeoutMs: options.connectTimeoutMs ?? limits.rpcConnectTimeoutMs,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? limits.rpcHandshakeTimeoutMs,
    inflightMax: 1,
    queuedMax: 0,
    onClosed: () => undefined,
  });
  try {
    const { serverCurrent } = await connection.established();
    if (serverCurrent === undefined) return { result: 'accepted-unknown' };
    return { result: serverCurrent ? 'current' : 'accepted' };
  } catch (error) {
    const refused = error instanceof FsError && error.code === RpcCode.AuthFailed;
    return { result: refused ? 'refused' : 'unreachable', message: describeError(error) };
  } finally {
    connection.close(new FsError(RpcCode.ConnectionClosed, 'secret probe done'));
  }
}
