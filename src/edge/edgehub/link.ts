/**
 * The node's link to CloudHub at the frame level: dial, send text, close;
 * what arrives comes back through the FrameSink. The websocket (EdgeSocket)
 * is the production link; tests put an in-memory CloudCore here, and link
 * faults (latency, loss, partitions) belong here too. One link object per
 * node, nothing more.
 */
import type { LinkCondition } from '../../link/model.js';
import type { DialOptions, FrameSink } from '../../transport/websocket.js';

export type { DialOptions, FrameSink };

export interface EdgeLink {
  dial(o: DialOptions): void;
  /** False when the link is not open (the frame was not sent). */
  send(text: string): boolean;
  /** Ends the link without a call to the sink's onClose. */
  close(): void;
  /** Lays a link condition on (the in-process link model), or lifts it. */
  impair?(c: LinkCondition | undefined): void;
}

/** Makes the link of one node, whose frames and state changes go to `sink`. */
export type LinkFactory = (sink: FrameSink) => EdgeLink;
