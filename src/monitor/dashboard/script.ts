/**
 * The dashboard's browser script, served as /dashboard.js. It polls /api/cluster and /api/overview
 * every two seconds and redraws the tables and the uPlot charts. Text from the cluster (host
 * names, addresses) is only ever set as textContent, never parsed as HTML. Each chart's element
 * carries data-points (the non-empty points drawn), which tests read.
 *
 * Plain ES2020 in a string: it runs in the browser, not in Node, and ships inside the binary.
 */
export const dashboardScript = String.raw`'use strict';
(function () {
  var refreshMs = 2000;
  var windowMs = 5 * 60 * 1000;
  var charts = {};
  var colors = ['#0969da', '#cf222e', '#1a7f37', '#9a6700', '#8250df', '#bf3989'];

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }
  function stateClass(state) {
    if (state === 'serving' || state === 'online' || state === 'up-to-date') return 'good';
    if (state === 'syncing' || state === 'waiting' || state === 'unknown') return 'warn';
    if (state === 'offline' || state === 'lastsrv') return 'bad';
    return 'none';
  }
  function badge(state) { return el('span', { 'class': 'state ' + stateClass(state) }, [state]); }
  function ago(ms, nowMs) {
    if (!ms) return '-';
    var seconds = Math.max(0, Math.round((nowMs - ms) / 1000));
    return seconds < 120 ? seconds + ' s ago' : Math.round(seconds / 60) + ' min ago';
  }
  function bytes(value) {
    if (value === null || value === undefined) return '-';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var index = 0;
    while (value >= 1024 && index < units.length - 1) { value /= 1024; index += 1; }
    return value.toFixed(index === 0 ? 0 : 1) + ' ' + units[index];
  }
  function fillTable(id, rows) {
    var body = document.querySelector('#' + id + ' tbody');
    body.replaceChildren.apply(body, rows.length > 0 ? rows : [el('tr', {}, [el('td', { 'class': 'empty', colspan: '9' }, ['none'])])]);
  }
  function cell(content) { return el('td', {}, [content]); }

  function renderCluster(cluster) {
    var nowMs = cluster.collector.timeMs;
    document.getElementById('cluster-id').textContent = cluster.clusterId;
    document.getElementById('routing-meta').textContent = cluster.routing.version
      ? 'routing version ' + cluster.routing.version
      : 'no routing info' + (cluster.routing.error ? ': ' + cluster.routing.error : '');
    document.getElementById('updated').textContent = 'updated ' + new Date(nowMs).toLocaleTimeString();

    var alerts = document.getElementById('alerts');
    alerts.replaceChildren.apply(alerts, cluster.alerts.length > 0
      ? cluster.alerts.map(function (alert) {
          return el('li', { 'class': alert.severity, 'data-kind': alert.kind }, [alert.severity + ': ' + alert.message]);
        })
      : [el('li', { 'class': 'empty' }, ['no alerts'])]);

    fillTable('nodes', cluster.nodes.map(function (node) {
      var reporting = node.reporting;
      return el('tr', { 'data-node-id': String(node.nodeId) }, [
        cell(String(node.nodeId)), cell(node.type), cell(node.hostname || '-'), cell(node.address || '-'),
        cell(badge(node.status)), cell(ago(node.lastHeartbeatMs, nowMs)),
        cell(reporting ? ago(reporting.lastPushMs, nowMs) : 'not reporting'),
        cell(reporting ? bytes(reporting.residentBytes) : '-'),
        cell(reporting && reporting.eventLoopP99Ms !== null ? reporting.eventLoopP99Ms.toFixed(1) + ' ms' : '-')
      ]);
    }));
    fillTable('chains', cluster.chains.map(function (chain) {
      var members = el('span', {}, []);
      chain.targets.forEach(function (target) {
        members.appendChild(el('span', { 'class': 'state ' + stateClass(target.publicState) }, [target.targetId + ' ' + target.publicState]));
        members.appendChild(document.createTextNode(' '));
      });
      return el('tr', { 'data-chain-id': String(chain.chainId) }, [
        cell(String(chain.chainId)), cell(String(chain.chainVersion)),
        cell(el('span', { 'class': 'state ' + (chain.serving === chain.replicas ? 'good' : chain.serving > 0 ? 'warn' : 'bad') },
          [chain.serving + '/' + chain.replicas])),
        cell(members)
      ]);
    }));
    fillTable('targets', cluster.targets.map(function (target) {
      var ratio = target.capacityBytes > 0 ? target.usedBytes / target.capacityBytes : null;
      var disk = ratio === null ? document.createTextNode('-') : el('span', {}, [
        el('span', { 'class': 'bar' + (ratio > 0.9 ? ' full' : '') }, [el('span', { style: 'width:' + Math.min(100, ratio * 100).toFixed(0) + '%' }, [])]),
        ' ' + (ratio * 100).toFixed(1) + ' % of ' + bytes(target.capacityBytes)
      ]);
      return el('tr', { 'data-target-id': String(target.targetId) }, [
        cell(String(target.targetId)), cell(String(target.nodeId)), cell(target.chainId ? String(target.chainId) : '-'),
        cell(badge(target.publicState)), cell(badge(target.localState)), cell(disk)
      ]);
    }));
  }

  /** Index of the first bucket any line has a value in, so a young cluster's data fills the chart. */
  function firstData(lines) {
    var first = -1;
    lines.forEach(function (line) {
      var index = line.values.findIndex(function (value) { return value !== null; });
      if (index >= 0 && (first < 0 || index < first)) first = index;
    });
    return first;
  }

  function chartBox(container, chart) {
    var entry = charts[chart.id];
    if (entry) return entry;
    var note = el('div', { 'class': 'empty' }, ['no data yet']);
    var plotArea = el('div', {}, []);
    var box = el('div', { 'class': 'chart', id: 'chart-' + chart.id, 'data-points': '0' },
      [el('h3', {}, [chart.title + ' (' + chart.unit + ')']), note, plotArea]);
    container.appendChild(box);
    entry = charts[chart.id] = { box: box, note: note, plotArea: plotArea, plot: null, key: null, width: 0 };
    return entry;
  }

  function renderCharts(overview) {
    var container = document.getElementById('charts');
    // Every chart's box exists before any is drawn, so each plot takes its own column's width.
    var entries = overview.charts.map(function (chart) { return chartBox(container, chart); });
    overview.charts.forEach(function (chart, chartIndex) {
      var entry = entries[chartIndex];
      var lines = chart.lines.filter(function (line) {
        return line.values.some(function (value) { return value !== null; });
      });
      var points = lines.reduce(function (sum, line) {
        return sum + line.values.filter(function (value) { return value !== null; }).length;
      }, 0);
      entry.box.setAttribute('data-points', String(points));
      entry.note.style.display = lines.length > 0 ? 'none' : '';
      if (lines.length === 0) {
        if (entry.plot) { entry.plot.destroy(); entry.plot = null; entry.key = null; }
        return;
      }
      var start = Math.max(0, firstData(lines) - 1);
      var times = chart.times.slice(start).map(function (ms) { return ms / 1000; });
      var data = [times].concat(lines.map(function (line) { return line.values.slice(start); }));
      var key = lines.map(function (line) { return line.label; }).join('|');
      var width = Math.max(300, entry.box.clientWidth - 8);
      if (entry.plot && entry.key === key && entry.width === width) { entry.plot.setData(data); return; }
      if (entry.plot) entry.plot.destroy();
      entry.plot = new uPlot({
        width: width, height: 220,
        series: [{}].concat(lines.map(function (line, index) {
          return { label: line.label, stroke: colors[index % colors.length], width: 2, spanGaps: true };
        })),
        axes: [{}, { size: 60 }],
        scales: { x: { time: true } }
      }, data, entry.plotArea);
      entry.key = key;
      entry.width = width;
    });
  }

  function getJson(path) {
    return fetch(path, { cache: 'no-store' }).then(function (response) {
      if (!response.ok) throw new Error(path + ': ' + response.status);
      return response.json();
    });
  }
  function refresh() {
    Promise.all([getJson('/api/cluster'), getJson('/api/overview?window_ms=' + windowMs)])
      .then(function (results) {
        renderCluster(results[0]);
        renderCharts(results[1]);
        document.body.setAttribute('data-refreshed', String(Number(document.body.getAttribute('data-refreshed') || 0) + 1));
      })
      .catch(function (error) {
        document.getElementById('updated').textContent = 'refresh failed: ' + error.message;
      })
      .finally(function () { setTimeout(refresh, refreshMs); });
  }
  refresh();
})();
`;
