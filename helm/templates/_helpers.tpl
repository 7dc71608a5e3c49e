{{/* Names, labels and the checks every install goes through. */}}

{{- define "realtime.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "realtime.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "realtime.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "realtime.selectorLabels" -}}
app.kubernetes.io/name: {{ include "realtime.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "realtime.labels" -}}
helm.sh/chart: {{ include "realtime.chart" . }}
{{ include "realtime.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: realtime
{{- end -}}

{{- define "realtime.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "realtime.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "realtime.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
An environment variable's value as a quoted string. Numbers from values files arrive as float64, which Go
prints as 1e+06 from a million up: whole numbers are printed as integers, fractions as they are.
*/}}
{{- define "realtime.envValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq . (floor .) -}}{{ int64 . | quote }}{{- else -}}{{ . | quote }}{{- end -}}
{{- else -}}
{{- toString . | quote -}}
{{- end -}}
{{- end -}}

{{/* The chart's own Secret holds the secret values given inline; it exists only when one of them is set. */}}
{{- define "realtime.inlineSecretData" -}}
{{- $data := dict -}}
{{- with .Values.secrets.globalSecret }}{{ $_ := set $data "GLOBAL_SECRET" . }}{{ end -}}
{{- with .Values.secrets.globalSecretOrPubKey }}{{ $_ := set $data "GLOBAL_SECRET_OR_PUB_KEY" . }}{{ end -}}
{{- with .Values.secrets.ingestToken }}{{ $_ := set $data "INGEST_TOKEN" . }}{{ end -}}
{{- with .Values.secrets.amqpUrl }}{{ $_ := set $data "AMQP_URL" . }}{{ end -}}
{{- if has .Values.redis.mode (list "url" "sentinel") -}}
{{- with .Values.redis.url }}{{ $_ := set $data "REDIS_URL" . }}{{ end -}}
{{- end -}}
{{- if $data -}}{{ toYaml $data }}{{- end -}}
{{- end -}}

{{- define "realtime.metricsServiceName" -}}
{{- printf "%s-metrics" (include "realtime.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- end -}}

{{/* Tells the metrics Service from the public one, for the ServiceMonitor's selector. */}}
{{- define "realtime.metricsServiceLabel" -}}
tiledesk-realtime/port: metrics
{{- end -}}

{{- define "realtime.inlineSecretName" -}}
{{- printf "%s-env" (include "realtime.fullname" .) -}}
{{- end -}}

{{/* Seconds the kubelet waits after the preStop hook starts: sleep + the drain window (rounded up) + margin. */}}
{{- define "realtime.terminationGracePeriodSeconds" -}}
{{- $drainS := div (add (int64 .Values.shutdown.drainMs) 999) 1000 -}}
{{- add (int64 .Values.shutdown.preStopSleepSeconds) $drainS (int64 .Values.shutdown.graceMarginSeconds) -}}
{{- end -}}

{{- define "realtime.probeScheme" -}}
{{- if .Values.tls.secretName -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{- define "realtime.appProtocol" -}}
{{- if .Values.tls.secretName -}}kubernetes.io/wss{{- else -}}kubernetes.io/ws{{- end -}}
{{- end -}}

{{/*
Refuses values that would deploy something broken, with a message that says what to change. The schema
refuses most of them too; these messages are the readable version, and they also cover --set.
*/}}
{{- define "realtime.validate" -}}
{{- $mode := .Values.redis.mode -}}
{{- if eq $mode "none" -}}
{{- if gt (int64 .Values.replicaCount) 1 -}}
{{- fail (printf "replicaCount is %v but redis.mode is none: the memory engine keeps connections, subscriptions and the read model in one process, so replicas would not see each other's events. Set redis.mode (url, cluster or sentinel) or replicaCount: 1." .Values.replicaCount) -}}
{{- end -}}
{{- if .Values.autoscaling.enabled -}}
{{- fail "autoscaling.enabled needs a Redis mode: the memory engine (redis.mode: none) runs exactly one replica." -}}
{{- end -}}
{{- end -}}
{{- if and (eq $mode "url") (not .Values.redis.url) (not .Values.secrets.existingSecret) -}}
{{- fail "redis.mode is url: set redis.url, or put REDIS_URL in the Secret named by secrets.existingSecret." -}}
{{- end -}}
{{- if and (eq $mode "cluster") (not .Values.redis.clusterNodes) -}}
{{- fail "redis.mode is cluster: list some nodes in redis.clusterNodes (host:port)." -}}
{{- end -}}
{{- if and (eq $mode "sentinel") (or (not .Values.redis.sentinels) (not .Values.redis.sentinelMaster)) -}}
{{- fail "redis.mode is sentinel: set redis.sentinels (host:port of the Sentinels) and redis.sentinelMaster (the monitored name)." -}}
{{- end -}}
{{- if and (eq $mode "cluster") (gt (int64 .Values.redis.waitReplicas) 0) -}}
{{- fail "redis.waitReplicas needs redis.mode url or sentinel: on a cluster, WAIT would have to reach the node of each project." -}}
{{- end -}}
{{- if and (not .Values.secrets.existingSecret) (not .Values.secrets.globalSecret) (not .Values.secrets.globalSecretOrPubKey) -}}
{{- fail "No key to verify client tokens: set secrets.existingSecret (a Secret with GLOBAL_SECRET or GLOBAL_SECRET_OR_PUB_KEY), or secrets.globalSecret / secrets.globalSecretOrPubKey." -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (lt (int64 .Values.autoscaling.maxReplicas) (int64 .Values.autoscaling.minReplicas)) -}}
{{- fail "autoscaling.maxReplicas must be at least autoscaling.minReplicas." -}}
{{- end -}}
{{- if eq (int64 .Values.containerPorts.http) (int64 .Values.containerPorts.metrics) -}}
{{- fail "containerPorts.http and containerPorts.metrics must differ: /metrics stays off the public port." -}}
{{- end -}}
{{- end -}}
