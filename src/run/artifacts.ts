/**
 * A run's artifacts, all in its run directory:
 *   summary.json          the RunRecord (what `report compare` reads)
 *   <Measurement>.json    ClusterLoader2's PerfData shape (version, dataItems
 *                         with data, unit, labels), readable by perfdash-style tools
 *   junit.xml             one test case per SLO, plus the runner's validity
 *   test.yaml             the test as run (written at the start)
 *   report.html           one self-contained page with plots
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeXml as xml } from '../core/escape.js';
import { renderReport } from './report.js';
import type { Quantiles, RunRecord } from './results.js';

export interface PerfData {
  version: 'v1';
  dataItems: { data: Record<string, number>; unit: string; labels: Record<string, string> }[];
}

const perc = (x: Quantiles): Record<string, number> => ({ Perc50: x.p50, Perc90: x.p90, Perc99: x.p99, Max: x.max, Count: x.count });

/** Every PerfData document of a run, by file name. */
export function perfData(r: RunRecord): Record<string, PerfData> {
  const s = r.sli;
  const doc = (items: PerfData['dataItems']): PerfData => ({ version: 'v1', dataItems: items.map((i) => ({ ...i, data: finite(i.data) })) });
  return {
    PodStartupLatency: doc([
      ...Object.entries(s.podStartup).map(([phase, v]) => ({ data: perc(v), unit: 'ms', labels: { Metric: phase } })),
      ...(s.byGroup ?? []).map((g) => ({ data: perc(g.podStartup), unit: 'ms', labels: { Metric: 'createdToRunningSeen', Group: g.group, Kind: g.kind } })),
    ]),
    DeliveryLatency: doc([
      { data: perc(s.delivery.cloudToEdge), unit: 'ms', labels: { Metric: 'cloud_to_edge' } },
      { data: perc(s.delivery.edgeToCloud), unit: 'ms', labels: { Metric: 'edge_to_cloud' } },
      { data: { Lost: s.delivery.lost, Duplicated: s.delivery.duplicated }, unit: 'messages', labels: { Metric: 'pod_delivery_errors' } },
    ]),
    APIResponsivenessPrometheus: doc(
      s.api.map((a) => ({
        data: { Perc50: a.p50, Perc90: a.p90, Perc99: a.p99 },
        unit: 'ms',
        labels: { Resource: a.resource, Verb: a.verb, Scope: a.scope, Count: String(a.count) },
      })),
    ),
    SchedulingThroughput: doc([
      {
        data: { Average: s.schedulingThroughput.podsPerSecondAvg, Max: s.schedulingThroughput.podsPerSecondMax },
        unit: 'pods/s',
        labels: { Metric: 'scheduling_throughput' },
      },
    ]),
    NodeJoinLatency: doc([
      { data: { ...perc(s.nodeJoin), AllReady: s.nodeJoin.allReadyMs }, unit: 'ms', labels: { Metric: 'node_join' } },
      { data: { Flaps: s.readyFlaps }, unit: 'count', labels: { Metric: 'ready_flaps' } },
      ...(s.byGroup ?? []).flatMap((g): { data: Record<string, number>; unit: string; labels: Record<string, string> }[] => [
        { data: { ...perc(g.nodeJoin), AllReady: g.nodeJoin.allReadyMs }, unit: 'ms', labels: { Metric: 'node_join', Group: g.group, Kind: g.kind } },
        { data: { Flaps: g.readyFlaps }, unit: 'count', labels: { Metric: 'ready_flaps', Group: g.group, Kind: g.kind } },
      ]),
    ]),
    ResourceUsageSummary: doc(
      Object.entries(s.resources).flatMap(([name, v]) => {
        // Where the figures came from: 'proc' or 'metrics' (and the gaps), when the record says.
        const src = (r.resourceSources ?? []).find((x) => x.name === name);
        const from: Record<string, string> = src ? { Source: src.how, SourceDetail: src.detail, MissingReadings: String(src.failures) } : {};
        return [
          { data: { Average: v.cpuCoresAvg, Max: v.cpuCoresMax }, unit: 'cores', labels: { Name: name, Resource: 'cpu', ...from } },
          { data: { Average: v.rssBytesAvg / 2 ** 20, Max: v.rssBytesMax / 2 ** 20 }, unit: 'MiB', labels: { Name: name, Resource: 'memory', ...from } },
        ];
      }),
    ),
    RunnerHealth: doc(
      s.runner
        ? [
            { data: { Perc99: s.runner.eventLoopLagP99Ms, Max: s.runner.eventLoopLagMaxMs }, unit: 'ms', labels: { Metric: 'event_loop_lag' } },
            {
              data: { Reconnects: s.runner.reconnects, MessagesIn: s.runner.messagesIn, MessagesOut: s.runner.messagesOut },
              unit: 'count',
              labels: { Metric: 'runner_traffic' },
            },
          ]
        : [],
    ),
    ...(r.footprint.length
      ? {
          Footprint: doc(
            r.footprint.flatMap((f) =>
              Object.keys(f.cpu).map((name) => ({
                data: { CpuMillicores: (f.cpu[name] ?? 0) * 1000, RssMiB: (f.rss[name] ?? 0) / 2 ** 20 },
                unit: 'mixed',
                labels: { Name: name, Pods: String(f.pods) },
              })),
            ),
          ),
        }
      : {}),
  };
}

function finite(d: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(d).filter(([, v]) => Number.isFinite(v)));
}

export function junit(r: RunRecord): string {
  const cases = r.slos.map((v) => {
    const body = v.ok
      ? v.noData
        ? '<skipped message="no data in this run"/>'
        : ''
      : `<failure message="${xml(`${v.value} ${v.unit} > ${v.threshold} ${v.unit}`)}">${xml(`${v.name}: measured ${v.value} ${v.unit}, SLO ${v.threshold} ${v.unit}`)}</failure>`;
    return `    <testcase classname="edgemark.slo" name="${xml(v.name)}">${body}</testcase>`;
  });
  const lag = r.sli.runner?.eventLoopLagP99Ms;
  cases.push(
    `    <testcase classname="edgemark.validity" name="runner event-loop lag p99 within bound">${
      r.invalid
        ? `<failure message="${xml(`runner lag p99 ${lag} ms > ${r.settings.spec.slo.runnerEventLoopLagP99Ms} ms: the run measured the tool, not the cluster`)}"/>`
        : ''
    }</testcase>`,
  );
  cases.push(
    `    <testcase classname="edgemark.run" name="run completed">${r.partial ? `<failure message="${xml(r.failure ?? 'interrupted: partial results')}"/>` : ''}</testcase>`,
  );
  const failures = r.slos.filter((v) => !v.ok).length + (r.invalid ? 1 : 0) + (r.partial ? 1 : 0);
  const skipped = r.slos.filter((v) => v.noData).length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="edgemark" tests="${cases.length}" failures="${failures}">`,
    `  <testsuite name="${xml(r.runId)}" tests="${cases.length}" failures="${failures}" skipped="${skipped}" time="${(r.durationMs / 1000).toFixed(1)}" timestamp="${r.startedAt}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

export function writeArtifacts(dir: string, r: RunRecord): { failedSlos: string[]; invalid: boolean } {
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(r, null, 2)}\n`);
  for (const [name, d] of Object.entries(perfData(r))) writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(d, null, 2)}\n`);
  writeFileSync(join(dir, 'junit.xml'), junit(r));
  writeFileSync(join(dir, 'report.html'), renderReport(r));
  return { failedSlos: r.slos.filter((v) => !v.ok).map((v) => v.name), invalid: r.invalid };
}
