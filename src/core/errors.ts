/**
 * Every error a user can see carries a stable code, a subsystem prefix in its
 * message, and where possible a fix: what to do next.
 */
export type ErrorCode = `EM_${string}`;

export class EdgemarkError extends Error {
  readonly code: ErrorCode;
  readonly fix: string | undefined;
  /** Extra lines shown under the message (for example the tail of a log). */
  readonly details: string[];

  constructor(
    code: ErrorCode,
    message: string,
    fix?: string,
    options?: { cause?: unknown; details?: string[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgemarkError';
    this.code = code;
    this.fix = fix;
    this.details = options?.details ?? [];
  }
}

export function isEdgemarkError(err: unknown): err is EdgemarkError {
  return err instanceof EdgemarkError;
}

/** Formats an error for a terminal: code, message, details, then the fix. */
export function formatError(err: unknown): string {
  if (isEdgemarkError(err)) {
    const lines = [`error ${err.code}: ${err.message}`];
    for (const d of err.details) lines.push(`  ${d}`);
    if (err.fix) lines.push(`fix: ${err.fix}`);
    return lines.join('\n');
  }
  if (err instanceof Error) return `error: ${err.message}`;
  return `error: ${String(err)}`;
}

/** The node.js errno code of an error, if it has one ("EADDRINUSE", ...). */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
