/**
 * A process's own Prometheus endpoint: GET /metrics on the `[monitor] listen` address answers the
 * registry's text exposition. Anything else is 404; the server holds no state of its own.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitAddress } from '../config.js';
import { FsError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { CommonCode } from '../status-code.js';
import type { MetricsRegistry } from './registry.js';

/** A listening metrics endpoint. */
export interface MetricsEndpoint {
  /** "host:port" actually bound. */
  readonly address: string;
  close(): Promise<void>;
}

/** Serves `registry` at http://<listen>/metrics. */
export async function startMetricsEndpoint(options: {
  listen: string;
  registry: MetricsRegistry;
  logger: Logger;
}): Promise<MetricsEndpoint> {
  const { registry, logger } = options;
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.text().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => {
        logger.error({ err: error }, `cannot render metrics: ${describeError(error)}`);
        response.writeHead(500, { 'content-type': 'text/plain' }).end('cannot render metrics\n');
      },
    );
  });
  const bound = await listenOn(server, options.listen, logger);
  logger.info({ address: bound }, `metrics endpoint on http://${bound}/metrics`);
  return {
    address: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Listens on "host:port" and resolves with the bound "host:port". */
export async function listenOn(server: Server, address: string, logger: Logger): Promise<string> {
  const { host, port } = splitAddress(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: unknown) => {
    throw new FsError(CommonCode.IoError, `cannot listen on ${address}: ${describeError(error)}`, {
      cause: error,
    });
  });
  // Once listening, a failing socket is logged; it must not take the process down.
  server.on('error', (error) =>
    logger.error({ err: error }, `http server on ${address} failed: ${error.message}`),
  );
  const info = server.address() as AddressInfo;
  return info.family === 'IPv6' ? `[${info.address}]:${info.port}` : `${info.address}:${info.port}`;
}
