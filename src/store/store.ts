/**
 * The runner's store: one SQLite database for every node of a kind in the process (not
 * one per node), as edgecore keeps one per node. Writes are queued and
 * committed together in one transaction; messages that must follow a write (the
 * ACK of a stored push) are sent only after their transaction committed, so a
 * killed runner never ACKs what it did not keep.
 */
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Scheduler, TimerTarget } from '../core/scheduler.js';

export interface StoredNode {
  uid?: string;
  lease?: string;
  objects: { resource: string; rv: string; content: string }[];
  podStates: Map<string, string>;
}

type Write =
  | { op: 'put-object'; node: string; resource: string; rv: string; content: string }
  | { op: 'delete-object'; node: string; resource: string }
  | { op: 'put-node'; node: string; uid: string; lease: string | null }
  | { op: 'put-pod'; node: string; uid: string; state: string }
  | { op: 'delete-pod'; node: string; uid: string };

export const FLUSH_DELAY_MS = 50;

export class NodeStore implements TimerTarget {
  private readonly db: Database.Database;
  private queue: Write[] = [];
  private after: (() => void)[] = [];
  private flushArmed = false;
  private readonly stmts;
  transactions = 0;
  writes = 0;

  constructor(
    path: string,
    private readonly scheduler?: Scheduler,
  ) {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // Created 0600 up front: SQLite gives its -wal and -shm files the same mode.
      if (!existsSync(path)) writeFileSync(path, '', { mode: 0o600 });
    }
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    // It holds the Secrets pushed to the nodes: owner-only, like a key file.
    if (path !== ':memory:') {
      for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    }
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (node TEXT NOT NULL, resource TEXT NOT NULL, rv TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (node, resource)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS nodes (node TEXT PRIMARY KEY, uid TEXT NOT NULL, lease TEXT) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS pod_state (node TEXT NOT NULL, uid TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (node, uid)) WITHOUT ROWID;
    `);
    this.stmts = {
      putObject: this.db.prepare(
        'INSERT INTO meta (node, resource, rv, content) VALUES (?, ?, ?, ?) ON CONFLICT (node, resource) DO UPDATE SET rv = excluded.rv, content = excluded.content',
      ),
      deleteObject: this.db.prepare('DELETE FROM meta WHERE node = ? AND resource = ?'),
      putNode: this.db.prepare(
        'INSERT INTO nodes (node, uid, lease) VALUES (?, ?, ?) ON CONFLICT (node) DO UPDATE SET uid = excluded.uid, lease = excluded.lease',
      ),
      putPod: this.db.prepare('INSERT INTO pod_state (node, uid, state) VALUES (?, ?, ?) ON CONFLICT (node, uid) DO UPDATE SET state = excluded.state'),
      deletePod: this.db.prepare('DELETE FROM pod_state WHERE node = ? AND uid = ?'),
      objects: this.db.prepare('SELECT resource, rv, content FROM meta WHERE node = ?'),
      node: this.db.prepare('SELECT uid, lease FROM nodes WHERE node = ?'),
      pods: this.db.prepare('SELECT uid, state FROM pod_state WHERE node = ?'),
    };
  }

  /** What a node kept from an earlier run. */
  load(node: string): StoredNode {
    const n = this.stmts.node.get(node) as { uid: string; lease: string | null } | undefined;
    return {
      ...(n ? { uid: n.uid, ...(n.lease ? { lease: n.lease } : {}) } : {}),
      objects: this.stmts.objects.all(node) as StoredNode['objects'],
      podStates: new Map((this.stmts.pods.all(node) as { uid: string; state: string }[]).map((r) => [r.uid, r.state])),
    };
  }

  putObject(node: string, resource: string, rv: string, content: unknown): void {
    this.enqueue({ op: 'put-object', node, resource, rv, content: JSON.stringify(content) });
  }

  deleteObject(node: string, resource: string): void {
    this.enqueue({ op: 'delete-object', node, resource });
  }

  putNode(node: string, uid: string, lease: string | null): void {
    this.enqueue({ op: 'put-node', node, uid, lease });
  }

  putPodState(node: string, uid: string, state: string): void {
    this.enqueue({ op: 'put-pod', node, uid, state });
  }

  deletePodState(node: string, uid: string): void {
    this.enqueue({ op: 'delete-pod', node, uid });
  }

  /** Runs `fn` once everything queued so far is committed. */
  afterCommit(fn: () => void): void {
    if (this.queue.length === 0) fn();
    else this.after.push(fn);
  }

  private enqueue(w: Write): void {
    this.queue.push(w);
    if (!this.flushArmed) {
      this.flushArmed = true;
      if (this.scheduler) this.scheduler.after(FLUSH_DELAY_MS, this, 0);
      else queueMicrotask(() => this.flush());
    }
  }

  onTimer(): void {
    this.flush();
  }

  /** Commits the queue in one transaction, then runs what waited for it. */
  flush(): void {
    this.flushArmed = false;
    const batch = this.queue;
    const after = this.after;
    this.queue = [];
    this.after = [];
    if (batch.length) {
      const s = this.stmts;
      this.db.transaction((ws: Write[]) => {
        for (const w of ws) {
          switch (w.op) {
            case 'put-object':
              s.putObject.run(w.node, w.resource, w.rv, w.content);
              break;
            case 'delete-object':
              s.deleteObject.run(w.node, w.resource);
              break;
            case 'put-node':
              s.putNode.run(w.node, w.uid, w.lease);
              break;
            case 'put-pod':
              s.putPod.run(w.node, w.uid, w.state);
              break;
            case 'delete-pod':
              s.deletePod.run(w.node, w.uid);
              break;
          }
        }
      })(batch);
      this.transactions++;
      this.writes += batch.length;
    }
    for (const fn of after) fn();
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}
