{{/* The chart's name, or nameOverride. */}}
{{- define "dbo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of the release's objects: fullnameOverride, or the release name when it already holds
the chart's name, or `<release>-<chart>`. Kubernetes names of these kinds are at most 63 long.
*/}}
{{- define "dbo.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dbo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object of the release carries. */}}
{{- define "dbo.labels" -}}
helm.sh/chart: {{ include "dbo.chart" . }}
{{ include "dbo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels that pick the operator's pods; they never change across upgrades. */}}
{{- define "dbo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dbo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dbo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dbo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dbo.leaseName" -}}
{{- default (include "dbo.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "dbo.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Whether a tenancy file is mounted, and from which ConfigMap and key. */}}
{{- define "dbo.tenancyEnabled" -}}
{{- if or .Values.tenancy.tenants .Values.tenancy.existingConfigMap }}true{{ end }}
{{- end }}

{{- define "dbo.tenancyConfigMap" -}}
{{- default (printf "%s-tenancy" (include "dbo.fullname" .)) .Values.tenancy.existingConfigMap }}
{{- end }}

{{- define "dbo.tenancyKey" -}}
{{- if .Values.tenancy.existingConfigMap }}{{ .Values.tenancy.existingConfigMapKey }}{{ else }}tenancy.yaml{{ end }}
{{- end }}

{{/*
What the controllers do with the Kubernetes API, and nothing more. The same rules go into the
ClusterRole, or into a Role per watched namespace. The chart's README says why each verb is there.
*/}}
{{- define "dbo.rules" -}}
# Watched by the backup controller; created by policies (schedules, pre-rollout), read by
# restores (spec.source.backupRef), deleted by retention and onPolicyDelete: DeleteBackups.
# patch: the finalizer, added and removed with a JSON patch.
- apiGroups: [dynamobackup.io]
  resources: [dynamobackups]
  verbs: [get, list, watch, create, patch, delete]
# Watched by their controllers; patch: the finalizer.
- apiGroups: [dynamobackup.io]
  resources: [dynamobackuppolicies]
  verbs: [list, watch, patch]
# The same, and delete: a finished restore with ttlAfterFinished deletes itself; create and
# get: a policy's restore drills are DynamoRestores it makes and follows.
- apiGroups: [dynamobackup.io]
  resources: [dynamorestores]
  verbs: [get, list, watch, create, patch, delete]
# Status is written with server-side apply, which is a patch.
- apiGroups: [dynamobackup.io]
  resources: [dynamobackups/status, dynamorestores/status, dynamobackuppolicies/status]
  verbs: [patch]
# Events on the objects: created, then patched when the same event repeats.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# Pre-rollout snapshots: workloads are watched (metadata only) and a selected one is read
# (get) when its generation changes, to hash its pod template; never written.
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [get, list, watch]
{{- end }}
