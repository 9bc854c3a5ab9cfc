/**
 * Every error a user can see carries a stable code, a subsystem prefix in its
 * message, and where possible a fix: what to do next. The codes form one
 * catalogue below, so a misspelt code does not compile and each has a meaning.
 */

/** Every code Edgemark raises, with what it means. Add a code here before using it. */
export const errorCodes = {
  EM_APISERVER_UNREACHABLE: 'kube-apiserver could not be reached',
  EM_BAD_ADDRESS: 'an address flag names a host the command may not serve on',
  EM_BAD_FLAG: 'flags contradict each other or a value is out of range',
  EM_BOOTSTRAP_FORBIDDEN: "the bootstrap token's group may not create node CSRs",
  EM_BOOTSTRAP_TOKEN_MALFORMED: 'a bootstrap token is not of the form <6 chars>.<16 chars>',
  EM_BOOTSTRAP_TOKEN_REJECTED: 'kube-apiserver refused the bootstrap token (wrong, expired or deleted)',
  EM_BUILD_FAILED: 'building a control-plane component from source failed',
  EM_BUILD_INTERRUPTED: 'a build, or the wait for another build, was interrupted',
  EM_CA_FETCH: "CloudCore's /ca.crt did not answer with a certificate",
  EM_CA_HASH_MISMATCH: "CloudCore's CA does not match the CA hash in the join token",
  EM_CERT_REQUEST: "CloudCore's /edge.crt refused the certificate request",
  EM_CLOUDCORES_RUNNING: 'the number of CloudCore instances cannot change while the cluster runs',
  EM_CLOUDCORE_UNREACHABLE: "CloudCore's HTTPS port could not be reached",
  EM_CLUSTER_ALREADY_UP: 'the local cluster runs already',
  EM_CLUSTER_NOT_FOUND: 'there is no local cluster in the state directory',
  EM_COMPONENT_EXITED: 'a control-plane component exited while it started',
  EM_COMPONENT_UNHEALTHY: 'a control-plane component did not become healthy in time',
  EM_CONFIG_INVALID: 'a LoadTest document breaks the schema',
  EM_CONFIG_MISSING: 'the LoadTest file given does not exist',
  EM_CONFIG_YAML: 'a LoadTest file is not valid YAML',
  EM_CSR_DENIED: "a node's certificate signing request was denied or failed",
  EM_DISK_FULL: 'the disk filled up (during a build)',
  EM_ENVELOPE_FAILED: "the EdgeSite control plane's cgroup envelope could not be made",
  EM_ENVELOPE_TOO_SMALL: 'the EdgeSite envelope (CPUs, memory) is too small for the control plane, or was exceeded (OOM kill)',
  EM_EXTERNAL_RBAC: "the external cluster's credentials may not do what the fleet needs",
  EM_EXTERNAL_UNREACHABLE: 'the external cluster (where the runner pods run) does not answer',
  EM_FD_LIMIT: 'the open-file limit is too low for the nodes asked for',
  EM_FLEET_CONNECTIVITY: 'pods of the external cluster cannot reach the cluster under test',
  EM_FLEET_NOT_FOUND: 'there is no fleet of that name on the external cluster',
  EM_FLEET_NOT_READY: 'runner pods or hollow nodes of the fleet are not Ready',
  EM_GO_BROKEN: 'the Go toolchain is there but does not work',
  EM_GO_MISSING: 'the Go toolchain is not on PATH',
  EM_GO_TOO_OLD: 'the Go toolchain is older than a pinned component needs',
  EM_IMAGE_INVALID: 'an image to write lists a bad path, a path twice, or a bad name',
  EM_IMAGE_NOT_PRESENT: "the runner image is not on the external cluster's node and may not be pulled",
  EM_IMAGE_NO_DIST: 'the image needs the compiled dist/, which is missing',
  EM_IMAGE_NO_LDD: "`ldd` is missing or could not list the node binary's shared libraries",
  EM_IMAGE_NO_NODE_MODULES: 'the image needs the installed production node_modules, which are missing',
  EM_IMAGE_OUT_UNWRITABLE: 'the image archive cannot be written where it was asked',
  EM_FAULT_INVALID: 'a fault of spec.faults or --fault names no known group, or its fields contradict',
  EM_INTERNAL: 'a failure without a code of its own (a bug, or a code from an older peer)',
  EM_INTERRUPTED: 'the user interrupted the command (Ctrl-C)',
  EM_KIND_UNKNOWN: 'no node kind of that name',
  EM_KUBECONFIG: 'the kubeconfig has no usable cluster or user for this request',
  EM_MEASURE_DUPLICATE: 'two resource sources share one component name',
  EM_METRICS_HTTP: 'a metrics endpoint answered with an HTTP error',
  EM_METRICS_MISSING: 'a metrics page lacks process_cpu_seconds_total or process_resident_memory_bytes',
  EM_METRICS_SPEC: 'a component metrics address is not a URL or names an unknown component',
  EM_METRICS_UNREACHABLE: 'a metrics endpoint could not be scraped',
  EM_NODE_FORBIDDEN: 'kube-apiserver forbade a node what a kubelet may do (Node authorizer or NodeRestriction)',
  EM_NODE_KUBECONFIG: 'a given node kubeconfig is missing, unreadable, or its user cannot act as the node',
  EM_NODE_LIMIT: "more nodes than CloudCore's node limit allows",
  EM_NODE_LIMIT_RUNNING: 'the node limit cannot change while CloudCore runs',
  EM_NODE_UNKNOWN: 'no hollow node of the fleet has that name',
  EM_NO_CLOUDCORE: 'no CloudCore address is known (no local cluster, no --cloudcore)',
  EM_NO_KUBECONFIG: 'no kubeconfig for the target cluster',
  EM_NO_LOG: 'a component has no log yet',
  EM_NO_RUN: 'a directory holds no run summary',
  EM_NO_TOKEN: 'no join token is known, or it could not be read',
  EM_PEER_INVALID: 'the benchmark peer was given options it cannot use',
  EM_PEER_START_FAILED: 'the benchmark peer (KubeEdge edgemark) did not start',
  EM_PEER_STOP_INCOMPLETE: 'stopping the benchmark peer left processes or mounts behind',
  EM_PEER_UNSUPPORTED: 'the benchmark peer cannot run on this machine (platform, root, tools)',
  EM_PIN_UNKNOWN: 'no pinned version of a component by that name',
  EM_PLAN_INVALID: 'a fleet plan is inconsistent',
  EM_PORT_BUSY: 'a port the command needs is taken',
  EM_PROTO_SHAPE: 'a frame is not a beehive message',
  EM_RUNNER_CONFIG: "a runner pod's mounted plan, its settings or its POD_NAME/POD_IP is wrong",
  EM_RUNNER_FAILED: 'the node runner of a load test failed',
  EM_RUNTIME_UNKNOWN: 'no runtime of that name',
  EM_RUN_TIMEOUT: 'a load test phase did not finish within spec.timeoutSeconds',
  EM_SOURCE_PORTS: 'too many nodes for the loopback source addresses and ports',
  EM_STAGE_INVALID: 'a PodLifecycle document breaks the schema',
  EM_STAGE_YAML: 'a PodLifecycle file is not valid YAML',
  EM_STATE_CORRUPT: "the local cluster's state file cannot be read",
  EM_TARGET_INVALID: 'the target control plane is described wrongly',
  EM_TARGET_UNREACHABLE: 'the target control plane is not up or not healthy',
  EM_TIMEOUT: 'something awaited did not happen in time',
  EM_TOKEN_EXPIRED: 'the join token has expired',
  EM_TOKEN_MALFORMED: 'the join token is not a KubeEdge join token',
  EM_TOKEN_REJECTED: 'CloudCore refused the join token',
  EM_UNKNOWN_COMPONENT: 'no control-plane component by that name',
  EM_UNKNOWN_PROFILE: 'no built-in LoadTest profile by that name',
  EM_WORKER_FAILED: 'a worker process of the node runner failed',
  EM_WORKER_NODE_COUNT: 'more real worker nodes were asked for than one machine runs',
  EM_WORKER_NODE_IMAGE: "an image archive could not be imported into a worker node's containerd",
  EM_WORKER_NODE_NETWORK: "a worker node's address (veth pair, network namespace) could not be set up",
  EM_WORKER_NODE_NONE: 'the local cluster has no worker node running',
  EM_WORKER_NODE_NOT_READY: 'the worker node did not become Ready in time',
  EM_WORKER_NODE_PACKAGES: 'the packages a worker node runs (containerd, runc, CNI plugins) are not installed',
  EM_WORKER_NODE_PRIVILEGE: 'a worker node needs root: network namespaces, mounts, cgroups',
  EM_WORKER_NODE_START: "a worker node's containerd or kubelet exited or did not answer while it started",
} as const satisfies Record<`EM_${string}`, string>;

export type ErrorCode = keyof typeof errorCodes;

export function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(errorCodes, s);
}

/**
 * What the constructor accepts: a catalogued code, checked at compile time. A
 * code typed only as `EM_${string}` (re-cast from IPC in src/fleet/workers.ts
 * and src/cli/nodes.ts) still compiles, and is mapped through toErrorCode at
 * run time; those casts should become toErrorCode calls.
 */
type CheckedCode<C extends string> = `EM_${string}` extends C ? C : C extends ErrorCode ? C : never;

export class EdgemarkError<C extends string = ErrorCode> extends Error {
  readonly code: ErrorCode;
  readonly fix: string | undefined;
  /** Extra lines shown under the message (for example the tail of a log). */
  readonly details: string[];

  constructor(code: CheckedCode<C>, message: string, fix?: string, options?: { cause?: unknown; details?: string[] }) {
    const known = isErrorCode(code);
    super(known ? message : `${message} (code ${code})`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgemarkError';
    this.code = known ? code : 'EM_INTERNAL';
    this.fix = fix;
    this.details = options?.details ?? [];
  }
}

export function isEdgemarkError(err: unknown): err is EdgemarkError {
  return err instanceof EdgemarkError;
}

/** A code from outside the type system (IPC, a file): itself when catalogued, else EM_INTERNAL. */
export function toErrorCode(s: string): ErrorCode {
  return isErrorCode(s) ? s : 'EM_INTERNAL';
}

/** An error as plain data, to cross a process boundary (worker IPC, a summary file). */
export interface ErrorJson {
  code: string;
  message: string;
  fix?: string;
  details?: string[];
}

export function errorToJson(err: unknown): ErrorJson {
  if (isEdgemarkError(err)) {
    return { code: err.code, message: err.message, ...(err.fix ? { fix: err.fix } : {}), ...(err.details.length ? { details: [...err.details] } : {}) };
  }
  return { code: 'EM_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/**
 * The error again on this side. An unknown code becomes EM_INTERNAL and is
 * kept in the message, so nothing the other side said is lost.
 */
export function errorFromJson(j: ErrorJson): EdgemarkError {
  const known = isErrorCode(j.code);
  const message = known ? j.message : `${j.message} (code ${j.code})`;
  return new EdgemarkError(known ? j.code : 'EM_INTERNAL', message, j.fix, { details: j.details ?? [] });
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
