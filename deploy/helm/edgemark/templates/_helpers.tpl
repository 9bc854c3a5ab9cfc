{{/*
The fleet's settings, checked and with every default filled in as `edgemark
fleet create` fills them in (src/cli/fleet.ts, src/runtime/kubernetes/), as
JSON: templates read them with fromJson, so each rule is written once.
*/}}
{{- define "edgemark.settings" -}}
{{- $v := .Values -}}
{{- if ne (toString $v.nodeKind) "edge" -}}
{{- fail (printf "nodeKind %q is not supported: only edge (a KubeEdge edgecore) for now" (toString $v.nodeKind)) -}}
{{- end -}}
{{- $count := int $v.count -}}
{{- if lt $count 1 -}}
{{- fail (printf "count must be a positive number of hollow nodes, not %v" $v.count) -}}
{{- end -}}
{{- $perPod := int (default (min 500 $count) $v.nodesPerPod) -}}
{{- if lt $perPod 1 -}}
{{- fail (printf "nodesPerPod must be positive, not %v" $v.nodesPerPod) -}}
{{- end -}}
{{- if ne (mod $count $perPod) 0 -}}
{{- $down := mul (div $count $perPod) $perPod -}}
{{- fail (printf "%d nodes do not divide into pods of %d (%d full pods and one of %d): set count to a multiple of %d (%s%d), or nodesPerPod to a divisor of %d" $count $perPod (div $count $perPod) (mod $count $perPod) $perPod (ternary "" (printf "%d or " $down) (eq $down 0)) (add $down $perPod) $count) -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9]([a-z0-9.-]{0,40}[a-z0-9.-])?$" (toString $v.prefix)) -}}
{{- fail (printf "prefix %q: node names are <prefix><index>, so it takes lowercase letters, digits, \"-\" or \".\"" (toString $v.prefix)) -}}
{{- end -}}
{{- if not $v.cloudcore -}}
{{- fail "cloudcore names no CloudCore: give one {websocket: host:port} at least" -}}
{{- end -}}
{{- $cloudcore := list -}}
{{- $loopback := true -}}
{{- range $v.cloudcore -}}
{{- $ws := toString .websocket -}}
{{- if not (regexMatch "^(\\[[0-9a-fA-F:.]+\\]|[^:\\[\\]]+):[0-9]{1,5}$" $ws) -}}
{{- fail (printf "cloudcore websocket takes host:port (for example 127.0.0.1:10000), not %q" $ws) -}}
{{- end -}}
{{- $host := regexReplaceAll ":[0-9]+$" $ws "" -}}
{{- $https := default (printf "https://%s:10002" $host) .https -}}
{{- $cloudcore = append $cloudcore (dict "websocket" $ws "https" $https) -}}
{{- if not (regexMatch "^(127\\.|localhost$|::1$)" (trimSuffix "]" (trimPrefix "[" $host))) -}}
{{- $loopback = false -}}
{{- end -}}
{{- end -}}
{{- $hostNetwork := ternary $loopback $v.hostNetwork (kindIs "invalid" $v.hostNetwork) -}}
{{- $repository := toString $v.image.repository -}}
{{- $image := printf "%s:%s" $repository (toString (default .Chart.AppVersion $v.image.tag)) -}}
{{- $pullPolicy := default (ternary "Never" "IfNotPresent" (hasPrefix "localhost/" $repository)) $v.image.pullPolicy -}}
{{- if not (has $pullPolicy (list "Never" "IfNotPresent" "Always")) -}}
{{- fail (printf "image.pullPolicy takes Never, IfNotPresent or Always, not %q" $pullPolicy) -}}
{{- end -}}
{{- if and $v.token.value $v.token.existingSecret -}}
{{- fail "token.value and token.existingSecret were both given: set one of them" -}}
{{- end -}}
{{- if not (or $v.token.value $v.token.existingSecret) -}}
{{- fail "no join token: set token.value (secret kubeedge/tokensecret, key tokendata, of the cluster under test) or token.existingSecret" -}}
{{- end -}}
{{- /* resourcesFor in manifests.ts, in integers: ceil(80 + K*400/1024) MiB and ceil(50 + K*0.2) millicores, limits at twice the memory and 4x the CPU, 1000m or more. */ -}}
{{- $memMiB := add 80 (div (add (mul $perPod 25) 63) 64) -}}
{{- $cpuM := add 50 (div (add $perPod 4) 5) -}}
{{- $derived := dict "requests" (dict "cpu" (printf "%dm" $cpuM) "memory" (printf "%dMi" $memMiB)) "limits" (dict "cpu" (printf "%dm" (max 1000 (mul $cpuM 4))) "memory" (printf "%dMi" (mul $memMiB 2))) -}}
{{- $wsList := list -}}
{{- range $cloudcore }}{{ $wsList = append $wsList .websocket }}{{ end -}}
{{- dict
  "name" (toString $v.name)
  "count" $count
  "nodesPerPod" $perPod
  "replicas" (div $count $perPod)
  "hostNetwork" $hostNetwork
  "image" $image
  "pullPolicy" $pullPolicy
  "cloudcore" $cloudcore
  "targetName" (default (printf "CloudCore %s" (join "," $wsList)) $v.targetName)
  "tokenSecret" (default (printf "%s-token" $v.name) $v.token.existingSecret)
  "tokenKey" (ternary (default "token" $v.token.existingSecretKey) "token" (not (empty $v.token.existingSecret)))
  "resources" (ternary $derived $v.resources (empty $v.resources))
  | toJson -}}
{{- end -}}

{{/* The fleet's labels (labelsOf in manifests.ts): on every object, and the pods' selector. */}}
{{- define "edgemark.labels" -}}
app.kubernetes.io/name: edgemark
app.kubernetes.io/instance: {{ .Values.name | toString | toJson }}
app.kubernetes.io/component: runner
{{- end -}}

{{/* The runner's port: metrics, health and summary; port + ordinal with hostNetwork. */}}
{{- define "edgemark.port" -}}9400{{- end -}}

{{/* The probe of a hostNetwork pod (execProbe in manifests.ts): the runner at the pod's address, on port + ordinal. */}}
{{- define "edgemark.execProbe" -}}
{{- printf "const o=Number(process.env.POD_NAME.split('-').pop());require('http').get({host:process.env.POD_IP,port:%s+o,path:'%s',timeout:9000},(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))" (include "edgemark.port" .root) .path -}}
{{- end -}}
