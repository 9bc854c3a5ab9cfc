/**
 * The HTML report: one self-contained page (inline CSS and SVG, no script, no
 * network) with the SLO verdicts, latency percentiles, nodes Ready over time,
 * component CPU and RSS over time with where they were sampled from
 * (/proc or /metrics), and footprint steps; and the page of
 * `report compare`.
 */
import type { Comparison } from './compare.js';
import { escapeHtml as esc } from '../core/escape.js';
import type { RunRecord } from './results.js';

const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];

interface Series {
  name: string;
  /** A point without a y (a gap: no reading) breaks the line there. */
  points: [number, number | undefined][];
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * e) return m * e;
  return 10 * e;
}

function fmt(v: number): string {
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return Number(v.toPrecision(2)).toString();
}

/** The runs of consecutive points that have a y. */
function segments(points: [number, number | undefined][]): [number, number][][] {
  const out: [number, number][][] = [];
  let cur: [number, number][] = [];
  for (const [a, b] of points) {
    if (b === undefined) {
      if (cur.length) out.push(cur);
      cur = [];
    } else cur.push([a, b]);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** A line chart as inline SVG (class "chart", one <polyline> per series). */
/** A stretch of the x axis to shade behind the lines (a fault while it lasted). */
export interface Band {
  from: number;
  to: number;
  label: string;
}

export function lineChart(title: string, series: Series[], xLabel: string, yLabel: string, bands: Band[] = []): string {
  const W = 640;
  const H = 260;
  const m = { l: 60, r: 150, t: 28, b: 40 };
  const all = series.flatMap((s) => s.points.filter((p): p is [number, number] => p[1] !== undefined));
  const xMax = niceMax(Math.max(0, ...all.map((p) => p[0]), ...bands.map((b) => b.to)));
  const yMax = niceMax(Math.max(0, ...all.map((p) => p[1])));
  const x = (v: number) => m.l + (v / xMax) * (W - m.l - m.r);
  const y = (v: number) => H - m.b - (v / yMax) * (H - m.t - m.b);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const grid = ticks
    .map(
      (f) =>
        `<line x1="${m.l}" x2="${W - m.r}" y1="${y(f * yMax)}" y2="${y(f * yMax)}" class="grid"/><text x="${m.l - 6}" y="${y(f * yMax) + 4}" text-anchor="end">${fmt(f * yMax)}</text>`,
    )
    .join('');
  const xt = ticks.map((f) => `<text x="${x(f * xMax)}" y="${H - m.b + 16}" text-anchor="middle">${fmt(f * xMax)}</text>`).join('');
  const lines = series
    .map((s, i) => {
      const c = palette[i % palette.length];
      return (
        segments(s.points)
          .map(
            (seg) =>
              `<polyline fill="none" stroke="${c}" stroke-width="2" points="${seg.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')}"><title>${esc(s.name)}</title></polyline>`,
          )
          .join('') +
        `<rect x="${W - m.r + 10}" y="${m.t + i * 18}" width="10" height="10" fill="${c}"/><text x="${W - m.r + 26}" y="${m.t + i * 18 + 9}">${esc(s.name)}</text>`
      );
    })
    .join('');
  const empty = all.length === 0 ? `<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text>` : '';
  const shaded = bands
    .map(
      (b) =>
        `<rect x="${x(b.from).toFixed(1)}" y="${m.t}" width="${Math.max(1, x(b.to) - x(b.from)).toFixed(1)}" height="${H - m.t - m.b}" fill="#d62728" fill-opacity="0.12"><title>${esc(b.label)}</title></rect><text x="${(x(b.from) + 2).toFixed(1)}" y="${m.t + 10}" class="small">${esc(b.label)}</text>`,
    )
    .join('');
  return (
    `<figure><svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">` +
    `<text x="${m.l}" y="16" class="title">${esc(title)}</text>${shaded}${grid}${xt}` +
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" class="axis"/><line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" class="axis"/>` +
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>` +
    `<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>${lines}${empty}</svg></figure>`
  );
}

/** Grouped bars (p50, p90, p99 per group) as inline SVG. */
export function barChart(title: string, groups: { name: string; values: Record<string, number> }[], unit: string): string {
  const keys = [...new Set(groups.flatMap((g) => Object.keys(g.values)))];
  const W = 640;
  const H = 260;
  const m = { l: 60, r: 20, t: 28, b: 60 };
  const yMax = niceMax(Math.max(0, ...groups.flatMap((g) => Object.values(g.values).filter(Number.isFinite))));
  const gw = (W - m.l - m.r) / Math.max(1, groups.length);
  const bw = (gw * 0.8) / Math.max(1, keys.length);
  const y = (v: number) => H - m.b - (v / yMax) * (H - m.t - m.b);
  const bars = groups
    .map(
      (g, gi) =>
        keys
          .map((k, ki) => {
            const v = g.values[k];
            if (v === undefined || !Number.isFinite(v)) return '';
            const x0 = m.l + gi * gw + gw * 0.1 + ki * bw;
            return `<rect x="${x0.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(H - m.b - y(v)).toFixed(1)}" fill="${palette[ki % palette.length]}"><title>${esc(`${g.name} ${k}: ${fmt(v)} ${unit}`)}</title></rect>`;
          })
          .join('') + `<text x="${(m.l + gi * gw + gw / 2).toFixed(1)}" y="${H - m.b + 14}" text-anchor="middle" class="small">${esc(g.name)}</text>`,
    )
    .join('');
  const legend = keys
    .map(
      (k, i) =>
        `<rect x="${m.l + i * 70}" y="${H - 22}" width="10" height="10" fill="${palette[i % palette.length]}"/><text x="${m.l + i * 70 + 14}" y="${H - 13}">${esc(k)}</text>`,
    )
    .join('');
  const grid = [0, 0.5, 1]
    .map(
      (f) =>
        `<line x1="${m.l}" x2="${W - m.r}" y1="${y(f * yMax)}" y2="${y(f * yMax)}" class="grid"/><text x="${m.l - 6}" y="${y(f * yMax) + 4}" text-anchor="end">${fmt(f * yMax)}</text>`,
    )
    .join('');
  return `<figure><svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><text x="${m.l}" y="16" class="title">${esc(`${title} (${unit})`)}</text>${grid}${bars}${legend}</svg></figure>`;
}

const style = `body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.ok{color:#17803d;font-weight:600}.fail{color:#b3261e;font-weight:600}.warn{background:#fff4ce;padding:8px;border:1px solid #e0c060}
svg.chart text{font-size:11px;fill:#333}svg.chart .title{font-size:13px;font-weight:600}svg.chart .grid{stroke:#eee}svg.chart .axis{stroke:#999}
figure{margin:8px 0}.small{font-size:10px}`;

function page(title: string, body: string): string {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${style}</style></head><body>${body}</body></html>\n`;
}

const shortPhase: Record<string, string> = {
  createdToScheduled: 'scheduled',
  scheduledToReported: 'node reported',
  createdToRunningAtNode: 'running (node)',
  createdToRunningSeen: 'running (watch)',
};

const ms = (v: number) => (Number.isFinite(v) ? `${fmt(v)} ms` : '–');
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

export function renderReport(r: RunRecord): string {
  const s = r.sli;
  const banner = [
    r.partial ? `<p class="warn">Partial run: ${esc(r.failure ?? 'interrupted')}. The figures cover what was measured until then.</p>` : '',
    r.invalid
      ? `<p class="warn">Invalid run: the runner's event-loop lag p99 (${s.runner?.eventLoopLagP99Ms} ms) passed its bound (${r.settings.spec.slo.runnerEventLoopLagP99Ms} ms); latencies describe the tool, not the cluster.</p>`
      : '',
  ].join('');
  const slos = `<table><tr><th>SLO</th><th>measured</th><th>bound</th><th>verdict</th></tr>${r.slos
    .map(
      (v) =>
        `<tr><td>${esc(v.name)}</td><td>${v.noData ? 'no data' : `${fmt(v.value)} ${v.unit}`}</td><td>${fmt(v.threshold)} ${v.unit}</td><td class="${v.ok ? 'ok' : 'fail'}">${v.noData ? 'n/a' : v.ok ? 'pass' : 'FAIL'}</td></tr>`,
    )
    .join('')}</table>`;
  const startupRows = Object.entries(s.podStartup)
    .map(([k, v]) => `<tr><td>${k}</td><td>${v.count}</td><td>${ms(v.p50)}</td><td>${ms(v.p90)}</td><td>${ms(v.p99)}</td><td>${ms(v.max)}</td></tr>`)
    .join('');
  const startup = `<table><tr><th>pod startup phase</th><th>pods</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>${startupRows}
<tr><td>cloud to edge (scheduled to admitted at the node)</td><td>${s.delivery.cloudToEdge.count}</td><td>${ms(s.delivery.cloudToEdge.p50)}</td><td>${ms(s.delivery.cloudToEdge.p90)}</td><td>${ms(s.delivery.cloudToEdge.p99)}</td><td>${ms(s.delivery.cloudToEdge.max)}</td></tr>
<tr><td>edge to cloud (Running sent to seen by a watch)</td><td>${s.delivery.edgeToCloud.count}</td><td>${ms(s.delivery.edgeToCloud.p50)}</td><td>${ms(s.delivery.edgeToCloud.p90)}</td><td>${ms(s.delivery.edgeToCloud.p99)}</td><td>${ms(s.delivery.edgeToCloud.max)}</td></tr></table>
<p>Lost pod deliveries: ${s.delivery.lost}; duplicated: ${s.delivery.duplicated}. Scheduling throughput: ${s.schedulingThroughput.podsPerSecondAvg} pods/s on average, ${s.schedulingThroughput.podsPerSecondMax} at most. Node join (nodes up phase start to Ready): p50 ${ms(s.nodeJoin.p50)}, p99 ${ms(s.nodeJoin.p99)}; all Ready ${ms(s.nodeJoin.allReadyMs)} after the start; Ready flaps: ${s.readyFlaps}.</p>`;
  const groups = s.byGroup?.length
    ? `<h3>By node group</h3><table><tr><th>group</th><th>kind</th><th>nodes</th><th>join p50</th><th>join p99</th><th>all Ready</th><th>Ready flaps</th><th>pods</th><th>pod startup p50</th><th>p99</th></tr>${s.byGroup
        .map(
          (g) =>
            `<tr><td>${esc(g.group)}</td><td>${esc(g.kind)}</td><td>${g.nodes}</td><td>${ms(g.nodeJoin.p50)}</td><td>${ms(g.nodeJoin.p99)}</td><td>${ms(g.nodeJoin.allReadyMs)}</td><td>${g.readyFlaps}</td><td>${g.podStartup.count}</td><td>${ms(g.podStartup.p50)}</td><td>${ms(g.podStartup.p99)}</td></tr>`,
        )
        .join('')}</table>`
    : '';
  const startupChart = barChart(
    'Pod startup latency by phase',
    [
      ...Object.entries(s.podStartup).map(([k, v]) => ({ name: shortPhase[k] ?? k, values: { p50: v.p50, p90: v.p90, p99: v.p99 } })),
      { name: 'cloud→edge', values: { p50: s.delivery.cloudToEdge.p50, p90: s.delivery.cloudToEdge.p90, p99: s.delivery.cloudToEdge.p99 } },
      { name: 'edge→cloud', values: { p50: s.delivery.edgeToCloud.p50, p90: s.delivery.edgeToCloud.p90, p99: s.delivery.edgeToCloud.p99 } },
    ],
    'ms',
  );
  const names = Object.keys(s.resources);
  // Each fault's stretch, shaded on the charts over time.
  const bands: Band[] = (r.faults ?? [])
    .filter((f) => f.startMs !== undefined)
    .map((f) => ({ from: f.startMs! / 1000, to: (f.endMs ?? f.startMs!) / 1000, label: f.name }));
  const at = (v: number | undefined, scale: number) => (v === undefined ? undefined : v * scale);
  const cpuChart = lineChart(
    'CPU by component',
    names.map((n) => ({ name: n, points: r.series.resources.map((p) => [p.t / 1000, at(p.cpu[n], 1000)] as [number, number | undefined]) })),
    'seconds since start',
    'millicores',
    bands,
  );
  const rssChart = lineChart(
    'RSS by component',
    names.map((n) => ({ name: n, points: r.series.resources.map((p) => [p.t / 1000, at(p.rss[n], 2 ** -20)] as [number, number | undefined]) })),
    'seconds since start',
    'MiB',
    bands,
  );
  const nodesChart = lineChart(
    'Nodes Ready over time',
    [
      { name: 'Ready (first time)', points: [[0, 0], ...r.series.nodesReady.map(([t, n]) => [t / 1000, n] as [number, number])] },
      ...(r.series.nodesReadyNow?.length
        ? [{ name: 'Ready now', points: [[0, 0], ...r.series.nodesReadyNow.map(([t, n]) => [t / 1000, n] as [number, number])] as [number, number][] }]
        : []),
    ],
    'seconds since start',
    'nodes',
    bands,
  );
  const footprint = r.footprint.length
    ? `<h2>Footprint</h2>${lineChart(
        'CPU at each step',
        names.map((n) => ({ name: n, points: r.footprint.map((f) => [f.pods, at(f.cpu[n], 1000)] as [number, number | undefined]) })),
        'pods on the edge',
        'millicores',
      )}${lineChart(
        'RSS at each step',
        names.map((n) => ({ name: n, points: r.footprint.map((f) => [f.pods, at(f.rss[n], 2 ** -20)] as [number, number | undefined]) })),
        'pods on the edge',
        'MiB',
      )}`
    : '';
  const api = `<table><tr><th>verb</th><th>resource</th><th>scope</th><th>calls</th><th>p50</th><th>p90</th><th>p99</th></tr>${s.api
    .slice(0, 40)
    .map(
      (a) =>
        `<tr><td>${esc(a.verb)}</td><td>${esc(a.resource)}</td><td>${esc(a.scope)}</td><td>${a.count}</td><td>${ms(a.p50)}</td><td>${ms(a.p90)}</td><td>${ms(a.p99)}</td></tr>`,
    )
    .join('')}</table>`;
  const res = `<table><tr><th>component</th><th>CPU avg</th><th>CPU max</th><th>RSS avg</th><th>RSS max</th></tr>${names
    .map((n) => {
      const v = s.resources[n]!;
      return `<tr><td>${esc(n)}</td><td>${(v.cpuCoresAvg * 1000).toFixed(0)} m</td><td>${(v.cpuCoresMax * 1000).toFixed(0)} m</td><td>${mib(v.rssBytesAvg)}</td><td>${mib(v.rssBytesMax)}</td></tr>`;
    })
    .join('')}</table>`;
  const sources = resourceSourcesHtml(r);
  const t = s.traffic;
  const traffic = t
    ? `<h2>Traffic per edge node</h2><p>Over the whole run (${t.seconds.toFixed(0)} s, ${t.nodes} edge nodes): <b>${(t.inBytesPerNodePerSec / 1000).toFixed(3)} KB/s in</b> (cloud to edge) and <b>${(t.outBytesPerNodePerSec / 1000).toFixed(3)} KB/s out</b> per node, frame bytes (the messages' JSON, without websocket, TLS and TCP overhead). For scale: kubeedge#6179 measured 1.42 KB/s in and 0.28 KB/s out for one real edge node with 5 pods.</p><table><tr><th>direction, operation, resource</th><th>messages per node per minute</th><th>bytes per node per second</th></tr>${t.rows
        .slice(0, 30)
        .map((x) => `<tr><td>${esc(x.key)}</td><td>${x.messagesPerNodePerMin}</td><td>${x.bytesPerNodePerSec}</td></tr>`)
        .join('')}</table>`
    : '';
  const sec = (v: number | undefined) => (v === undefined ? '–' : `${(v / 1000).toFixed(1)} s`);
  const faults = r.faults?.length
    ? `<h2>Faults</h2><table><tr><th>fault</th><th>what</th><th>from</th><th>to</th><th>nodes</th><th>reached</th><th>went NotReady</th><th>Ready again: 99 %</th><th>all</th><th>not recovered</th><th>other nodes' flaps</th><th>reconnected (runner): 99 %</th><th>all</th></tr>${r.faults
        .map(
          (f) =>
            `<tr><td>${esc(f.name)}</td><td>${esc(f.description)}${f.error ? ` (${esc(f.error)})` : ''}</td><td>${sec(f.startMs)}</td><td>${sec(f.endMs)}</td><td>${f.nodes.length}</td><td>${f.affected ?? '–'}</td><td>${f.wentNotReady}</td><td>${sec(f.readyAgainP99Ms)}</td><td>${sec(f.readyAgainAllMs)}</td><td>${f.notRecovered}</td><td>${f.othersFlaps}</td><td>${f.reconnect ? sec(f.reconnect.p99Ms) : ''}</td><td>${f.reconnect ? `${sec(f.reconnect.allMs)} (${f.reconnect.back}/${f.reconnect.nodes})` : ''}</td></tr>`,
        )
        .join('')}</table><p>Times from the run's start; Ready again counts from each fault's end, as kube-apiserver showed the nodes' Ready condition.</p>`
    : '';
  const phases = `<table><tr><th>phase</th><th>start</th><th>end</th></tr>${r.phases.map((p) => `<tr><td>${esc(p.description)}</td><td>${(p.startMs / 1000).toFixed(1)} s</td><td>${(p.endMs / 1000).toFixed(1)} s</td></tr>`).join('')}</table>`;
  const versions = Object.entries(r.versions)
    .map(([k, v]) => `${esc(k)} ${esc(v)}`)
    .join(', ');
  const runner = s.runner
    ? `<p>Runner: event-loop lag p99 ${s.runner.eventLoopLagP99Ms} ms (max ${s.runner.eventLoopLagMaxMs} ms), reconnects ${s.runner.reconnects}, messages in ${s.runner.messagesIn}, out ${s.runner.messagesOut}.</p>`
    : '';
  return page(
    `Edgemark ${r.runId}`,
    `<h1>Edgemark run ${esc(r.runId)}</h1><p>Test <b>${esc(r.testName)}</b> (${esc(r.configSource)}), started ${esc(r.startedAt)}, ${(r.durationMs / 1000).toFixed(0)} s. Versions: ${versions}.</p>${banner}
<h2>SLOs</h2>${slos}<h2>Pod startup</h2>${startupChart}${startup}<h2>Nodes</h2>${nodesChart}${groups}${runner}${faults}${traffic}
<h2>Resources</h2>${sources}${cpuChart}${rssChart}${res}${footprint}<h2>API call latency (kube-apiserver, test window)</h2>${api}<h2>Phases</h2>${phases}`,
  );
}

/** "Resources sampled from": one row per component, /proc (pids) or metrics (URL), with its gaps. */
export function resourceSourcesHtml(r: RunRecord): string {
  const list = r.resourceSources ?? [];
  if (list.length === 0) return '<p class="sources">Resources sampled from: not recorded.</p>';
  const how = (h: string) => (h === 'proc' ? '/proc' : 'metrics');
  const rows = list
    .map(
      (s) =>
        `<tr><td>${esc(s.name)}</td><td>${how(s.how)}</td><td>${esc(s.detail)}</td><td>${s.failures ? `${s.failures} of ${s.samples}` : `0 of ${s.samples}`}</td></tr>`,
    )
    .join('');
  const kinds = [...new Set(list.map((s) => how(s.how)))].join(' and ');
  return (
    `<p class="sources">Resources sampled from: ${kinds}. A missing reading is a gap in the lines below, not a zero.</p>` +
    `<table class="sources"><tr><th>component</th><th>sampled from</th><th>pids or URL</th><th>readings missing</th></tr>${rows}</table>`
  );
}

export function renderCompare(c: Comparison): string {
  const rows = c.rows
    .map(
      (d) =>
        `<tr><td>${esc(d.metric)}</td><td>${fmt(d.a)}</td><td>${fmt(d.b)}</td><td>${Number.isFinite(d.change) ? `${d.change > 0 ? '+' : ''}${(d.change * 100).toFixed(1)} %` : '–'}</td><td class="${d.regression ? 'fail' : 'ok'}">${d.regression ? 'REGRESSION' : d.improvement ? 'better' : ''}</td></tr>`,
    )
    .join('');
  const chart = barChart(
    'Pod startup and API p99, A against B',
    c.rows
      .filter((d) => d.unit === 'ms')
      .slice(0, 10)
      .map((d) => ({ name: d.metric.slice(0, 18), values: { A: d.a, B: d.b } })),
    'ms',
  );
  return page(
    `Edgemark compare ${c.a} vs ${c.b}`,
    `<h1>Compare ${esc(c.a)} (A) with ${esc(c.b)} (B)</h1><p>A change worse than ${(c.threshold * 100).toFixed(0)} % is flagged as a regression. ${c.regressions} regression(s).</p>${(c.notes ?? []).map((n) => `<p class="warn">${esc(n)}</p>`).join('')}${chart}<table><tr><th>metric</th><th>A</th><th>B</th><th>change</th><th></th></tr>${rows}</table>`,
  );
}
