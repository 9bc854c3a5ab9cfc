/**
 * KubeEdge's beehive message as it travels on the cloud-edge websocket: one
 * JSON object per text frame with `header`, `route` and `content`. This module
 * is the pure codec: text in, typed message out, and back. No I/O, no timers.
 *
 * Field names and omission rules follow beehive's model.Message JSON tags:
 * msg_id, timestamp and content are always present; parent_msg_id,
 * resourceversion, sync, type and every route field are omitted when empty.
 */
import { randomUUID } from 'node:crypto';
import { EdgemarkError } from '../core/errors.js';

export interface MessageHeader {
  msg_id: string;
  parent_msg_id?: string;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  resourceversion?: string;
  sync?: boolean;
  type?: string;
}

export interface MessageRoute {
  source?: string;
  destination?: string;
  group?: string;
  operation?: string;
  resource?: string;
}

export interface BeehiveMessage {
  header: MessageHeader;
  route: MessageRoute;
  content: unknown;
}

export class ProtocolError extends EdgemarkError {
  constructor(
    message: string,
    readonly frame?: string,
  ) {
    super('EM_PROTO_SHAPE', `[protocol] ${message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Decodes one frame; throws ProtocolError (with a short excerpt) on anything else. */
export function decode(text: string): BeehiveMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ProtocolError(`frame is not JSON: ${excerpt(text)}`, text);
  }
  if (!isObject(raw) || !isObject(raw.header) || !isObject(raw.route ?? {})) {
    throw new ProtocolError(`frame is not a beehive message: ${excerpt(text)}`, text);
  }
  const h = raw.header;
  if (typeof h.msg_id !== 'string' || h.msg_id === '') {
    throw new ProtocolError(`message has no header.msg_id: ${excerpt(text)}`, text);
  }
  const route = (raw.route ?? {}) as Record<string, unknown>;
  for (const k of ['source', 'destination', 'group', 'operation', 'resource'] as const) {
    if (route[k] !== undefined && typeof route[k] !== 'string') {
      throw new ProtocolError(`route.${k} is not a string: ${excerpt(text)}`, text);
    }
  }
  return {
    header: {
      msg_id: h.msg_id,
      ...(typeof h.parent_msg_id === 'string' && h.parent_msg_id !== '' ? { parent_msg_id: h.parent_msg_id } : {}),
      timestamp: typeof h.timestamp === 'number' ? h.timestamp : 0,
      ...(typeof h.resourceversion === 'string' && h.resourceversion !== '' ? { resourceversion: h.resourceversion } : {}),
      ...(h.sync === true ? { sync: true } : {}),
      ...(typeof h.type === 'string' && h.type !== '' ? { type: h.type } : {}),
    },
    route: route as MessageRoute,
    content: raw.content === undefined ? null : raw.content,
  };
}

/** Encodes a message in beehive's field order, leaving out empty optional fields. */
export function encode(m: BeehiveMessage): string {
  const header: MessageHeader = m.header.parent_msg_id
    ? { msg_id: m.header.msg_id, parent_msg_id: m.header.parent_msg_id, timestamp: m.header.timestamp }
    : { msg_id: m.header.msg_id, timestamp: m.header.timestamp };
  if (m.header.resourceversion) header.resourceversion = m.header.resourceversion;
  // `sync` is forced false by both writers, so it never appears on the wire.
  if (m.header.type) header.type = m.header.type;
  const route: MessageRoute = {};
  for (const k of ['source', 'destination', 'group', 'operation', 'resource'] as const) {
    const v = m.route[k];
    if (v) route[k] = v;
  }
  return JSON.stringify({ header, route, content: m.content === undefined ? null : m.content });
}

function excerpt(text: string): string {
  const t = text.length > 120 ? `${text.slice(0, 117)}...` : text;
  return JSON.stringify(t);
}

/** A new message with a fresh UUID and the current time. */
export function newMessage(route: MessageRoute, content: unknown, now = Date.now()): BeehiveMessage {
  return { header: { msg_id: randomUUID(), timestamp: now }, route, content };
}

/** Operations and routes used by edgecore 1.23. */
export const Op = {
  insert: 'insert',
  update: 'update',
  patch: 'patch',
  delete: 'delete',
  query: 'query',
  response: 'response',
  error: 'error',
  keepalive: 'keepalive',
} as const;

/** The keepalive edgehub sends on connect and every heartbeat period. */
export function keepalive(now = Date.now()): BeehiveMessage {
  return newMessage({ source: 'websocket', group: 'resource', resource: 'node', operation: Op.keepalive }, 'ping', now);
}

/**
 * The ACK metamanager sends for a cloud push it stored: operation "response",
 * parent = the pushed id, same source, group and resource, content "OK".
 */
export function ack(pushed: BeehiveMessage, now = Date.now()): BeehiveMessage {
  const m = newMessage({ source: pushed.route.source, group: pushed.route.group, operation: Op.response, resource: pushed.route.resource }, 'OK', now);
  m.header.parent_msg_id = pushed.header.msg_id;
  return m;
}

/** A request from edged through metamanager to the cloud (group "meta"). */
export function edgedRequest(operation: string, resource: string, content: unknown, now = Date.now()): BeehiveMessage {
  return newMessage({ source: 'edged', group: 'meta', operation, resource }, content, now);
}

export interface ResourceRef {
  namespace: string;
  type: string;
  name?: string;
}

/** Parses "<namespace>/<type>[/<name>]"; cluster-scoped objects use namespace "null". */
export function parseResource(resource: string): ResourceRef | undefined {
  const parts = resource.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) return undefined;
  return { namespace: parts[0]!, type: parts[1]!, ...(parts[2] !== undefined ? { name: parts[2] } : {}) };
}

/** Content of the cloud's answer to create/update/patch/lease: {"Object", "Err"}. */
export interface ObjectResponse<T = unknown> {
  Object?: T | null;
  Err?: { ErrStatus?: { code?: number; reason?: string; message?: string } } | null;
}

export function isObjectResponse(c: unknown): c is ObjectResponse {
  return isObject(c) && ('Object' in c || 'Err' in c);
}

/** The Kubernetes status of an error answer, if the content is one. */
export function responseError(c: unknown): { code?: number; reason?: string; message?: string } | undefined {
  if (isObject(c) && isObject(c.Err) && isObject(c.Err.ErrStatus)) return c.Err.ErrStatus as never;
  if (isObject(c) && isObject(c.ErrStatus)) return c.ErrStatus as never;
  return undefined;
}
