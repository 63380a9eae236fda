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

export interface WriteEvent {
    t: number;
    done: number;
    ok: boolean;
    id?: number | string;
    w: number;
    err?: string;
}

/**
 * The write outage a fault caused, in seconds: from the first write that failed after the
 * fault (or the fault itself, when that write had started just before it) to the end of
 * the first successful write started after that failure was reported. Writes that hang
 * without failing count by their longest hang when it exceeds a second.
 */
export function writeOutage(events: WriteEvent[], faultAt: number): { outage: number; firstFailure?: number; recovered?: number } {
    const failures = events.filter((e) => !e.ok && e.done >= faultAt).sort((a, b) => a.t - b.t);
    if (failures.length === 0) {
        const slowest = events.filter((e) => e.ok && e.done >= faultAt).reduce((m, e) => Math.max(m, e.done - Math.max(e.t, faultAt)), 0);
        return { outage: slowest > 1 ? slowest : 0 };
    }
    const first = failures[0];
    const start = Math.max(faultAt, first.t);
    const recovered = events.filter((e) => e.ok && e.t >= first.done).sort((a, b) => a.t - b.t)[0];
    return { outage: recovered ? recovered.done - start : Infinity, firstFailure: start, recovered: recovered?.done };
}

export interface WatchEvent {
    t: number;
    member: string;
    writable: boolean | null;
}

/**
 * Moments when more than one PostgreSQL accepted writes at once. A member's last sample
 * stands for at most `staleAfter` seconds (a killed host's probe dies with it).
 */
export function splitBrainMoments(events: WatchEvent[], staleAfter = 0.5): { t: number; members: string[] }[] {
    const latest = new Map<string, WatchEvent>();
    const moments: { t: number; members: string[] }[] = [];
    for (const e of [...events].sort((a, b) => a.t - b.t)) {
        latest.set(e.member, e);
        const writable = [...latest.values()].filter((x) => x.writable === true && e.t - x.t <= staleAfter).map((x) => x.member);
        if (writable.length > 1) moments.push({ t: e.t, members: writable.sort() });
    }
    return moments;
}
