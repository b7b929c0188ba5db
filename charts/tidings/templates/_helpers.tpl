{{/*
Helpers. Component-scoped helpers take a dict: (dict "root" $ "component" "gateway").
*/}}

{{/* The workloads of the mode: one standalone pod, or the gateway, router and store (each may be disabled). */}}
{{- define "tidings.components" -}}
{{- if eq .Values.mode "standalone" }}standalone{{ else }}gateway router store{{ end }}
{{- end }}

{{/* "true" when the component is rendered: always in standalone mode, per `enabled` in cluster mode. */}}
{{- define "tidings.enabled" -}}
{{- if or (eq .component "standalone") (index .root.Values .component).enabled }}true{{ end }}
{{- end }}

{{/* The component whose pods serve the hub: the public Service, Ingress and HTTPRoute point at it. */}}
{{- define "tidings.edgeComponent" -}}
{{- ternary "standalone" "gateway" (eq .Values.mode "standalone") }}
{{- end }}

{{- define "tidings.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name, truncated to 46 characters so "<fullname>-gateway-metrics" stays within 63. */}}
{{- define "tidings.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 46 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tidings.componentName" -}}
{{- printf "%s-%s" (include "tidings.fullname" .root) .component }}
{{- end }}

{{/* The metrics Service of a component; also the Prometheus `job` label a ServiceMonitor gives its targets. */}}
{{- define "tidings.metricsServiceName" -}}
{{- printf "%s-%s-metrics" (include "tidings.fullname" .root) .component }}
{{- end }}

{{- define "tidings.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tidings.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of chart-wide objects (ConfigMap, Secret, ServiceAccount, rules). Takes the root context. */}}
{{- define "tidings.commonLabels" -}}
helm.sh/chart: {{ include "tidings.chart" . }}
app.kubernetes.io/name: {{ include "tidings.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: notification-gateway
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Immutable selector labels of a component: name, instance, component. */}}
{{- define "tidings.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tidings.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tidings.labels" -}}
{{ include "tidings.commonLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tidings.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tidings.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tidings.secretName" -}}
{{- default (include "tidings.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The image of a component: `image` overlaid with the component's non-empty `image` fields. */}}
{{- define "tidings.image" -}}
{{- $root := .root }}
{{- $img := mergeOverwrite (deepCopy $root.Values.image) (deepCopy (default dict (index $root.Values .component).image)) }}
{{- $registry := default $img.registry $root.Values.global.image.registry }}
{{- $ref := $img.repository }}
{{- if $registry }}{{ $ref = printf "%s/%s" $registry $ref }}{{ end }}
{{- if $img.digest }}
{{- printf "%s@%s" $ref $img.digest }}
{{- else }}
{{- printf "%s:%s" $ref (default $root.Chart.AppVersion $img.tag | toString) }}
{{- end }}
{{- end }}

{{- define "tidings.imagePullPolicy" -}}
{{- $img := mergeOverwrite (deepCopy .root.Values.image) (deepCopy (default dict (index .root.Values .component).image)) }}
{{- $img.pullPolicy }}
{{- end }}

{{/* A config value as an env string: whole numbers without exponent, booleans as true/false. */}}
{{- define "tidings.envValue" -}}
{{- if kindIs "float64" . }}
{{- if eq . (floor .) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/*
Render-time checks that values.schema.json cannot express (cross-field rules). Included once, from the
ConfigMap template; each failure names the values to change.
*/}}
{{- define "tidings.validate" -}}
{{- $v := .Values }}
{{- $reserved := list "TIDINGS_ROLE" "TIDINGS_NODE_ID" "TIDINGS_PORT" "TIDINGS_API_PORT" "TIDINGS_METRICS_PORT" "TIDINGS_DRAIN_SECONDS" "TIDINGS_DATA_DIR" }}
{{- $secretEnv := list "TIDINGS_AUTH_JWT_SECRET" "TIDINGS_INGEST_KEYS" "TIDINGS_NATS_URL" "TIDINGS_DATABASE_URL" }}
{{- range $component := splitList " " (include "tidings.components" .) }}
{{- $c := index $v $component }}
{{- if include "tidings.enabled" (dict "root" $ "component" $component) }}
{{- $budget := addf $v.drainSeconds $c.preStopSleepSeconds }}
{{- if le (float64 $c.terminationGracePeriodSeconds) (float64 $budget) }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%v) must exceed drainSeconds (%v) + %s.preStopSleepSeconds (%v) = %v, or Kubernetes kills pods before they finish draining" $component $c.terminationGracePeriodSeconds $v.drainSeconds $component $c.preStopSleepSeconds $budget) }}
{{- end }}
{{- range $c.extraEnv }}
{{- if has .name $reserved }}
{{- fail (printf "%s.extraEnv sets %s, which the chart manages: use containerPorts, drainSeconds or the component sections instead" $component .name) }}
{{- end }}
{{- if and (has .name $secretEnv) (hasKey . "value") }}
{{- fail (printf "%s.extraEnv sets %s as a plain value: put it under secrets (or secrets.existingSecret)" $component .name) }}
{{- end }}
{{- end }}
{{- if and (ne $component "standalone") $c.autoscaling.enabled }}
{{- if gt (int $c.autoscaling.minReplicas) (int $c.autoscaling.maxReplicas) }}
{{- fail (printf "%s.autoscaling.minReplicas (%v) exceeds maxReplicas (%v)" $component $c.autoscaling.minReplicas $c.autoscaling.maxReplicas) }}
{{- end }}
{{- $connections := and (eq $component "gateway") $c.autoscaling.connections.enabled }}
{{- if not (or $c.autoscaling.targetCPUUtilizationPercentage $c.autoscaling.targetMemoryUtilizationPercentage $connections $c.autoscaling.extraMetrics) }}
{{- fail (printf "%s.autoscaling is enabled without any metric: set targetCPUUtilizationPercentage, targetMemoryUtilizationPercentage or extraMetrics" $component) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $s := $v.secrets }}
{{- if $s.existingSecret }}
{{- if or $s.authJwtSecret $s.ingestKeys $s.databaseUrl }}
{{- fail "secrets.existingSecret is set: leave secrets.authJwtSecret, secrets.ingestKeys and secrets.databaseUrl empty (put them in that Secret)" }}
{{- end }}
{{- else if eq $v.mode "cluster" }}
{{- if not $s.natsUrl }}
{{- fail "secrets.natsUrl is required (e.g. nats://nats:4222), or set secrets.existingSecret" }}
{{- end }}
{{- if and $v.store.enabled (not $s.databaseUrl) (not $s.databaseUrlFrom.name) }}
{{- fail "the store needs Postgres: set secrets.databaseUrl, secrets.databaseUrlFrom or secrets.existingSecret" }}
{{- end }}
{{- end }}
{{- if and $s.databaseUrl $s.databaseUrlFrom.name }}
{{- fail "set only one of secrets.databaseUrl and secrets.databaseUrlFrom.name" }}
{{- end }}
{{- if and $s.authJwtSecret $v.config.TIDINGS_AUTH_JWKS_URL }}
{{- fail "set only one of secrets.authJwtSecret and config.TIDINGS_AUTH_JWKS_URL" }}
{{- end }}
{{- if and (eq (toString (default "" $v.config.TIDINGS_TENANT_VALIDATION)) "http") (not $v.config.TIDINGS_TENANT_VALIDATION_URL) }}
{{- fail "config.TIDINGS_TENANT_VALIDATION=http requires config.TIDINGS_TENANT_VALIDATION_URL" }}
{{- end }}
{{- end }}

{{/* True when no authentication is given: the chart then generates an HS256 key, unless told not to. */}}
{{- define "tidings.authUnset" -}}
{{- $anon := has (toString (default "" .Values.config.TIDINGS_AUTH_ANONYMOUS) | lower) (list "true" "1" "yes") }}
{{- if not (or .Values.secrets.existingSecret .Values.secrets.authJwtSecret .Values.config.TIDINGS_AUTH_JWKS_URL $anon) }}true{{ end }}
{{- end }}

{{/* True when no authentication is configured (pods would refuse to start). */}}
{{- define "tidings.authMissing" -}}
{{- if and (include "tidings.authUnset" .) (not .Values.secrets.generateJwtSecret) }}true{{ end }}
{{- end }}

{{/*
The HS256 key the chart generates when none is given: the one already in the release's Secret
(`lookup`, so upgrades keep it and tokens stay valid), else 48 random characters.
*/}}
{{- define "tidings.generatedJwtSecret" -}}
{{- $existing := lookup "v1" "Secret" (include "tidings.namespace" .) (include "tidings.fullname" .) }}
{{- $data := (default dict $existing).data | default dict }}
{{- if hasKey $data "TIDINGS_AUTH_JWT_SECRET" }}
{{- index $data "TIDINGS_AUTH_JWT_SECRET" | b64dec }}
{{- else }}
{{- randAlphaNum 48 }}
{{- end }}
{{- end }}
