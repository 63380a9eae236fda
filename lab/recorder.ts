/**
 * The trial recorder: what every drill measures, computed from what its probes saw. A writer
 * reports every write it tried (acknowledged or failed); a watcher on every PostgreSQL
 * reports every 100 ms whether that member accepts writes; afterwards the drill reads back
 * which ids the database holds. From these alone: the write outage, the acknowledged writes
 * that are missing, the moments with two writable members, and the members that were never
 * observed when they had to be (a watcher that cannot connect must fail the trial, not
 * pass it as "no split-brain"). Pure; tested with synthetic event streams.
 */

/** One write the writer tried: started at `t`, finished at `done` (epoch seconds). */
export interface WriteEvent {
    t: number;
    done: number;
    ok: boolean;
    /** The id the database acknowledged (a number through HAProxy, a string through NGINX). */
    id?: number | string;
    /** Which writer connection. */
    w: number;
    err?: string;
}

/** One watcher sample: whether the member accepted writes; null when it could not be asked. */
export interface WatchEvent {
    t: number;
    member: string;
    writable: boolean | null;
}

/** A span of the trial in which every member must be observed (asked and answered) at least once. */
export interface ObserveWindow {
    from: number;
    to: number;
    /** What the span is, for the message ("before the fault", "after the heal"). */
    what: string;
    /** Who must be observed in it, when not every watched member (one that left the cluster on purpose is not). */
    members?: string[];
}

export interface TrialInput {
    /** When the fault was injected (epoch seconds). */
    faultAt: number;
    writes: WriteEvent[];
    /** The ids the database holds afterwards. */
    stored: Iterable<number | string>;
    watches: WatchEvent[];
    /** Every member that was watched. */
    members: string[];
    observeWindows: ObserveWindow[];
    /** How long a member's last sample stands for it (its watcher dies with a killed host). */
    staleAfter?: number;
}

export interface TrialFindings {
    acknowledged: number;
    /** Acknowledged ids the database does not hold. */
    missing: (number | string)[];
    /** Seconds without a successful write after the fault; Infinity when writes never recovered. */
    outage: number;
    /** Samples in which more than one member was writable. */
    splitBrain: { t: number; members: string[] }[];
    /** Members with no answered sample in a window where they had to be observed. */
    unobserved: { member: string; window: string }[];
    /** One line per finding that fails the trial. */
    problems: string[];
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

/** Members without an answered sample (writable true or false) inside each window. */
export function unobservedMembers(events: WatchEvent[], members: string[], windows: ObserveWindow[]): { member: string; window: string }[] {
    return windows.flatMap((w) =>
        (w.members ?? members)
            .filter((m) => !events.some((e) => e.member === m && e.writable !== null && e.t >= w.from && e.t <= w.to))
            .map((member) => ({ member, window: w.what })),
    );
}

/** Everything a trial found; `problems` is empty when it lost nothing, saw one primary at a time, recovered and observed every member. */
export function assessTrial(input: TrialInput): TrialFindings {
    const acked = [...new Set(input.writes.filter((e) => e.ok && e.id !== undefined).map((e) => e.id!))];
    const stored = new Set<number | string>(input.stored);
    const missing = acked.filter((id) => !stored.has(id));
    const { outage } = writeOutage(input.writes, input.faultAt);
    const splitBrain = splitBrainMoments(input.watches, input.staleAfter);
    const unobserved = unobservedMembers(input.watches, input.members, input.observeWindows);
    const problems: string[] = [];
    if (acked.length === 0) problems.push("the writer had no write acknowledged: nothing was measured");
    if (missing.length > 0)
        problems.push(`${missing.length} acknowledged writes lost (ids ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""})`);
    if (splitBrain.length > 0) {
        problems.push(
            `split-brain: ${splitBrain[0].members.join(" and ")} both writable at ${new Date(splitBrain[0].t * 1000).toISOString()} (${splitBrain.length} samples)`,
        );
    }
    if (!Number.isFinite(outage)) problems.push("writes never recovered");
    for (const u of unobserved)
        problems.push(`unobserved: no answer from ${u.member}'s watcher ${u.window}, so a second writable primary there would have gone unseen`);
    return { acknowledged: acked.length, missing, outage: Math.round(outage * 1000) / 1000, splitBrain, unobserved, problems };
}

/** One trial of a drill, as the CLI, the tests and the benchmarks report it. */
export interface TrialResult {
    scenario: string;
    trial: number;
    /** No problem (for a canary: the recorder reported the loss it was built to cause). */
    ok: boolean;
    oldLeader: string;
    newLeader?: string;
    /** The host or site the fault hit. */
    target: string;
    /** etcd's raft leader (of the leader's Patroni cluster) when the fault landed. */
    etcdLeader?: string;
    /** Seconds without a successful write. */
    outage: number;
    acknowledged: number;
    missing: number;
    splitBrainMoments: number;
    problems: string[];
    /** Figures a scenario measures besides the outage (dc-promotion: rejoin, planned move back, unshipped writes). */
    extra?: Record<string, number>;
}

/** A trial's result from the recorder's findings and what the drill itself checked. */
export function trialResult(
    base: Pick<TrialResult, "scenario" | "trial" | "oldLeader" | "newLeader" | "target" | "etcdLeader" | "extra">,
    findings: TrialFindings,
    drillProblems: string[] = [],
): TrialResult {
    const problems = [...findings.problems, ...drillProblems];
    return {
        ...base,
        ok: problems.length === 0,
        outage: findings.outage,
        acknowledged: findings.acknowledged,
        missing: findings.missing.length,
        splitBrainMoments: findings.splitBrain.length,
        problems,
    };
}
