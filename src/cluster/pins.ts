/**
 * The component versions Edgemark builds, as data. Each toolset is one wrapper
 * Go module under controlplane/ (a go.mod and go.sum that pin the version; no
 * code from those projects is kept here) and the main packages built from it.
 */
import { EdgemarkError } from '../core/errors.js';

export type ToolsetName = 'etcd' | 'kubernetes' | 'kubeedge';
/** Tools built only on request (`edgemark setup --helm`), never for `cluster up`. */
export type ToolName = 'helm';

export interface BinarySpec {
  /** File name of the built binary. */
  name: string;
  /** Go main package. */
  pkg: string;
  cgo: boolean;
  /** Built only on request (benchmark peers), never for `cluster up`. */
  peer?: boolean;
  /** Built only for a worker node (`cluster up --workers`, `setup --worker`). */
  worker?: boolean;
  /** Built with this change to one file of the module (a `go build -overlay`). */
  sourceFix?: SourceFix;
}

/**
 * A minimal change to one file of a published module, applied at build time to
 * a copy of the module's own file (the module cache stays as downloaded). Each
 * `find` must occur exactly once, so a different release fails loudly instead
 * of building something else.
 */
export interface SourceFix {
  module: string;
  /** Path of the file inside the module. */
  file: string;
  /** One line on why; written to the build log and the binary's .fix file. */
  why: string;
  edits: { find: string; replace: string }[];
}

export interface ToolsetPin {
  toolset: ToolsetName | ToolName;
  version: string;
  /** Wrapper module directory, relative to controlplane/. */
  dir: string;
  /** The module whose version this pin selects (checked against go.mod). */
  module: string;
  ldflags: string[];
  binaries: BinarySpec[];
  /** Files copied out of a module's tree into the build output (e.g. CRDs). */
  extract?: { module: string; from: string; to: string };
}

function k8sLdflags(version: string): string[] {
  const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(version) ?? [];
  const vars: Record<string, string> = {
    gitVersion: version,
    gitMajor: major ?? '',
    gitMinor: minor ?? '',
    gitTreeState: 'clean',
    // Fixed, so that a rebuild links to the same bytes.
    buildDate: '2025-05-15T00:00:00Z',
  };
  const flags: string[] = [];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    for (const [k, v] of Object.entries(vars)) flags.push(`-X ${pkg}.${k}=${v}`);
  }
  return flags;
}

function kubeedgeLdflags(version: string, commit: string, date: string): string[] {
  const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(version) ?? [];
  const pkg = 'github.com/kubeedge/kubeedge/pkg/version';
  return [
    `-X ${pkg}.gitVersion=${version}`,
    `-X ${pkg}.gitMajor=${major ?? ''}`,
    `-X ${pkg}.gitMinor=${minor ?? ''}`,
    `-X ${pkg}.gitCommit=${commit}`,
    `-X ${pkg}.gitTreeState=clean`,
    `-X ${pkg}.buildDate=${date}`,
  ];
}

/**
 * KubeEdge v1.23.1's edge/cmd/edgemark dies within milliseconds: the kubelet
 * dependencies it builds lack a TracerProvider and the pod and node startup
 * latency trackers (nil pointer dereferences in kubelet.NewMainKubelet), and it
 * opens the metamanager database only after the modules that use it
 * registered (dao.Init after metamanager.Register). The fix supplies the no-op
 * tracer provider the file already uses for its runtime client and the
 * kubelet's own trackers, and calls dao.Init first, as edgecore does.
 */
const edgemarkStartFix: SourceFix = {
  module: 'github.com/kubeedge/kubeedge',
  file: 'edge/cmd/edgemark/hollow_edgecore.go',
  why: 'released edgemark panics at start (nil TracerProvider, nil startup latency trackers, database opened after module registration)',
  edits: [
    {
      find: '\t"k8s.io/kubernetes/pkg/kubelet/cm"\n',
      replace: '\t"k8s.io/kubernetes/pkg/kubelet/cm"\n\tkubeletutil "k8s.io/kubernetes/pkg/kubelet/util"\n',
    },
    {
      find: 'hostutil.NewFakeHostUtil(nil),\n',
      replace:
        'hostutil.NewFakeHostUtil(nil),\n' +
        '\t\tTracerProvider: oteltrace.NewNoopTracerProvider(),\n' +
        '\t\tPodStartupLatencyTracker: kubeletutil.NewPodStartupLatencyTracker(),\n' +
        '\t\tNodeStartupLatencyTracker: kubeletutil.NewNodeStartupLatencyTracker(),\n',
    },
    // dao.Init moves from after the module registrations to before them, as edgecore's own registerModules has it.
    { find: '\tdao.Init(\n\t\tc.DataBase.DataSource,\n\t\tc.Modules.MetaManager,\n\t)\n', replace: '' },
    {
      find: '\tedged.Register(c.Modules.Edged)\n',
      replace: '\tdao.Init(c.DataBase.DataSource, c.Modules.MetaManager)\n\tedged.Register(c.Modules.Edged)\n',
    },
  ],
};

export const supportedPins: Record<ToolsetName, ToolsetPin[]> = {
  etcd: [
    {
      toolset: 'etcd',
      version: 'v3.5.24',
      dir: 'etcd',
      module: 'go.etcd.io/etcd/server/v3',
      ldflags: [],
      binaries: [{ name: 'etcd', pkg: 'go.etcd.io/etcd/server/v3', cgo: false }],
    },
  ],
  kubernetes: [
    {
      toolset: 'kubernetes',
      version: 'v1.32.5',
      dir: 'k8s',
      module: 'k8s.io/kubernetes',
      ldflags: k8sLdflags('v1.32.5'),
      binaries: [
        { name: 'kube-apiserver', pkg: 'k8s.io/kubernetes/cmd/kube-apiserver', cgo: false },
        {
          name: 'kube-controller-manager',
          pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager',
          cgo: false,
        },
        { name: 'kube-scheduler', pkg: 'k8s.io/kubernetes/cmd/kube-scheduler', cgo: false },
        { name: 'kubemark', pkg: 'k8s.io/kubernetes/cmd/kubemark', cgo: false, peer: true },
        { name: 'kubelet', pkg: 'k8s.io/kubernetes/cmd/kubelet', cgo: false, worker: true },
      ],
    },
  ],
  kubeedge: [
    {
      toolset: 'kubeedge',
      version: 'v1.23.1',
      dir: 'kubeedge',
      module: 'github.com/kubeedge/kubeedge',
      ldflags: kubeedgeLdflags('v1.23.1', '1a7ee88d3c61dc781cc9c9053066ab3d38519dd5', '2026-07-15T12:01:20Z'),
      binaries: [
        { name: 'cloudcore', pkg: 'github.com/kubeedge/kubeedge/cloud/cmd/cloudcore', cgo: false },
        {
          name: 'edgemark',
          pkg: 'github.com/kubeedge/kubeedge/edge/cmd/edgemark',
          cgo: true,
          peer: true,
        },
        {
          // The released edgemark panics at start; this is it with the three
          // missing initialisations added and nothing else changed.
          name: 'edgemark-startfix',
          pkg: 'github.com/kubeedge/kubeedge/edge/cmd/edgemark',
          cgo: true,
          peer: true,
          sourceFix: edgemarkStartFix,
        },
      ],
      extract: { module: 'github.com/kubeedge/kubeedge', from: 'build/crds', to: 'crds' },
    },
  ],
};

/** Helm, for the chart in deploy/helm/edgemark: its tests lint, render and install it. */
export const toolPins: Record<ToolName, ToolsetPin> = {
  helm: {
    toolset: 'helm',
    version: 'v3.22.0',
    dir: 'helm',
    module: 'helm.sh/helm/v3',
    // As Helm's Makefile sets them; the Kubernetes version (client-go v0.37 is 1.37) is what `helm template` and `helm lint` assume.
    ldflags: [
      '-X helm.sh/helm/v3/internal/version.version=v3.22.0',
      '-X helm.sh/helm/v3/internal/version.gitTreeState=clean',
      ...['pkg/lint/rules', 'pkg/chartutil'].flatMap((p) => [`-X helm.sh/helm/v3/${p}.k8sVersionMajor=1`, `-X helm.sh/helm/v3/${p}.k8sVersionMinor=37`]),
    ],
    binaries: [{ name: 'helm', pkg: 'helm.sh/helm/v3/cmd/helm', cgo: false }],
  },
};

export type VersionChoice = Partial<Record<ToolsetName, string>>;

/** Picks the pin of each toolset; an unknown version lists the supported ones. */
export function resolvePins(choice: VersionChoice = {}): Record<ToolsetName, ToolsetPin> {
  const out = {} as Record<ToolsetName, ToolsetPin>;
  for (const toolset of Object.keys(supportedPins) as ToolsetName[]) {
    const pins = supportedPins[toolset];
    const wanted = choice[toolset];
    const pin = wanted === undefined ? pins[0] : pins.find((p) => p.version === normalize(wanted));
    if (!pin) {
      throw new EdgemarkError(
        'EM_PIN_UNKNOWN',
        `[setup] ${toolset} version ${wanted} is not supported`,
        `use one of: ${pins.map((p) => p.version).join(', ')} (each is a wrapper module under controlplane/${pins[0]?.dir ?? ''})`,
      );
    }
    out[toolset] = pin;
  }
  return out;
}

function normalize(v: string): string {
  return v.startsWith('v') ? v : `v${v}`;
}
