/**
 * `npm run bench:isolation`: the primary's host cut off from the network, measured side by side
 * for two sets of PostgreSQL parameters in one run on this machine, written to
 * docs/BENCHMARKS-isolation.md. Not a test. Each trial is the primary-isolation drill: the
 * write outage, and how long after the cut heals the old primary streams from the new leader
 * (a demoted primary first has to stop, and its walsenders may wait on a standby it cannot
 * reach). The sets alternate; each is put in force with Patroni's PATCH /config (a reload).
 * Each set runs with each cut length: the cut heals a hold after the new leader takes writes.
 * Options: --trials N (3 per set and hold), --a and --b: "name=value,..." (default: PostgreSQL's
 * wal_sender_timeout of 60s against the platform's rendered parameters), --holds S,S (5,20).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "../plan/stackFiles";
import { dynamicConfig } from "../render/patroni";
import { fmt, machine } from "./bench";
import { drill, patchClusterConfig } from "./drill";
import { down, up } from "./lifecycle";
import { TrialResult } from "./recorder";
import { parseCommandLine, wholeNumber } from "../ops/args";
import { LabError, progress, run } from "./sh";
import { loadState, requireState } from "./state";
import { summarize } from "./stats";

const DOCS = path.join(REPO_ROOT, "docs");
const OUT = path.join(DOCS, "BENCHMARKS-isolation.md");

const USAGE = `usage: npm run bench:isolation -- [--trials N] [--a "name=value,..."] [--b "name=value,..."] [--holds S,S]
  boots its own three-site lab (refuses to run beside one) and runs primary-isolation --trials
  times (3) under each of two PostgreSQL parameter sets and each hold (--holds, seconds the cut
  stays after the new leader takes writes: 5,20), the sets alternating; writes
  docs/BENCHMARKS-isolation.md. --a defaults to wal_sender_timeout=60s (PostgreSQL's default),
  --b to the platform's own value of every name --a sets. About 2 minutes a trial.`;

/** "name=value,..." as parameters; one line naming the flag on a malformed entry. */
export function parseParameters(flag: string, text: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const entry of text.split(",").map((e) => e.trim())) {
        const m = /^([a-z_][a-z0-9_]*)=([^=\s]+)$/.exec(entry);
        if (!m) throw new LabError(`bench:isolation: --${flag}: "${entry}" is not name=value (e.g. wal_sender_timeout=30s)`);
        out[m[1]] = m[2];
    }
    return out;
}

interface Variant {
    label: string;
    parameters: Record<string, string>;
    holdS: number;
    trials: TrialResult[];
}

const describe = (p: Record<string, string>) =>
    Object.entries(p)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ");

function report(variants: Variant[], meta: { machine: string; started: string; commit: string; trials: number; finished: boolean }): void {
    const row = (parameters: string, figure: string, values: number[], note: string) => {
        const s = summarize(values);
        return `| ${parameters} | ${figure} | ${s.n} | ${s.n ? fmt(s) : "- | - | - | -"} | s | ${note} |`;
    };
    const lines = [
        "# Isolation benchmarks: the old primary's return",
        "",
        `Written by \`npm run bench:isolation\` (lab/benchIsolation.ts) ${meta.finished ? "" : "(**partial: the run was still going**) "}on ${meta.started.slice(0, 10)} at commit ${meta.commit}, ${meta.trials} trials per parameter set and hold, the sets alternating in one run.`,
        `Machine: ${meta.machine}.`,
        "",
        "Each trial is the primary-isolation drill (three-site, project timings ttl 20, loop_wait 5, retry_timeout 5): the primary's host loses its network while 4 writers write through the other data site; once a new leader takes writes, and the hold more (5 s as in the integration test, or longer), the cut heals and the writers go on for 15 s. Outage: seconds without an acknowledged write. Back: from the heal to Patroni reporting the old primary streaming from the new leader (it must first finish stopping: a demoted primary's walsenders try to send the rest of the WAL to standbys it cannot reach). Lost and split-brain as in docs/BENCHMARKS.md. Each set is put in force with Patroni's `PATCH /config` before its trial.",
        "",
        "| parameters, hold | figure | trials | min | median | p95 | max | unit | lost / split-brain / failed trials |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ...variants.flatMap((v) => [
            row(
                v.label,
                "write outage",
                v.trials.map((t) => t.outage),
                `${v.trials.reduce((a, t) => a + t.missing, 0)} / ${v.trials.reduce((a, t) => a + t.splitBrainMoments, 0)} / ${v.trials.filter((t) => !t.ok).length}`,
            ),
            row(v.label, "old primary streaming again after the heal", v.trials.map((t) => t.extra?.oldPrimaryBack ?? NaN).filter(Number.isFinite), ""),
        ]),
        "",
        "## Every trial",
        "",
        "| parameters, hold | trial | outage s | old primary back s | acknowledged | lost | split-brain samples | leader | problems |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ...variants.flatMap((v) =>
            v.trials.map(
                (t) =>
                    `| ${v.label} | ${t.trial} | ${t.outage.toFixed(2)} | ${t.extra?.oldPrimaryBack ?? "-"} | ${t.acknowledged} | ${t.missing} | ${t.splitBrainMoments} | ${t.oldLeader} -> ${t.newLeader ?? "?"} | ${t.problems.join("; ")} |`,
            ),
        ),
    ];
    fs.mkdirSync(DOCS, { recursive: true });
    fs.writeFileSync(OUT, lines.join("\n") + "\n");
}

async function main(): Promise<void> {
    const { values } = parseCommandLine("bench:isolation", USAGE, process.argv.slice(2), {
        trials: { type: "string" },
        a: { type: "string" },
        b: { type: "string" },
        holds: { type: "string" },
    });
    const trials = wholeNumber("bench:isolation", "trials", values.trials, 3, 1, 1000);
    const holds = (values.holds ?? "5,20").split(",").map((h) => wholeNumber("bench:isolation", "holds", h.trim(), 5, 0, 600));
    const a = parseParameters("a", values.a ?? "wal_sender_timeout=60s");
    if (loadState()) throw new LabError("a lab is running; this benchmark boots its own: run `npm run lab -- down` first");
    const commit = run("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"]).trim();
    const meta = { machine: machine(), started: new Date().toISOString(), commit, trials, finished: false };
    try {
        await up({});
        const state = requireState();
        // The platform's own values of the same names, as rendered (Patroni's dynamic configuration).
        const rendered = (dynamicConfig(state.plan, state.plan.patroniClusters[0]) as { postgresql: { parameters: Record<string, string | number> } })
            .postgresql.parameters;
        const b = values.b
            ? parseParameters("b", values.b)
            : Object.fromEntries(
                  Object.keys(a)
                      .map((k) => [k, String(rendered[k] ?? "")])
                      .filter(([, v]) => v !== ""),
              );
        if (Object.keys(b).length === 0) throw new LabError(`bench:isolation: the platform sets none of ${Object.keys(a).join(", ")}; give --b`);
        const variants: Variant[] = holds.flatMap((holdS) => [
            { label: `${describe(a)}, hold ${holdS} s`, parameters: a, holdS, trials: [] },
            { label: `${describe(b)}${values.b ? "" : " (the platform's)"}, hold ${holdS} s`, parameters: b, holdS, trials: [] },
        ]);
        for (let n = 1; n <= trials; n++) {
            for (const v of n % 2 ? variants : [...variants].reverse()) {
                await patchClusterConfig(requireState(), { postgresql: { parameters: v.parameters } });
                const t = (await drill("primary-isolation", { trials: 1, say: () => undefined, faultHoldMs: v.holdS * 1000 })).trials[0];
                v.trials.push({ ...t, trial: n });
                progress(
                    `${v.label} ${n}/${trials}: outage ${t.outage.toFixed(2)} s, old primary back ${t.extra?.oldPrimaryBack ?? "?"} s, lost ${t.missing}${t.ok ? "" : ` FAIL ${t.problems.join("; ")}`}`,
                );
                report(variants, meta);
            }
        }
        meta.finished = true;
        report(variants, meta);
        progress(`wrote ${OUT}`);
    } finally {
        await down({ quiet: true });
    }
}

main().catch((e) => {
    console.error(`bench:isolation: ${(e as Error).message}`);
    process.exit(1);
});
