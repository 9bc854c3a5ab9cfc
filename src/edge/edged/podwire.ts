/**
 * The edge kind's side of the pods (src/pods): the PodEnv a group's nodes
 * share, and beehive messages turned into the PodManager's plain calls. Pushes
 * of pods, ConfigMaps and Secrets become `podChanged` / `objectChanged`; the
 * answers metamanager matches to a pod request become `requestDone` /
 * `queryDone`, with the error of a reply read from its content (an ErrStatus).
 */
import { Op, responseError, type BeehiveMessage } from '../../protocol/message.js';
import type { ObjectChange, PodEnv } from '../../pods/host.js';
import type { PodManager, PodObject, PodRecord } from '../../pods/pods.js';
import type { EdgeContext } from '../host.js';
import { Req, type ReqKind } from '../metamanager/metamanager.js';
import { allocatable } from './objects.js';

/** The PodEnv of one edge context: built once per group and CloudCore address, shared by its nodes. */
export function edgePodEnv(c: Omit<EdgeContext, 'pods'>): PodEnv {
  return {
    scheduler: c.scheduler,
    stages: c.stages,
    random: c.random,
    timings: c.timings,
    store: c.store,
    events: c.events,
    allocatable: allocatable(c.profile),
  };
}

/** A push's operation as a watch would say it: insert added, delete deleted, anything else modified. */
function changeOf(operation: string | undefined): ObjectChange {
  return operation === Op.delete ? 'deleted' : operation === Op.insert ? 'added' : 'modified';
}

/** A pushed pod, ConfigMap or Secret, for the pods; false when the message is about something else. */
export function pushToPods(pods: PodManager, m: BeehiveMessage): boolean {
  const type = m.route.resource?.split('/')[1];
  if (type === 'pod') {
    pods.podChanged(changeOf(m.route.operation), m.content as PodObject | null, m.route.resource, m.header.msg_id);
    return true;
  }
  if (type === 'configmap' || type === 'secret') {
    pods.objectChanged(changeOf(m.route.operation), m.route.resource ?? '');
    return true;
  }
  return false;
}

/** The reply to a pod request, for the pods; false when the request was not theirs. */
export function replyToPods(pods: PodManager, kind: ReqKind, m: BeehiveMessage, subject: unknown): boolean {
  switch (kind) {
    case Req.patchPodStatus:
    case Req.deletePod:
      pods.requestDone(subject as PodRecord, kind === Req.patchPodStatus ? 'patch' : 'delete', responseError(m.content));
      return true;
    case Req.queryObject:
    case Req.queryToken: {
      const result = { error: responseError(m.content), resourceVersion: m.header.resourceversion ?? '', content: m.content };
      pods.queryDone(kind === Req.queryObject ? 'query-object' : 'query-token', subject as PodRecord | string, result);
      return true;
    }
    default:
      return false;
  }
}

/** A pod request that got no answer: not sent (disconnected) or timed out; false when the request was not theirs. */
export function failureToPods(pods: PodManager, kind: ReqKind, why: 'not-connected' | 'timeout', subject: unknown): boolean {
  switch (kind) {
    case Req.patchPodStatus:
      // Not connected: sent again by the resync after the reconnect.
      if (why === 'timeout') pods.patchTimedOut(subject as PodRecord);
      else pods.patchNotSent(subject as PodRecord);
      return true;
    case Req.deletePod:
      return true;
    case Req.queryObject:
    case Req.queryToken:
      pods.queryDone(kind === Req.queryObject ? 'query-object' : 'query-token', subject as PodRecord | string, undefined);
      return true;
    default:
      return false;
  }
}
