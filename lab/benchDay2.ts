/**
 * `npm run bench:day2`: changing a running platform, measured side by side in one run on this
 * machine (three-site lab), written to docs/BENCHMARKS-day2.md. Not a test. Per round:
 *   - config-reload: HAProxy's check interval and work_mem changed and converged through the
 *     steps `pulumi up` runs (lab/converge.ts over SSH): reloads only;
 *   - config-restart: max_connections changed: the cluster step's rolling restart (replicas,
 *     a switchover, the old primary);
 *   - switchover with the stack files' HAProxy checks, and with tuned checks (applied and
 *     taken back through the same steps around the trial), alternating;
 *   - in the first --ops-trials rounds: rotate-certs, rotate-passwords, add-replica,
 *     remove-replica, etcd-member-replace, rotate-ca and package-update (lab/drill.ts).
 * A trial of a series whose goal is no outage that stalls writes over a second keeps every
 * host's logs (BENCH_LOGS) for reading. Options: --trials N (20), --ops-trials M (6). Boots and
 * removes its own lab; refuses to run beside one.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseCommandLine, wholeNumber } from "../ops/args";
import { HaproxyConfig } from "../plan/config";
import { REPO_ROOT } from "../plan/stackFiles";
import { fmt, machine, SeriesRun } from "./bench";
import { applyPlan } from "./lifecycle";
import { drill } from "./drill";
import { labStack } from "./labPlan";
import { down, keepLogs, up } from "./lifecycle";
import { TrialResult } from "./recorder";
import { LabError, progress, run } from "./sh";
import { loadState, requireState } from "./state";
import { summarize } from "./stats";

const DOCS = path.join(REPO_ROOT, "docs");
/** Where the hosts' logs of a trial with an unexpected outage are kept. */
const BENCH_LOGS = "/var/tmp/nextcloud-ha-bench-day2-logs";
/** The series that restart or move the primary: an outage is expected there. */
const MOVES_PRIMARY = ["config-restart", "switchover", "switchover (tuned checks)", "package-update"];

/** The HAProxy checks tried against the stack files' (which stay the default until the figures say otherwise). */
export const TUNED_CHECKS: Partial<HaproxyConfig> = { fastCheckIntervalMs: 100, rise: 1 };

const SERIES = [
    "config-reload",
    "config-restart",
    "switchover",
    "switchover (tuned checks)",
    "rotate-certs",
    "rotate-passwords",
    "add-replica",
    "remove-replica",
    "etcd-member-replace",
    "rotate-ca",
    "package-update",
];
/** The operations: in the first --ops-trials rounds only. */
const OPERATIONS = SERIES.slice(4);

function report(r: SeriesRun, opsTrials: number): void {
    const lines = [
        "# Day-two benchmarks",
        "",
        `Written by \`npm run bench:day2\` (lab/benchDay2.ts) ${r.finished ? "" : "(**partial: the run was still going**) "}on ${r.started.slice(0, 10)} at commit ${r.commit}, ${r.trials} trials of the config and switchover series and ${Math.min(opsTrials, r.trials)} of the operations (rotations, scale), interleaved round by round.`,
        `Machine: ${r.machine}. Three-site lab, project timings (ttl 20, loop_wait 5, retry_timeout 5), no WAN delay (no netem in this kernel).`,
        "",
        "Every change goes the way `pulumi up` takes it: the stack config changed, each affected host's converge step and the cluster's step run over SSH as the stacks' sshUser (lab/converge.ts, the scripts of render/converge.ts and render/patroniCluster.ts). Writers: 4 connections through the primary site's HAProxy, one INSERT each every 20 ms, ids made by the writer. Outage: the longest time without an acknowledged write around the change. Lost: acknowledged ids missing afterwards. Split-brain: samples (every 100 ms on every PostgreSQL) with two writable members.",
        "",
        "- config-reload: `haproxy.checkIntervalMs` +500 ms (both HAProxy hosts check and reload; the new workers start from the saved server state) and `patroni.parameters.work_mem` (Patroni reloads PostgreSQL); each trial flips between the two values.",
        "- config-restart: `patroni.parameters.max_connections` +10: the cluster step restarts the replica, switches over (gates: the synchronous standby streaming with lag under `maximum_lag_on_failover`, no transaction open over 15 s), restarts the old primary. Each trial flips the value; the drill puts the stack files' value back afterwards, outside the measurement.",
        `- switchover: Patroni's REST switchover to the synchronous standby, with the stack files' HAProxy checks (default \`fastCheckIntervalMs 250, rise 2\`) and with tuned checks (\`${Object.entries(
            TUNED_CHECKS,
        )
            .map(([k, v]) => `${k} ${v}`)
            .join(", ")}\`, applied through the converge steps before the trial and taken back after).`,
        "- rotate-certs: every host's key and certificate renewed from the same CA and delivered (etcd restarted one member at a time, Patroni and PostgreSQL reloaded); then every etcd member and every PostgreSQL must present its new certificate.",
        "- rotate-passwords: the superuser, replication, rewind, REST and app passwords rotated at once: the roles step on the primary, then every member's Patroni config (reload) and the app's; then each role's new password must work and its old one not, likewise the REST API's, and each replica's own credentials must get through.",
        "- add-replica: a Patroni member added to the primary site (the lab boots it as cloud-init would, its steps start Patroni, which clones from the leader; HAProxy reloads); it must stream within three minutes. Its removal after the trial is outside the measurement.",
        "- remove-replica: that member (added before the writer starts) dropped from the plan: HAProxy lets it go, its leave step tags it nofailover/nosync/noloadbalance and stops it, the lab removes its host; it must be gone from the cluster and its slot unused.",
        "- rotate-ca: the deployment CA rotated in its three rounds (both trusted, the new one signs, only the new one trusted), each converged through the steps; the next trial rotates back. Then every etcd member must present the new CA's certificate and refuse the old CA's.",
        "- package-update: a newer `patroni` (Debian's own, re-versioned, from a local repository on every host: the lab reaches no mirror) upgraded by apt and dpkg with dpkg's restarts held; each member restarted in turn, a leader handing over first. Then every member must run it in a new Patroni process.",
        "- etcd-member-replace: the primary site's etcd member swapped for a new host in one change (the next trial swaps it back): the new one's step adds it (`etcdctl member add`) and starts it as an existing member, Patroni reloads with the new etcd hosts, the old one's leave step hands over etcd's leadership if it holds it, removes it and stops it; etcd must then have exactly the plan's members, all healthy.",
        "",
        "| series | trials | min | median | p95 | max | unit | lost / split-brain / failed trials |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ...SERIES.map((name) => {
            const ts = r.series[name] ?? [];
            const s = summarize(ts.map((t) => t.outage));
            const sum = (f: (t: TrialResult) => number) => ts.reduce((a, t) => a + f(t), 0);
            return `| ${name}: write outage | ${s.n} | ${fmt(s)} | s | ${sum((t) => t.missing)} / ${sum((t) => t.splitBrainMoments)} / ${ts.filter((t) => !t.ok).length} |`;
        }),
        "",
        "## Every trial",
        "",
        "| series | trial | outage s | acknowledged | lost | split-brain samples | leader | problems |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ...SERIES.flatMap((name) =>
            (r.series[name] ?? []).map(
                (t) =>
                    `| ${name} | ${t.trial} | ${t.outage.toFixed(2)} | ${t.acknowledged} | ${t.missing} | ${t.splitBrainMoments} | ${t.oldLeader} -> ${t.newLeader ?? "?"} | ${t.problems.join("; ")} |`,
            ),
        ),
    ];
    fs.mkdirSync(DOCS, { recursive: true });
    fs.writeFileSync(path.join(DOCS, "BENCHMARKS-day2.md"), lines.join("\n") + "\n");
}

/** Applies the stack files' config, with `checks` over its HAProxy settings, to the running lab. */
async function withChecks(checks: Partial<HaproxyConfig>): Promise<void> {
    const state = requireState();
    await applyPlan(state, labStack(state.topology, (c) => ({ ...c, haproxy: { ...c.haproxy, ...checks } })).plan, () => undefined);
}

async function main(): Promise<void> {
    const usage = `usage: npm run bench:day2 -- [--trials N] [--ops-trials M]
  boots its own three-site lab (refuses to run beside one): config-reload, config-restart,
  switchover with the stack files' and with tuned HAProxy checks, --trials each (20); in the
  first --ops-trials rounds (6) also rotate-certs, rotate-passwords, add-replica,
  remove-replica, etcd-member-replace, rotate-ca and package-update; interleaved; writes docs/BENCHMARKS-day2.md. About
  2 minutes a round, 7 with the operations.`;
    const { values } = parseCommandLine("bench:day2", usage, process.argv.slice(2), { trials: { type: "string" }, "ops-trials": { type: "string" } });
    const trials = wholeNumber("bench:day2", "trials", values.trials, 20, 1, 1000);
    const opsTrials = wholeNumber("bench:day2", "ops-trials", values["ops-trials"], 6, 0, 1000);
    if (loadState()) throw new LabError("a lab is running; this benchmark boots its own: run `npm run lab -- down` first");
    const r: SeriesRun = {
        machine: machine(),
        started: new Date().toISOString(),
        commit: run("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"]).trim(),
        trials,
        series: Object.fromEntries(SERIES.map((s) => [s, []])),
        finished: false,
    };
    const one = async (series: string, scenario: string, n: number) => {
        const t = (await drill(scenario, { trials: 1, say: () => undefined })).trials[0];
        r.series[series].push({ ...t, trial: n });
        const kept = !MOVES_PRIMARY.includes(series) && t.outage > 1 ? keepLogs(requireState(), path.join(BENCH_LOGS, `${series}-${n}`)) : undefined;
        progress(
            `${series} ${n}/${OPERATIONS.includes(series) ? Math.min(opsTrials, trials) : trials}: ${t.outage.toFixed(2)} s, lost ${t.missing}${t.ok ? "" : ` FAIL ${t.problems.join("; ")}`}${kept ? ` (unexpected outage: hosts' logs kept in ${kept})` : ""}`,
        );
        report(r, opsTrials);
    };
    try {
        await up({ topology: "three-site" });
        for (let n = 1; n <= trials; n++) {
            await one("config-reload", "config-reload", n);
            await one("config-restart", "config-restart", n);
            const order = n % 2 ? [false, true] : [true, false];
            for (const tuned of order) {
                if (tuned) await withChecks(TUNED_CHECKS);
                await one(tuned ? "switchover (tuned checks)" : "switchover", "switchover", n);
                if (tuned) await withChecks({});
            }
            if (n <= opsTrials) for (const scenario of OPERATIONS) await one(scenario, scenario, n);
        }
        r.finished = true;
        report(r, opsTrials);
        progress(`wrote ${path.join(DOCS, "BENCHMARKS-day2.md")}`);
    } finally {
        await down({ quiet: true });
    }
}

main().catch((e) => {
    console.error(`bench:day2: ${(e as Error).message}`);
    process.exit(1);
});
