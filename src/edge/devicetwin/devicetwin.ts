/**
 * devicetwin: the device side of a hollow node. A hollow node has no devices
 * of its own, but it speaks as edgecore's devicetwin does on the link: on
 * every connect it asks the cloud for the node's device membership
 * ("membership/detail"), re-sends the query while it stays unanswered (as
 * edgecore's confirm map does; CloudCore 1.23 does not answer it), and keeps
 * the device list the cloud pushes (DeviceController's membership updates), so
 * the cloud sees the same traffic a real edgecore makes.
 */
import { randomUUID } from 'node:crypto';
import { newMessage, type BeehiveMessage } from '../../protocol/message.js';
import { Timer, type NodeHost } from '../host.js';

export const MEMBERSHIP_DETAIL = 'membership/detail';

/** The membership query devicetwin sends when the link comes up. */
export function membershipDetailRequest(nodeName: string, now: number): BeehiveMessage {
  const event = { event_type: 'group_membership_event', event_id: randomUUID(), group_id: nodeName, operation: 'detail', timestamp: now };
  // devicetwin sends the event as a JSON string, not as an object.
  return newMessage({ source: 'twin', group: 'resource', operation: 'get', resource: MEMBERSHIP_DETAIL }, JSON.stringify(event), now);
}

/** Device ids named by a membership message (detail result or update). */
export function membershipDevices(content: unknown): { added: string[]; removed: string[] } | undefined {
  let c = content;
  if (typeof c === 'string') {
    try {
      c = JSON.parse(c);
    } catch {
      return undefined;
    }
  }
  if (!c || typeof c !== 'object') return undefined;
  const ids = (list: unknown) =>
    Array.isArray(list) ? list.map((d) => (d && typeof d === 'object' ? String((d as { id?: unknown }).id ?? '') : '')).filter(Boolean) : [];
  const o = c as { devices?: unknown; added_devices?: unknown; removed_devices?: unknown };
  return { added: [...ids(o.devices), ...ids(o.added_devices)], removed: ids(o.removed_devices) };
}

export class DeviceTwin {
  /** Device ids the cloud says belong to this node (undefined when none). */
  devices: Set<string> | undefined;
  private answered = false;

  constructor(
    private readonly host: NodeHost,
    private readonly send: (m: BeehiveMessage) => boolean,
  ) {}

  onConnected(): void {
    this.answered = false;
    this.query();
  }

  /** The resend timer fired. */
  onTimer(): void {
    if (!this.answered) this.query();
  }

  private query(): void {
    const f = this.host.ctx;
    if (!this.send(membershipDetailRequest(this.host.name, f.scheduler.now()))) return;
    if (f.timings.twinMembershipResendMs > 0) this.host.schedule(Timer.twinMembership, f.timings.twinMembershipResendMs);
  }

  /** True when the message was devicetwin's (group "twin" or a membership resource). */
  receive(m: BeehiveMessage): boolean {
    const resource = m.route.resource ?? '';
    if (m.route.group !== 'twin' && !resource.includes('membership')) return false;
    if (!resource.includes('membership')) return true; // twin updates of devices a hollow node does not have
    const d = membershipDevices(m.content);
    if (!d) {
      this.host.ctx.events.error(this.host, 'twin-message', new Error(`membership message ${m.header.msg_id} has no device list`));
      return true;
    }
    const detail = resource.includes(MEMBERSHIP_DETAIL);
    if (detail) {
      this.answered = true;
      this.host.cancel(Timer.twinMembership);
    }
    // Most hollow nodes have no devices: they hold no set at all.
    const next = new Set(detail ? [] : (this.devices ?? []));
    for (const id of d.added) next.add(id);
    for (const id of d.removed) next.delete(id);
    this.devices = next.size ? next : undefined;
    return true;
  }
}
