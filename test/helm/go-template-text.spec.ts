import { parse } from 'yaml';
import {
  blankTemplate,
  definedTemplateNames,
  filesGetPaths,
  includedTemplateNames,
  templateActions,
  valuesPaths,
} from './go-template-text';

describe('go-template-text (the chart checks stand on it)', () => {
  it('finds actions whose strings and comments hold braces', () => {
    const text = 'a: {{ "{{ $labels.pod }}" }} b\n{{/* it\'s }} here */}}\nc: {{ `}}` }}';
    expect(templateActions(text).map((a) => a.body)).toEqual(['{{ "{{ $labels.pod }}" }}', "{{/* it's }} here */}}", '{{ `}}` }}']);
  });

  it('refuses an unclosed action instead of reading past it', () => {
    expect(() => templateActions('a: {{ .Values.x ')).toThrow(/unclosed/);
  });

  it('drops lines made of actions and puts a scalar where an action sits amid text', () => {
    const text = [
      '{{- if .Values.on }}',
      'metadata:',
      '  name: {{ include "n" . }}-metrics',
      '  labels:',
      '    {{- include "labels" . | nindent 4 }}',
      'spec:',
      '  command: ["sleep", "{{ .Values.s }}"]',
      '{{- end }}',
    ].join('\n');
    expect(parse(blankTemplate(text))).toEqual({ metadata: { name: 'x-metrics', labels: null }, spec: { command: ['sleep', 'x'] } });
  });

  it('keeps a broken indentation broken, so the YAML check can fail', () => {
    const text = 'spec:\n  a: 1\n {{ .Values.b }}: 2\n';
    expect(() => parse(blankTemplate(text))).toThrow();
  });

  it('reads .Values paths from actions only, $.Values included, not from strings or comments', () => {
    const text = [
      'a: {{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}',
      '{{- range $k := .Values.list }}{{ $.Values.shutdown.drainMs }}{{ end }}',
      '{{/* .Values.not.this */}}',
      'b: {{ "not .Values.this.either" }}',
      'c: .Values.plain.text',
    ].join('\n');
    expect(valuesPaths(text)).toEqual([['image', 'repository'], ['image', 'tag'], ['list'], ['shutdown', 'drainMs']]);
  });

  it('lists included, defined and read files', () => {
    const text = '{{- define "a.b" -}}{{ include "c.d" . }}{{ template "e" . }}{{ .Files.Get "dashboards/x.json" }}{{- end -}}';
    expect(definedTemplateNames(text)).toEqual(['a.b']);
    expect(includedTemplateNames(text)).toEqual(['c.d', 'e']);
    expect(filesGetPaths(text)).toEqual(['dashboards/x.json']);
  });
});
