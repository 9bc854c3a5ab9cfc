/**
 * The runner observes itself: a Prometheus registry (prom-client) over a
 * fleet's counters, and the loopback HTTP server that serves it at /metrics.
 * Values are read from the fleet when scraped, so nothing is counted twice;
 * only the ACK-latency histogram is observed as ACKs go out. Names and labels
 * are kind-neutral: node states are those of the kinds in the run, and each
 * kind's own figures go in edgemark_kind_figures.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { EdgemarkError } from '../core/errors.js';
import { listen as listenOn } from '../core/http.js';
import type { Fleet } from './fleet.js';

export function fleetRegistry(fleet: Fleet, labels: Record<string, string> = {}): Registry {
  const register = new Registry();
  register.setDefaultLabels(labels);
  // RSS, heap, CPU, GC and event-loop lag of this process.
  collectDefaultMetrics({ register, eventLoopMonitoringPrecision: 10 });
  new Gauge({
    name: 'edgemark_nodes',
    help: 'Hollow nodes of this runner by state (the states of their kinds)',
    labelNames: ['state'],
    registers: [register],
    collect() {
      const c = fleet.counts();
      for (const [s, n] of Object.entries(c)) this.set({ state: s }, n);
    },
  });
  new Gauge({
    name: 'edgemark_kind_figures',
    help: "Each node kind's own figures (certificate requests, store transactions, ...)",
    labelNames: ['kind', 'figure'],
    registers: [register],
    collect() {
      for (const [kind, k] of fleet.kinds) for (const [figure, v] of Object.entries(k.extras())) this.set({ kind, figure }, v);
    },
  });
  new Gauge({
    name: 'edgemark_nodes_joined',
    help: 'Nodes that were Ready at least once',
    registers: [register],
    collect() {
      this.set(fleet.joinedCount());
    },
  });
  /** A counter by route (`<direction> <operation> <resource>` keys of the fleet's maps). */
  const byRoute = (name: string, help: string, map: Map<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: ['direction', 'operation', 'resource'],
      registers: [register],
      collect() {
        this.reset();
        for (const [key, n] of map) {
          const [direction = '', operation = '', resource = ''] = key.split(' ');
          this.inc({ direction, operation, resource }, n);
        }
      },
    });
  byRoute('edgemark_messages_total', 'Messages by direction, operation and resource type', fleet.byRoute);
  byRoute(
    'edgemark_message_bytes_total',
    'Frame bytes of the messages, by direction, operation and resource type (kinds that know them: edge)',
    fleet.bytesByRoute,
  );
  new Counter({
    name: 'edgemark_reconnects_total',
    help: 'Reconnects after a first connection',
    registers: [register],
    collect() {
      this.reset();
      this.inc(fleet.reconnects);
    },
  });
  new Counter({
    name: 'edgemark_errors_total',
    help: 'Errors by kind (bootstrap, connect, register-timeout, pod-message, ...)',
    labelNames: ['kind'],
    registers: [register],
    collect() {
      this.reset();
      for (const [kind, n] of fleet.errors) this.inc({ kind }, n);
    },
  });
  new Gauge({
    name: 'edgemark_pods',
    help: 'Pods on this runner: running now, admitted and rejected so far',
    labelNames: ['state'],
    registers: [register],
    collect() {
      const p = fleet.podCounts();
      this.set({ state: 'running' }, p.running);
      this.set({ state: 'admitted' }, p.admitted);
      this.set({ state: 'rejected' }, p.rejected);
    },
  });
  new Gauge({
    name: 'edgemark_event_loop_lag_seconds',
    help: 'Event-loop lag of the runner since it started, beyond the 10 ms sampling period (quantile 0.5, 0.99, 1)',
    labelNames: ['quantile'],
    registers: [register],
    aggregator: 'max',
    collect() {
      const l = fleet.summaryLag();
      this.set({ quantile: '0.5' }, l.p50 / 1000);
      this.set({ quantile: '0.99' }, l.p99 / 1000);
      this.set({ quantile: '1' }, l.max / 1000);
    },
  });
  const ack = new Histogram({
    name: 'edgemark_ack_latency_seconds',
    help: 'From a push arriving to its ACK being sent (after the store commit)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [register],
  });
  fleet.onAck = (ms) => ack.observe(ms / 1000);
  return register;
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** Serves `text()` at http://<host>:<port>/metrics; loopback addresses only. */
export async function serveMetrics(listen: { host: string; port: number }, text: () => Promise<string>, contentType: string): Promise<MetricsServer> {
  if (!/^127\.|^::1$|^localhost$/.test(listen.host)) {
    throw new EdgemarkError(
      'EM_BAD_ADDRESS',
      `[metrics] ${listen.host} is not a loopback address`,
      'serve metrics on 127.0.0.1 (e.g. --metrics 127.0.0.1:9200)',
    );
  }
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics' && req.url !== '/metrics/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('see /metrics\n');
      return;
    }
    text().then(
      (body) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
    );
  });
  await listenOn(server, listen.host, listen.port, 'metrics', 'pass another --metrics host:port, or port 0 for a free one');
  const a = server.address() as AddressInfo;
  return {
    url: `http://${listen.host}:${a.port}/metrics`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
