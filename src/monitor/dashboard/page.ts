/**
 * The dashboard's HTML page. Static: everything it shows comes from the collector's JSON API,
 * fetched by dashboard.js (script.ts), with charts drawn by uPlot served from node_modules. The
 * page is built into the binary as text so a packaged collector needs no asset directory.
 */
export const dashboardHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>3fs cluster</title>
<link rel="stylesheet" href="/vendor/uPlot.min.css">
<style>
  :root { --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #656d76; --line: #d0d7de; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: #f6f8fa; }
  header { background: #24292f; color: #fff; padding: 10px 20px; display: flex; gap: 24px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header .meta { color: #c9d1d9; font-size: 13px; }
  main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; min-width: 0; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { color: var(--muted); font-weight: 600; font-size: 12px; }
  .state { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; border: 1px solid; }
  .state.good { color: var(--ok); border-color: var(--ok); }
  .state.warn { color: var(--warn); border-color: var(--warn); }
  .state.bad { color: var(--bad); border-color: var(--bad); }
  .state.none { color: var(--muted); border-color: var(--line); }
  #alerts li { margin: 2px 0; }
  #alerts .critical { color: var(--bad); }
  #alerts .warning { color: var(--warn); }
  .empty { color: var(--muted); font-style: italic; }
  .charts { display: grid; gap: 12px; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); }
  .chart { min-width: 0; overflow: hidden; }
  .chart h3 { font-size: 13px; margin: 0 0 4px; }
  .bar { background: #eaeef2; border-radius: 3px; height: 8px; width: 80px; display: inline-block; vertical-align: middle; }
  .bar > span { display: block; height: 8px; border-radius: 3px; background: var(--ok); }
  .bar.full > span { background: var(--bad); }
</style>
</head>
<body>
<header>
  <h1>3fs cluster <span id="cluster-id"></span></h1>
  <span class="meta" id="routing-meta">loading…</span>
  <span class="meta" id="updated"></span>
</header>
<main>
  <section class="wide" id="alerts-section"><h2>Alerts</h2><ul id="alerts"><li class="empty">loading…</li></ul></section>
  <section class="wide"><h2>Throughput and latency</h2><div class="charts" id="charts"></div></section>
  <section class="wide"><h2>Nodes</h2><table id="nodes"><thead><tr><th>node</th><th>type</th><th>host</th><th>address</th><th>status</th><th>last heartbeat</th><th>metrics</th><th>memory</th><th>event loop p99</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Chains</h2><table id="chains"><thead><tr><th>chain</th><th>version</th><th>serving</th><th>targets (head first)</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Targets</h2><table id="targets"><thead><tr><th>target</th><th>node</th><th>chain</th><th>public state</th><th>local state</th><th>disk</th></tr></thead><tbody></tbody></table></section>
</main>
<script src="/vendor/uPlot.iife.min.js"></script>
<script src="/dashboard.js"></script>
</body>
</html>
`;
