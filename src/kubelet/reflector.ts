/**
 * A reflector, as client-go's: LIST (resourceVersion=0, served from the
 * apiserver's watch cache), then WATCH from the list's resourceVersion with a
 * timeout drawn from [5 min, 10 min), bookmarks on. A watch the server ends
 * (its timeout) is reopened at once from the last resourceVersion; one that
 * failed is reopened after a backoff; "410 Gone" (too old a resourceVersion)
 * lists again. It keeps no copy of the objects: a hollow node needs what
 * changed, not a cache (the real kubelet's informers keep one per node).
 */
import type { Scheduler, TimerTarget } from '../core/scheduler.js';
import type { ApiConnection, WatchHandle } from './api.js';

export interface ReflectorTimings {
  /** Watch timeout: drawn from [min, min + spread). */
  watchTimeoutMinS: number;
  watchTimeoutSpreadS: number;
  /** Backoff after a failed list or watch: initial, doubling, capped. */
  watchRetryInitialMs: number;
  watchRetryMaxMs: number;
}

export interface ReflectorHost {
  conn: ApiConnection;
  scheduler: Scheduler;
  random: () => number;
  timings: ReflectorTimings;
}

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export interface ReflectorHandlers {
  /** The list's items (on every list, the first and any after a 410). */
  onList(items: KubeObject[]): void;
  onEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject): void;
  /** The server ended a watch (its timeout) and the reflector opens the next. */
  onRewatch?(): void;
  /** A list or watch failed with this HTTP status (0: no answer); the reflector retries by itself. */
  onFailure?(status: number, error: string | undefined): void;
}

const enum Step {
  list = 0,
  watch = 1,
}

export class Reflector implements TimerTarget {
  resourceVersion = '';
  synced = false;
  private handle: WatchHandle | undefined;
  private failures = 0;
  private token = 0;
  private stopped = true;

  /** `path` without a query; `query` its selectors (`fieldSelector=...`), URL-encoded, possibly empty. */
  constructor(
    private readonly host: ReflectorHost,
    readonly path: string,
    readonly query: string,
    private readonly h: ReflectorHandlers,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.list();
  }

  stop(): void {
    this.stopped = true;
    this.token++;
    this.handle?.close();
    this.handle = undefined;
  }

  private q(extra: string): string {
    return `${this.path}?${this.query ? `${this.query}&` : ''}${extra}`;
  }

  private async list(): Promise<void> {
    const r = await this.host.conn.request('GET', this.q('limit=500&resourceVersion=0'));
    if (this.stopped) return;
    if (r.status !== 200) return this.failed(Step.list, r.status, r.error ?? r.body.slice(0, 200));
    let list: { metadata?: { resourceVersion?: string }; items?: KubeObject[] };
    try {
      list = JSON.parse(r.body) as typeof list;
    } catch {
      return this.failed(Step.list, r.status, 'the list is not JSON');
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.synced = true;
    this.failures = 0;
    this.h.onList(list.items ?? []);
    if (!this.stopped) this.watch();
  }

  private watch(): void {
    const t = this.host.timings;
    const timeout = t.watchTimeoutMinS + Math.floor(this.host.random() * t.watchTimeoutSpreadS);
    let gone = false;
    this.handle = this.host.conn.watch(
      this.q(`allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(this.resourceVersion)}&timeoutSeconds=${timeout}&watch=true`),
      {
        onEvent: (type, object) => {
          const o = object as KubeObject & { code?: number };
          if (type === 'ERROR') {
            if (o.code === 410) gone = true;
            return;
          }
          const rv = o.metadata?.resourceVersion;
          if (rv) this.resourceVersion = rv;
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.h.onEvent(type, o);
        },
        onEnd: (status, error) => {
          this.handle = undefined;
          if (this.stopped) return;
          if (gone || status === 410) return void this.list();
          if (status === 200) {
            this.failures = 0;
            this.h.onRewatch?.();
            if (this.stopped) return;
            return this.watch();
          }
          this.failed(Step.watch, status, error);
        },
      },
    );
  }

  private failed(step: Step, status: number, error: string | undefined): void {
    this.h.onFailure?.(status, error);
    const t = this.host.timings;
    const delay = Math.min(t.watchRetryMaxMs, t.watchRetryInitialMs * 2 ** this.failures++);
    this.host.scheduler.after(delay * (0.5 + this.host.random()), this, step, ++this.token);
  }

  onTimer(kind: number, token: number): void {
    if (this.stopped || token !== this.token) return;
    if (kind === Step.list || !this.resourceVersion) void this.list();
    else this.watch();
  }
}
