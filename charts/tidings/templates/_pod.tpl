{{/*
The pod template of a component (gateway, router, store, or standalone): shared by the Deployments
of cluster mode and the StatefulSet of standalone mode. Takes (dict "root" $ "component" "gateway").
*/}}
{{- define "tidings.podTemplate" -}}
{{- $root := .root }}
{{- $component := .component }}
{{- $c := index $root.Values $component }}
{{- $ctx := dict "root" $root "component" $component }}
{{- $selector := include "tidings.selectorLabels" $ctx | fromYaml }}
{{- $secretName := include "tidings.secretName" $root }}
{{- $keys := $root.Values.secrets.existingSecretKeys }}
{{- $standalone := eq $component "standalone" }}
{{- $verifiesTokens := has $component (list "gateway" "standalone") }}
{{- $apiPort := int $root.Values.containerPorts.api }}
metadata:
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- if not $root.Values.secrets.existingSecret }}
    # The inline secret values, not the rendered Secret: a generated JWT key must not restart pods on every upgrade.
    checksum/secret: {{ omit $root.Values.secrets "existingSecret" "existingSecretKeys" | toJson | sha256sum }}
    {{- end }}
    {{- with $c.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "tidings.labels" $ctx | nindent 4 }}
    {{- with $c.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "tidings.serviceAccountName" $root }}
  automountServiceAccountToken: false
  {{- with (concat $root.Values.global.imagePullSecrets $root.Values.imagePullSecrets) }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  # > drainSeconds + preStopSleepSeconds (checked at render time): SIGTERM drain must finish first.
  terminationGracePeriodSeconds: {{ $c.terminationGracePeriodSeconds }}
  {{- with $c.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.topologySpreadConstraints }}
  {{- $constraints := list }}
  {{- range . }}
  {{- $constraints = append $constraints (merge (deepCopy .) (dict "labelSelector" (dict "matchLabels" $selector))) }}
  {{- end }}
  topologySpreadConstraints:
    {{- toYaml $constraints | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ $component }}
      image: {{ include "tidings.image" $ctx | quote }}
      imagePullPolicy: {{ include "tidings.imagePullPolicy" $ctx }}
      env:
        - name: TIDINGS_ROLE
          value: {{ ternary "all" $component $standalone }}
        # Pod names are valid node ids ([A-Za-z0-9_-], at most 63 characters).
        - name: TIDINGS_NODE_ID
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- if $standalone }}
        # The embedded Postgres (PGlite) keeps its files on the pod's volume.
        - name: TIDINGS_DATA_DIR
          value: /data/pglite
        {{- else }}
        - name: TIDINGS_NATS_URL
          valueFrom:
            secretKeyRef:
              name: {{ $secretName }}
              key: {{ $keys.natsUrl }}
        {{- end }}
        {{- if $verifiesTokens }}
        # Only the pods that verify user tokens get the signing key.
        - name: TIDINGS_AUTH_JWT_SECRET
          valueFrom:
            secretKeyRef:
              name: {{ $secretName }}
              key: {{ $keys.authJwtSecret }}
              optional: true
        - name: TIDINGS_INGEST_KEYS
          valueFrom:
            secretKeyRef:
              name: {{ $secretName }}
              key: {{ $keys.ingestKeys }}
              optional: true
        {{- end }}
        {{- if eq $component "store" }}
        - name: TIDINGS_DATABASE_URL
          valueFrom:
            secretKeyRef:
              {{- if $root.Values.secrets.databaseUrlFrom.name }}
              name: {{ $root.Values.secrets.databaseUrlFrom.name }}
              key: {{ $root.Values.secrets.databaseUrlFrom.key }}
              {{- else }}
              name: {{ $secretName }}
              key: {{ $keys.databaseUrl }}
              {{- end }}
        {{- end }}
        {{- with $c.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      envFrom:
        - configMapRef:
            name: {{ include "tidings.fullname" $root }}
        {{- with $c.envFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        {{- if $verifiesTokens }}
        - name: http
          containerPort: {{ $root.Values.containerPorts.http }}
          protocol: TCP
        {{- if $apiPort }}
        - name: api
          containerPort: {{ $apiPort }}
          protocol: TCP
        {{- end }}
        {{- end }}
        - name: metrics
          containerPort: {{ $root.Values.containerPorts.metrics }}
          protocol: TCP
      {{- with $c.startupProbe }}
      startupProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.readinessProbe }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $c.preStopSleepSeconds }}
      lifecycle:
        preStop:
          # Let Service endpoints and load balancers drop this pod before SIGTERM starts the drain.
          exec:
            command: ["sleep", "{{ $c.preStopSleepSeconds }}"]
      {{- end }}
      {{- with $c.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if $standalone }}
        - name: data
          mountPath: /data
        {{- end }}
        {{- with $c.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if and $standalone (not $c.persistence.enabled) }}
    - name: data
      emptyDir: {}
    {{- end }}
    {{- with $c.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
