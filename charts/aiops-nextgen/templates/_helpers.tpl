{{/* Comma list of the collectors enabled in values.agent.collectors. */}}
{{- define "aiops.enabledCollectors" -}}
{{- $on := list -}}
{{- range $name, $enabled := .Values.agent.collectors -}}
{{- if $enabled }}{{- $on = append $on $name -}}{{- end -}}
{{- end -}}
{{- join "," $on -}}
{{- end -}}
