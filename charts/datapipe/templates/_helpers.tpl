{{/* Labels of every object of the chart. */}}
{{- define "datapipe.labels" -}}
app.kubernetes.io/name: datapipe
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The stage image reference; the tag is required. */}}
{{- define "datapipe.image" -}}
{{ .Values.image.repository }}:{{ required "image.tag is required (the stage image release to run)" .Values.image.tag }}
{{- end }}

{{/* The data PersistentVolumeClaim's name. */}}
{{- define "datapipe.dataClaim" -}}
{{ .Values.data.persistence.existingClaim | default "datapipe-data" }}
{{- end }}

{{/* The catalog's SQLAlchemy URL: no password (libpq reads PGPASSWORD from the Secret). */}}
{{- define "datapipe.catalogUrl" -}}
{{ printf "postgresql+psycopg2://%s@%s:%v/%s?sslmode=%s" .Values.catalog.user .Values.catalog.host .Values.catalog.port .Values.catalog.database .Values.catalog.sslMode }}
{{- end }}

{{/* The configuration directories (files/config/<dir>/...), one ConfigMap each. */}}
{{- define "datapipe.configDirs" -}}
{{- $dirs := dict -}}
{{- range $path, $_ := .Files.Glob "files/config/*/*" -}}
{{- $_ := set $dirs (base (dir $path)) true -}}
{{- end -}}
{{- keys $dirs | sortAlpha | join "," -}}
{{- end }}

{{/* The pod security context of every DataPipe pod (restricted Pod Security Standard). */}}
{{- define "datapipe.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.stages.runAsUser }}
runAsGroup: {{ .Values.stages.runAsGroup }}
fsGroup: {{ .Values.stages.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The container security context of every DataPipe container. */}}
{{- define "datapipe.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The catalog's environment: its URL and PGPASSWORD from the Secret. */}}
{{- define "datapipe.catalogEnv" -}}
- name: DATAPIPE_CATALOG_URL
  value: {{ include "datapipe.catalogUrl" . | quote }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.catalog.passwordSecret.name }}
      key: {{ .Values.catalog.passwordSecret.key }}
{{- end }}
