/**
 * The collector's HTTP face:
 *   GET /                 the dashboard page
 *   GET /dashboard.js     its script; /vendor/uPlot.* the chart library from node_modules
 *   GET /metrics          Prometheus text for the whole cluster (every recent process snapshot)
 *   GET /api/cluster      nodes, targets, chains with states, per-node reporting, alerts
 *   GET /api/nodes        the nodes part of /api/cluster
 *   GET /api/alerts       the alerts part of /api/cluster
 *   GET /api/names        names of every series with history
 *   GET /api/series?name=N[&since=MS|&window_ms=MS][&label.L=V…]   history of matching series
 *   GET /api/overview?window_ms=MS&step_ms=MS                      the dashboard's chart data
 *   GET /healthz          "ok"
 * Query parameters are validated with zod; a bad one is a 400 naming it. Only GET is served.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { formatIssues } from '../../common/config.js';
import { describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Logger } from '../../common/logger.js';
import type { MetricFamily } from '../../common/metrics/index.js';
import { dashboardHtml } from '../dashboard/page.js';
import { dashboardScript } from '../dashboard/script.js';
import type { ClusterView } from './cluster-view.js';
import { overviewCharts } from './overview.js';
import { clusterExposition } from './prometheus-export.js';
import type { SampleStore } from './sample-store.js';

export interface CollectorHttpDeps {
  readonly store: SampleStore;
  readonly logger: Logger;
  readonly nowMs: () => number;
  readonly view: () => ClusterView;
  /** The snapshots /metrics serves: every recent process's, the collector's own included. */
  readonly liveSnapshots: () => Promise<MetricFamily[][]>;
}

class BadRequest extends Error {}

const windowMsSchema = z.coerce
  .number()
  .int()
  .min(1_000)
  .max(7 * 24 * 3_600_000);
const seriesQuerySchema = z.strictObject({
  name: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'a metric name'),
  since: z.coerce.number().int().min(0).optional(),
  window_ms: windowMsSchema.optional(),
});
const overviewQuerySchema = z.strictObject({
  window_ms: windowMsSchema.default(5 * 60_000),
  step_ms: z.coerce.number().int().min(100).max(3_600_000).optional(),
});

function parseQuery<S extends z.ZodType>(schema: S, params: Record<string, string>): z.output<S> {
  const result = schema.safeParse(params);
  if (!result.success) throw new BadRequest(formatIssues(result.error.issues));
  return result.data;
}

/** Splits query parameters into plain ones and `label.<name>` matchers. */
function splitParams(url: URL): { params: Record<string, string>; match: Record<string, string> } {
  const params: Record<string, string> = {};
  const match: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    if (key.startsWith('label.')) match[key.slice('label.'.length)] = value;
    else params[key] = value;
  }
  return { params, match };
}

const vendorFiles: Record<string, { file: string; type: string }> = {
  '/vendor/uPlot.iife.min.js': { file: 'uplot/dist/uPlot.iife.min.js', type: 'text/javascript' },
  '/vendor/uPlot.min.css': { file: 'uplot/dist/uPlot.min.css', type: 'text/css' },
};

/** The request handler of the collector's HTTP server. */
export function collectorHttpHandler(
  deps: CollectorHttpDeps,
): (request: IncomingMessage, response: ServerResponse) => void {
  const requireFromHere = createRequire(import.meta.url);
  const vendorCache = new Map<string, Buffer>();

  const vendor = async (path: string): Promise<Buffer | undefined> => {
    const entry = vendorFiles[path];
    if (entry === undefined) return undefined;
    let content = vendorCache.get(path);
    if (content === undefined) {
      content = await readFile(requireFromHere.resolve(entry.file));
      vendorCache.set(path, content);
    }
    return content;
  };

  const route = async (url: URL, response: ServerResponse): Promise<void> => {
    const json = (value: unknown): void => {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(JSON.stringify(value));
    };
    switch (url.pathname) {
      case '/':
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(dashboardHtml);
        return;
      case '/dashboard.js':
        response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(dashboardScript);
        return;
      case '/healthz':
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/metrics': {
        const { text, contentType } = await clusterExposition(await deps.liveSnapshots());
        response.writeHead(200, { 'content-type': contentType }).end(text);
        return;
      }
      case '/api/cluster':
        return json(deps.view());
      case '/api/nodes':
        return json({ nodes: deps.view().nodes });
      case '/api/alerts':
        return json({ alerts: deps.view().alerts });
      case '/api/names':
        return json({ names: deps.store.names() });
      case '/api/series': {
        const { params, match } = splitParams(url);
        const query = parseQuery(seriesQuerySchema, params);
        const nowMs = deps.nowMs();
        const sinceMs = query.since ?? (query.window_ms === undefined ? 0 : nowMs - query.window_ms);
        return json({
          name: query.name,
          sinceMs,
          series: deps.store.query({
            name: query.name,
            sinceMs,
            match,
            pointsMax: limits.monitorQueryPointsMax,
          }),
        });
      }
      case '/api/overview': {
        const query = parseQuery(overviewQuerySchema, splitParams(url).params);
        // About 150 buckets per window, never finer than a second.
        const stepMs = query.step_ms ?? Math.max(1_000, Math.round(query.window_ms / 150));
        const nowMs = deps.nowMs();
        return json({
          nowMs,
          stepMs,
          charts: overviewCharts(deps.store, {
            nowMs,
            windowMs: query.window_ms,
            stepMs,
            pointsMax: limits.monitorQueryPointsMax,
          }),
        });
      }
    }
    const asset = await vendor(url.pathname);
    if (asset !== undefined) {
      const type = vendorFiles[url.pathname]?.type ?? 'application/octet-stream';
      response.writeHead(200, { 'content-type': type, 'cache-control': 'max-age=3600' }).end(asset);
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  };

  return (request, response) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response
        .writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' })
        .end('method not allowed\n');
      return;
    }
    const url = new URL(request.url ?? '/', 'http://collector');
    route(url, response).catch((error: unknown) => {
      if (error instanceof BadRequest) {
        response.writeHead(400, { 'content-type': 'text/plain' }).end(`bad request:\n${error.message}\n`);
        return;
      }
      deps.logger.error({ err: error, path: url.pathname }, `collector http failed: ${describeError(error)}`);
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
      response.end('internal error\n');
    });
  };
}
