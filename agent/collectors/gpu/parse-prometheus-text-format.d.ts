// Types for parse-prometheus-text-format 1.1 (ships none). Output follows prom2json.
declare module 'parse-prometheus-text-format' {
  export interface PromMetric {
    readonly value?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly timestamp_ms?: string;
    readonly buckets?: Readonly<Record<string, string>>;
    readonly quantiles?: Readonly<Record<string, string>>;
    readonly count?: string;
    readonly sum?: string;
  }
  export interface PromFamily {
    readonly name: string;
    readonly help: string;
    readonly type: 'GAUGE' | 'COUNTER' | 'UNTYPED' | 'HISTOGRAM' | 'SUMMARY';
    readonly metrics: readonly PromMetric[];
  }
  function parsePrometheusTextFormat(text: string): PromFamily[];
  // eslint-disable-next-line no-restricted-syntax -- describes the library's own default export
  export default parsePrometheusTextFormat;
}
