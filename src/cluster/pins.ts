/**
 * The component versions Edgemark builds, as data. Each toolset is one wrapper
 * Go module under controlplane/ (a go.mod and go.sum that pin the version; no
 * code from those projects is kept here) and the main packages built from it.
 */
import { EdgemarkError } from '../core/errors.js';

export type ToolsetName = 'etcd' | 'kubernetes' | 'kubeedge';

export interface BinarySpec {
  /** File name of the built binary. */
  name: string;
  /** Go main package. */
  pkg: string;
  cgo: boolean;
  /** Built only on request (benchmark peers), never for `cluster up`. */
  peer?: boolean;
}

export interface ToolsetPin {
  toolset: ToolsetName;
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
      ],
    },
  ],
  kubeedge: [
    {
      toolset: 'kubeedge',
      version: 'v1.23.1',
      dir: 'kubeedge',
      module: 'github.com/kubeedge/kubeedge',
      ldflags: kubeedgeLdflags(
        'v1.23.1',
        '1a7ee88d3c61dc781cc9c9053066ab3d38519dd5',
        '2026-07-15T12:01:20Z',
      ),
      binaries: [
        { name: 'cloudcore', pkg: 'github.com/kubeedge/kubeedge/cloud/cmd/cloudcore', cgo: false },
        {
          name: 'edgemark',
          pkg: 'github.com/kubeedge/kubeedge/edge/cmd/edgemark',
          cgo: true,
          peer: true,
        },
      ],
      extract: { module: 'github.com/kubeedge/kubeedge', from: 'build/crds', to: 'crds' },
    },
  ],
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
