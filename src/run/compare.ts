/**
 * `edgemark report compare <runA> <runB>`: the same figures of two runs side
 * by side; a figure that got worse by more than the threshold is a regression.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgemarkError } from '../core/errors.js';
import type { RunRecord } from './results.js';

export interface CompareRow {
  metric: string;
  unit: string;
  a: number;
  b: number;
  /** (b − a) / a */
  change: number;
  regression: boolean;
  improvement: boolean;
}

export interface Comparison {
  a: string;
  b: string;
  threshold: number;
  rows: CompareRow[];
  regressions: number;
  /** Components whose resources the two runs sampled differently (/proc in one, metrics in the other). */
  notes: string[];
}

export function loadRun(dir: string): RunRecord {
  const file = join(dir, 'summary.json');
  if (!existsSync(file)) {
    throw new EdgemarkError(
      'EM_NO_RUN',
      `[report] ${dir} holds no run (no summary.json)`,
      'pass a run directory printed by `edgemark run` (under ./edgemark-runs by default)',
    );
  }
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
    // Records written before resources named their sources.
    r.resourceSources ??= [];
    return r;
  } catch (err) {
    throw new EdgemarkError('EM_NO_RUN', `[report] ${file} is not a run summary: ${(err as Error).message}`, 'pass a run directory written by `edgemark run`');
  }
}

/** The figures compared, each with the direction that is worse. */
function figures(r: RunRecord): { metric: string; unit: string; value: number; higherIsWorse: boolean }[] {
  const s = r.sli;
  const out: { metric: string; unit: string; value: number; higherIsWorse: boolean }[] = [];
  for (const [k, v] of Object.entries(s.podStartup)) {
    out.push({ metric: `pod startup ${k} p50`, unit: 'ms', value: v.p50, higherIsWorse: true });
    out.push({ metric: `pod startup ${k} p99`, unit: 'ms', value: v.p99, higherIsWorse: true });
  }
  out.push({ metric: 'cloud to edge p99', unit: 'ms', value: s.delivery.cloudToEdge.p99, higherIsWorse: true });
  out.push({ metric: 'edge to cloud p99', unit: 'ms', value: s.delivery.edgeToCloud.p99, higherIsWorse: true });
  out.push({ metric: 'node join p99', unit: 'ms', value: s.nodeJoin.p99, higherIsWorse: true });
  for (const g of s.byGroup ?? []) {
    out.push({ metric: `node join p99 (${g.group})`, unit: 'ms', value: g.nodeJoin.p99, higherIsWorse: true });
    out.push({ metric: `pod startup p99 (${g.group})`, unit: 'ms', value: g.podStartup.p99, higherIsWorse: true });
  }
  out.push({ metric: 'scheduling throughput avg', unit: 'pods/s', value: s.schedulingThroughput.podsPerSecondAvg, higherIsWorse: false });
  for (const a of s.api.filter((x) => x.count >= 20))
    out.push({ metric: `API ${a.verb} ${a.resource} ${a.scope} p99`, unit: 'ms', value: a.p99, higherIsWorse: true });
  for (const [n, v] of Object.entries(s.resources)) {
    out.push({ metric: `${n} CPU avg`, unit: 'cores', value: v.cpuCoresAvg, higherIsWorse: true });
    out.push({ metric: `${n} RSS max`, unit: 'MiB', value: v.rssBytesMax / 2 ** 20, higherIsWorse: true });
  }
  if (s.runner) out.push({ metric: 'runner event-loop lag p99', unit: 'ms', value: s.runner.eventLoopLagP99Ms, higherIsWorse: true });
  return out;
}

/**
 * Small absolute changes are noise, whatever their ratio: a latency must move
 * by 50 ms or more, CPU by 20 millicores, memory by 5 MiB to be flagged.
 */
const noiseFloor: Record<string, number> = { ms: 50, cores: 0.02, MiB: 5, 'pods/s': 1 };

export function compareRuns(a: RunRecord, b: RunRecord, threshold = 0.1): Comparison {
  const fb = new Map(figures(b).map((f) => [f.metric, f]));
  const rows: CompareRow[] = [];
  for (const fa of figures(a)) {
    const f = fb.get(fa.metric);
    if (!f || !Number.isFinite(fa.value) || !Number.isFinite(f.value)) continue;
    const change = fa.value === 0 ? (f.value === 0 ? 0 : Infinity) : (f.value - fa.value) / Math.abs(fa.value);
    const worse = fa.higherIsWorse ? f.value - fa.value : fa.value - f.value;
    const big = Math.abs(f.value - fa.value) >= (noiseFloor[fa.unit] ?? 0);
    rows.push({
      metric: fa.metric,
      unit: fa.unit,
      a: fa.value,
      b: f.value,
      change,
      regression: big && worse > 0 && Math.abs(change) > threshold,
      improvement: big && worse < 0 && Math.abs(change) > threshold,
    });
  }
  rows.sort((x, y) => Number(y.regression) - Number(x.regression));
  return { a: a.runId, b: b.runId, threshold, rows, regressions: rows.filter((r) => r.regression).length, notes: sourceNotes(a, b) };
}

function sourceNotes(a: RunRecord, b: RunRecord): string[] {
  const how = (r: RunRecord) => new Map((r.resourceSources ?? []).map((s) => [s.name, s.how]));
  const ha = how(a);
  const hb = how(b);
  const out: string[] = [];
  for (const [name, x] of ha) {
    const y = hb.get(name);
    if (y && y !== x) out.push(`${name}: resources sampled from ${x} in A, ${y} in B`);
  }
  return out;
}

export function formatComparison(c: Comparison): string {
  const w = Math.max(20, ...c.rows.map((r) => r.metric.length));
  const lines = [`${'metric'.padEnd(w)}  ${'A'.padStart(10)}  ${'B'.padStart(10)}  ${'change'.padStart(9)}`];
  for (const r of c.rows) {
    const ch = Number.isFinite(r.change) ? `${r.change > 0 ? '+' : ''}${(r.change * 100).toFixed(1)}%` : 'new';
    lines.push(
      `${r.metric.padEnd(w)}  ${num(r.a).padStart(10)}  ${num(r.b).padStart(10)}  ${ch.padStart(9)}${r.regression ? '  REGRESSION' : r.improvement ? '  better' : ''}`,
    );
  }
  for (const n of c.notes) lines.push(`note: ${n}`);
  lines.push(`${c.regressions} regression(s) of more than ${(c.threshold * 100).toFixed(0)} % (A = ${c.a}, B = ${c.b})`);
  return lines.join('\n');
}

function num(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
}
