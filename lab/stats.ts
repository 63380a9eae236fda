/** Summaries of repeated measurements, as the benchmarks report them. Pure. */

export interface Summary {
    n: number;
    min: number;
    median: number;
    p95: number;
    max: number;
}

/** Nearest-rank percentile of a sample (p in 0..100). */
export function percentile(sorted: number[], p: number): number {
    if (sorted.length === 0) return NaN;
    const rank = Math.ceil((p / 100) * sorted.length);
    return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function summarize(values: number[]): Summary {
    const s = [...values].sort((a, b) => a - b);
    const median = s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    return { n: s.length, min: s[0] ?? NaN, median, p95: percentile(s, 95), max: s[s.length - 1] ?? NaN };
}
