/**
 * The trial recorder with synthetic event streams: each finding it must report (an outage, a
 * lost write, two writable members, a member never observed) is put in on purpose and must
 * come out; a clean stream must come out clean. No lab needed.
 */
import { assessTrial, TrialInput, WatchEvent, WriteEvent } from "../../lab/recorder";

const T0 = 1_000_000;

/** A writer acknowledging a write every 20 ms from `from` to `to` (seconds after T0), ids from `firstId`. */
function writes(from: number, to: number, firstId: number): WriteEvent[] {
    const out: WriteEvent[] = [];
    for (let i = 0; i < Math.round((to - from) / 0.02); i++)
        out.push({ t: T0 + from + i * 0.02, done: T0 + from + i * 0.02 + 0.005, ok: true, id: firstId + i, w: 0 });
    return out;
}

/** Failed writes every 100 ms over a span. */
function failures(from: number, to: number): WriteEvent[] {
    const out: WriteEvent[] = [];
    for (let i = 0; i < Math.round((to - from) / 0.1); i++)
        out.push({ t: T0 + from + i * 0.1, done: T0 + from + i * 0.1 + 0.01, ok: false, w: 0, err: "connection refused" });
    return out;
}

/** A watcher sampling every 100 ms over a span, always answering `writable`. */
function watch(member: string, from: number, to: number, writable: boolean | null): WatchEvent[] {
    const out: WatchEvent[] = [];
    for (let i = 0; i < Math.round((to - from) / 0.1); i++) out.push({ t: T0 + from + i * 0.1, member, writable });
    return out;
}

/** A clean failover: db1 primary until 10 s, writes fail 10-25 s, db2 primary from 25 s; every id stored. */
function clean(): TrialInput {
    const w = [...writes(0, 10, 1), ...failures(10, 25), ...writes(25, 40, 1000)];
    return {
        faultAt: T0 + 10,
        writes: w,
        stored: w.filter((e) => e.ok).map((e) => e.id!),
        watches: [...watch("db1", 0, 10, true), ...watch("db1", 30, 40, false), ...watch("db2", 0, 25, false), ...watch("db2", 25, 40, true)],
        members: ["db1", "db2"],
        observeWindows: [
            { from: T0, to: T0 + 10, what: "before the fault" },
            { from: T0 + 30, to: T0 + 40, what: "after the heal" },
        ],
    };
}

test("a clean failover: the outage measured, nothing lost, no split-brain, every member observed", () => {
    const f = assessTrial(clean());
    expect(f.problems).toEqual([]);
    expect(f.acknowledged).toBe(500 + 750);
    expect(f.missing).toEqual([]);
    expect(f.splitBrain).toEqual([]);
    expect(f.unobserved).toEqual([]);
    // From the first failure (10 s) to the end of the first write after it (25.005 s).
    expect(f.outage).toBeCloseTo(15.005, 2);
});

test("a known outage: a longer gap gives a longer outage, a gap with no recovery gives Infinity", () => {
    const longer = clean();
    longer.writes = [...writes(0, 10, 1), ...failures(10, 31.5), ...writes(31.5, 40, 1000)];
    longer.stored = longer.writes.filter((e) => e.ok).map((e) => e.id!);
    expect(assessTrial(longer).outage).toBeCloseTo(21.505, 2);
    const never = clean();
    never.writes = [...writes(0, 10, 1), ...failures(10, 40)];
    never.stored = never.writes.filter((e) => e.ok).map((e) => e.id!);
    const f = assessTrial(never);
    expect(f.outage).toBe(Infinity);
    expect(f.problems).toContain("writes never recovered");
});

test("a known missing id is reported by its id", () => {
    const input = clean();
    input.stored = [...input.stored].filter((id) => id !== 42 && id !== 43);
    const f = assessTrial(input);
    expect(f.missing).toEqual([42, 43]);
    expect(f.problems).toEqual(["2 acknowledged writes lost (ids 42, 43)"]);
});

test("a known overlap of two writable members is reported as split-brain", () => {
    const input = clean();
    // db1 still writable from 25 to 27 s while db2 already is.
    input.watches = [...input.watches, ...watch("db1", 25, 27, true)];
    const f = assessTrial(input);
    expect(f.splitBrain.length).toBeGreaterThan(10);
    expect(f.splitBrain[0].members).toEqual(["db1", "db2"]);
    expect(f.splitBrain[0].t).toBeGreaterThanOrEqual(T0 + 25);
    expect(f.problems.join("\n")).toMatch(/^split-brain: db1 and db2 both writable/m);
});

test("a member's last sample goes stale: a killed primary's watcher does not count as writable forever", () => {
    const input = clean();
    // db1's watcher dies at 10 s (its host killed) with its last sample writable; db2 becomes writable at 25 s.
    expect(assessTrial(input).splitBrain).toEqual([]);
});

test("a member never observed fails the trial as unobserved, not as a pass", () => {
    const input = clean();
    // db2's watcher never connects: every sample is null.
    input.watches = [...input.watches.filter((e) => e.member !== "db2"), ...watch("db2", 0, 40, null)];
    const f = assessTrial(input);
    expect(f.splitBrain).toEqual([]); // nothing seen, so nothing to see: exactly why it must not pass
    expect(f.unobserved).toEqual([
        { member: "db2", window: "before the fault" },
        { member: "db2", window: "after the heal" },
    ]);
    expect(f.problems.join("\n")).toContain("unobserved: no answer from db2's watcher before the fault");
});

test("a member observed before the fault but not after the heal is unobserved after the heal", () => {
    const input = clean();
    input.watches = input.watches.filter((e) => !(e.member === "db1" && e.t > T0 + 10));
    expect(assessTrial(input).unobserved).toEqual([{ member: "db1", window: "after the heal" }]);
});

test("a window that names its members asks only for those: a member removed on purpose is not unobserved after it left; one still named is", () => {
    const input = clean();
    input.watches = input.watches.filter((e) => !(e.member === "db1" && e.t > T0 + 10));
    input.observeWindows[1].members = ["db2"];
    expect(assessTrial(input).unobserved).toEqual([]);
    input.observeWindows[1].members = ["db1", "db2"];
    expect(assessTrial(input).unobserved).toEqual([{ member: "db1", window: "after the heal" }]);
});

test("a writer that never got a write acknowledged measured nothing and fails the trial", () => {
    const input = clean();
    input.writes = failures(0, 40);
    input.stored = [];
    expect(assessTrial(input).problems).toContain("the writer had no write acknowledged: nothing was measured");
});

test("ids through NGINX are strings and count the same way", () => {
    const input = clean();
    input.writes = input.writes.map((e) => (e.ok ? { ...e, id: `trial-0-${e.id}` } : e));
    input.stored = input.writes.filter((e) => e.ok && e.id !== "trial-0-7").map((e) => e.id!);
    expect(assessTrial(input).missing).toEqual(["trial-0-7"]);
});
