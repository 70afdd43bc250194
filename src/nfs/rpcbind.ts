/**
 * Registration with the local rpcbind (portmapper, version 2): clients that ask it where NFS and
 * MOUNT are (Linux's mount.nfs, showmount) then find the gateway's one port. Best effort: without
 * an rpcbind, or when it refuses (it takes registrations from root only), the gateway serves on
 * and says so in the log; clients then name the port themselves.
 */
import { describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { OncRpcClient } from './rpc-client.js';

const portmapperProgram = 100000;
const portmapperVersion = 2;
const portmapperPort = 111;
const PortmapProcedure = { Set: 1, Unset: 2 } as const;
const tcpProtocol = 6;
const callTimeoutMs = 2_000;

/** A program version to register on a TCP port. */
export interface Registration {
  readonly program: number;
  readonly version: number;
  readonly port: number;
}

async function each(
  registrations: readonly Registration[],
  procedure: number,
  logger: Logger,
): Promise<boolean> {
  let client: OncRpcClient;
  try {
    client = await OncRpcClient.connect({
      host: '127.0.0.1',
      port: portmapperPort,
      timeoutMs: callTimeoutMs,
    });
  } catch (error) {
    logger.info(`no rpcbind to register with: ${describeError(error)}`);
    return false;
  }
  let allAccepted = true;
  try {
    for (const registration of registrations) {
      const reply = await client.call({
        program: portmapperProgram,
        version: portmapperVersion,
        procedure,
        credential: { stamp: 0, machineName: 'localhost', uid: process.geteuid?.() ?? 0, gid: 0, groups: [] },
        args: (writer) => {
          writer.u32(registration.program).u32(registration.version).u32(tcpProtocol);
          writer.u32(procedure === PortmapProcedure.Set ? registration.port : 0);
        },
      });
      const accepted = reply.kind === 'accepted' && reply.status === 0 && reply.results.bool('result');
      allAccepted &&= accepted;
    }
  } catch (error) {
    logger.warn(`rpcbind registration failed: ${describeError(error)}`);
    allAccepted = false;
  } finally {
    client.close();
  }
  return allAccepted;
}

/** Registers every program version; true when rpcbind accepted them all. */
export async function registerWithRpcbind(
  registrations: readonly Registration[],
  logger: Logger,
): Promise<boolean> {
  await each(registrations, PortmapProcedure.Unset, logger);
  const registered = await each(registrations, PortmapProcedure.Set, logger);
  if (registered) logger.info({ registrations }, 'registered with rpcbind');
  else logger.warn('rpcbind did not take every registration; clients must name the port');
  return registered;
}

/** Removes the registrations (stop). */
export async function unregisterFromRpcbind(
  registrations: readonly Registration[],
  logger: Logger,
): Promise<void> {
  await each(registrations, PortmapProcedure.Unset, logger);
}
