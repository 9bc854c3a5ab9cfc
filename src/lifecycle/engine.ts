/**
 * The stage engine: picks a pod's lifecycle and says what comes next and when.
 * Pure: no I/O, no clock; randomness comes in as a function.
 */
import { LIFECYCLE_ANNOTATION, type PodLifecycle, type Target } from './schema.js';

export interface PodMeta {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { kind?: string }[];
}

export interface Step {
  /** Index of the transition to apply. */
  index: number;
  afterMs: number;
  to: Target;
  exitCode: number;
}

export class StageEngine {
  private readonly ordered: PodLifecycle[];

  constructor(private readonly lifecycles: Map<string, PodLifecycle>) {
    this.ordered = [...lifecycles.values()].sort((a, b) => b.spec.priority - a.spec.priority || a.metadata.name.localeCompare(b.metadata.name));
  }

  get names(): string[] {
    return [...this.lifecycles.keys()];
  }

  /** The pod's lifecycle: named by annotation, else the best selector match, else default. */
  select(meta: PodMeta): PodLifecycle {
    const named = meta.annotations?.[LIFECYCLE_ANNOTATION];
    if (named && this.lifecycles.has(named)) return this.lifecycles.get(named)!;
    for (const l of this.ordered) {
      const s = l.spec.selector;
      if (l.metadata.name === 'default' || (!s.ownerKind && !s.matchLabels && !s.matchAnnotations)) continue;
      if (s.ownerKind && !meta.ownerReferences?.some((o) => o.kind === s.ownerKind)) continue;
      if (s.matchLabels && !Object.entries(s.matchLabels).every(([k, v]) => meta.labels?.[k] === v)) continue;
      if (s.matchAnnotations && !Object.entries(s.matchAnnotations).every(([k, v]) => meta.annotations?.[k] === v)) continue;
      return l;
    }
    return this.lifecycles.get('default')!;
  }

  get(name: string): PodLifecycle {
    return this.lifecycles.get(name) ?? this.lifecycles.get('default')!;
  }

  /**
   * The transition after `index` (-1: the first one), given how many restarts
   * the pod had; undefined when the lifecycle has ended.
   */
  next(l: PodLifecycle, index: number, restarts: number, random: () => number): Step | undefined {
    const ts = l.spec.transitions;
    const current = ts[index];
    let i = index + 1;
    // A restart transition loops back to itself until its repeat count is spent.
    if (current?.to === 'restart' && (current.repeat === 0 || restarts < (current.repeat ?? 1))) i = index;
    const t = ts[i];
    if (!t) return undefined;
    return {
      index: i,
      afterMs: t.after.ms + Math.round(t.after.jitterMs * random()),
      to: t.to,
      exitCode: t.exitCode ?? (t.to === 'failed' || t.to === 'restart' ? 1 : 0),
    };
  }
}
