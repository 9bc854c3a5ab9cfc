/**
 * An in-memory CloudCore for the edge node's fast tests: the peer at the link
 * seam (EdgeContext.link), as ws's duplex pair is for its sockets. It decodes
 * every frame the node sends with the real codec and answers with real
 * frames: a test replies to requests by hand, pushes objects, lets answers go
 * missing or arrive late, closes the link, or refuses the dial. Nothing
 * inside the node is replaced.
 *
 * Scripted answers never arrive inside the node's send (the node files a
 * request as pending only after sending it): they come on a microtask, or on
 * the shared scheduler when delayed. Test support, not a test.
 */
import type { Scheduler, TimerTarget } from '../../core/scheduler.js';
import { decode, encode, newMessage, Op, type BeehiveMessage } from '../../protocol/message.js';
import type { DialOptions, EdgeLink, FrameSink } from '../edgehub/link.js';

/** What a rule does with a request: answer it (content, optional resourceversion header), or leave it unanswered. */
export type Answer = { content: unknown; resourceversion?: string } | 'drop';

interface Rule {
  match(m: BeehiveMessage): boolean;
  answer(m: BeehiveMessage): Answer | undefined;
  times: number;
  delayMs: number;
}

/** The resource type of a message: "pod" in "default/pod/p". */
export function resourceType(m: BeehiveMessage): string {
  return m.route.resource?.split('/')[1] ?? '';
}

/** Matches edged's requests by operation and resource type, e.g. `request('update', 'lease')`. */
export function request(operation: string, type: string): (m: BeehiveMessage) => boolean {
  return (m) => m.route.group === 'meta' && m.route.operation === operation && resourceType(m) === type;
}

export const isKeepalive = (m: BeehiveMessage): boolean => m.route.operation === Op.keepalive;
/** An ACK the node sent (for a push or for a reply). */
export const isAck = (m: BeehiveMessage): boolean => m.route.operation === Op.response && m.header.parent_msg_id !== undefined;

/** The content of an API error answer, as CloudCore's edgecontroller writes it. */
export function apiError(code: number, reason: string, message = reason): { Object: null; Err: { ErrStatus: object } } {
  return { Object: null, Err: { ErrStatus: { metadata: {}, status: 'Failure', message, reason, code } } };
}

/** The content of an API success answer. */
export function apiObject(o: unknown): { Object: unknown; Err: null } {
  return { Object: o, Err: null };
}

class FakeLink implements EdgeLink {
  open = false;
  /** Bumped by every dial and close: a late open of an abandoned dial is dropped. */
  generation = 0;

  constructor(
    private readonly cloud: FakeCloud,
    readonly sink: FrameSink,
  ) {}

  dial(o: DialOptions): void {
    this.cloud.dialled(this, o, ++this.generation);
  }

  send(text: string): boolean {
    if (!this.open) return false;
    this.cloud.arrived(this, text);
    return true;
  }

  close(): void {
    this.generation++;
    this.open = false;
    this.cloud.detach(this);
  }
}

export class FakeCloud implements TimerTarget {
  /** Everything the node sent, decoded, oldest first (keepalives and ACKs included). */
  readonly received: BeehiveMessage[] = [];
  /** Everything delivered to the node (replies and pushes), oldest first. */
  readonly sent: BeehiveMessage[] = [];
  /** Every dial, with when it happened. */
  readonly dials: { at: number; options: DialOptions }[] = [];
  /** When set, every dial fails with this reason (as `ws` reports a refused handshake). */
  refuse: string | undefined;
  /** Dials to these servers fail (a CloudCore that is down), whatever `refuse` says. */
  readonly down = new Set<string>();
  private current: FakeLink | undefined;
  private readonly rules: Rule[] = [];
  private readonly later = new Map<number, () => void>();
  private laterSeq = 0;

  constructor(private readonly scheduler: Scheduler) {}

  /** The EdgeContext.link factory: one FakeLink per node. */
  readonly link = (sink: FrameSink): EdgeLink => new FakeLink(this, sink);

  get connected(): boolean {
    return this.current?.open === true;
  }

  /** Requests (group "meta") the node sent, optionally only those `match` accepts. */
  requests(match: (m: BeehiveMessage) => boolean = () => true): BeehiveMessage[] {
    return this.received.filter((m) => m.route.group === 'meta' && match(m));
  }

  /** The last request `match` accepts; throws when there is none. */
  last(match: (m: BeehiveMessage) => boolean): BeehiveMessage {
    const m = this.requests(match).at(-1);
    if (!m) throw new Error('fake cloud: no such request was sent');
    return m;
  }

  /** ACKs whose parent is `msgId`. */
  acksOf(msgId: string): BeehiveMessage[] {
    return this.received.filter((m) => isAck(m) && m.header.parent_msg_id === msgId);
  }

  /**
   * Answers requests `match` accepts with `answer` (undefined: the next rule
   * decides). Newer rules come first; `times` limits how often it applies.
   */
  answer(match: (m: BeehiveMessage) => boolean, answer: (m: BeehiveMessage) => Answer | undefined, o: { times?: number; delayMs?: number } = {}): void {
    this.rules.unshift({ match, answer, times: o.times ?? Infinity, delayMs: o.delayMs ?? 0 });
  }

  /** Leaves requests `match` accepts unanswered (CloudCore dropped them). */
  drop(match: (m: BeehiveMessage) => boolean, o: { times?: number } = {}): void {
    this.answer(match, () => 'drop', o);
  }

  /** Sends the reply to `req` now: operation "response", parent_msg_id = the request's id. */
  reply(req: BeehiveMessage, content: unknown, resourceversion?: string): BeehiveMessage {
    const m = replyTo(req, content, this.scheduler.now(), resourceversion);
    this.deliver(this.openLink(), m);
    return m;
  }

  /** Pushes an object as edgecontroller does (insert, update or delete). */
  push(resource: string, content: unknown, operation: string = Op.insert, resourceversion = '1'): BeehiveMessage {
    const m = newMessage({ source: 'edgecontroller', group: 'resource', operation, resource }, content, this.scheduler.now());
    if (resourceversion) m.header.resourceversion = resourceversion;
    this.deliver(this.openLink(), m);
    return m;
  }

  /** Sends a frame as it is (broken ones included). */
  sendRaw(text: string): void {
    this.openLink().sink.onFrame(text);
  }

  /** CloudCore drops the connection. */
  close(reason = 'closed 1006'): void {
    const link = this.openLink();
    link.open = false;
    link.generation++;
    this.current = undefined;
    link.sink.onClose(reason);
  }

  onTimer(_kind: number, id: number): void {
    const fn = this.later.get(id);
    this.later.delete(id);
    fn?.();
  }

  dialled(link: FakeLink, o: DialOptions, generation: number): void {
    this.dials.push({ at: this.scheduler.now(), options: o });
    queueMicrotask(() => {
      if (link.generation !== generation) return;
      if (this.refuse !== undefined) return link.sink.onClose(this.refuse);
      if (this.down.has(o.server)) return link.sink.onClose(`connect ECONNREFUSED ${o.server}`);
      this.current = link;
      link.open = true;
      link.sink.onOpen();
    });
  }

  detach(link: FakeLink): void {
    if (this.current === link) this.current = undefined;
  }

  arrived(link: FakeLink, text: string): void {
    const m = decode(text);
    this.received.push(m);
    if (m.route.group !== 'meta') return;
    for (const rule of this.rules) {
      if (!rule.match(m)) continue;
      const a = rule.answer(m);
      if (a === undefined) continue;
      if (--rule.times <= 0) this.rules.splice(this.rules.indexOf(rule), 1);
      if (a === 'drop') return;
      const generation = link.generation;
      const send = () => {
        if (link.generation === generation && link.open) this.deliver(link, replyTo(m, a.content, this.scheduler.now(), a.resourceversion));
      };
      if (rule.delayMs > 0) {
        this.later.set(++this.laterSeq, send);
        this.scheduler.after(rule.delayMs, this, 0, this.laterSeq);
      } else queueMicrotask(send);
      return;
    }
  }

  private openLink(): FakeLink {
    if (!this.current?.open) throw new Error('fake cloud: the node has no open link');
    return this.current;
  }

  private deliver(link: FakeLink, m: BeehiveMessage): void {
    this.sent.push(m);
    link.sink.onFrame(encode(m));
  }
}

function replyTo(req: BeehiveMessage, content: unknown, now: number, resourceversion?: string): BeehiveMessage {
  const m = newMessage({ source: 'edgecontroller', group: 'resource', operation: Op.response, resource: req.route.resource }, content, now);
  m.header.parent_msg_id = req.header.msg_id;
  if (resourceversion) m.header.resourceversion = resourceversion;
  return m;
}

interface ApiObject {
  metadata?: { name?: string; uid?: string; resourceVersion?: string };
}

/**
 * The Kubernetes API behind the fake CloudCore, as far as a hollow node uses
 * it: Nodes (AlreadyExists on a second insert), Leases (Conflict on a stale
 * resourceVersion), node and pod status patches, pod deletion, and
 * ConfigMap/Secret/token queries.
 */
export class FakeApi {
  readonly nodes = new Map<string, ApiObject>();
  readonly leases = new Map<string, ApiObject>();
  /** ConfigMaps and Secrets by resource ("default/configmap/cm"). */
  readonly objects = new Map<string, ApiObject>();
  private rv = 100;

  constructor(cloud: FakeCloud) {
    cloud.answer(
      (m) => m.route.group === 'meta',
      (m) => this.serve(m),
    );
  }

  /** Bumps and returns the next resourceVersion. */
  nextVersion(): string {
    return String(++this.rv);
  }

  private serve(m: BeehiveMessage): Answer | undefined {
    const resource = m.route.resource ?? '';
    const [, type, name = ''] = resource.split('/');
    const found = (o: ApiObject | undefined) => (o ? { content: apiObject(o) } : { content: apiError(404, 'NotFound', `${type} "${name}" not found`) });
    switch (`${m.route.operation} ${type}`) {
      case 'insert node': {
        if (this.nodes.has(name)) return { content: apiError(409, 'AlreadyExists', `nodes "${name}" already exists`) };
        const node = m.content as ApiObject;
        const stored = { ...node, metadata: { ...node.metadata, uid: `uid-${name}`, resourceVersion: this.nextVersion() } };
        this.nodes.set(name, stored);
        return { content: apiObject(stored) };
      }
      case 'query node':
      case 'patch nodepatch':
        return found(this.nodes.get(name));
      case 'query lease':
        return found(this.leases.get(name));
      case 'insert lease':
      case 'update lease': {
        const lease = m.content as ApiObject;
        const have = this.leases.get(name);
        if (m.route.operation === Op.insert && have) return { content: apiError(409, 'AlreadyExists', `leases "${name}" already exists`) };
        if (m.route.operation === Op.update && !have) return found(undefined);
        if (have && lease.metadata?.resourceVersion !== have.metadata?.resourceVersion) {
          return { content: apiError(409, 'Conflict', `the object has been modified; please apply your changes to the latest version and try again`) };
        }
        const stored = { ...lease, metadata: { ...lease.metadata, resourceVersion: this.nextVersion() } };
        this.leases.set(name, stored);
        return { content: apiObject(stored) };
      }
      case 'patch podpatch': {
        const patch = JSON.parse(m.content as string) as { metadata: { uid: string }; status: unknown };
        return { content: apiObject({ metadata: { name, uid: patch.metadata.uid }, status: patch.status }), resourceversion: this.nextVersion() };
      }
      case 'delete pod':
        return { content: 'OK' };
      case 'query configmap':
      case 'query secret': {
        const o = this.objects.get(resource);
        return o ? { content: o, resourceversion: o.metadata?.resourceVersion ?? this.nextVersion() } : found(undefined);
      }
      case 'query serviceaccounttoken':
        return { content: apiObject({ status: { token: 'fake-token', expirationTimestamp: '2099-01-01T00:00:00Z' } }) };
    }
    return undefined;
  }
}
