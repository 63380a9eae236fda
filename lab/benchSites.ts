/**
 * `npm run bench:sites`: losing a whole site, measured side by side in one run on this
 * machine, written to docs/BENCHMARKS-sites.md and docs/sites-chart.svg. Not a test.
 *   - three-site: site-loss (every host of the primary's site killed) with etcd's leader keeper
 *     on (the leadership on the witness) and off (stopped, the leadership moved into the
 *     primary's site: the case the keeper exists to prevent), alternating with primary-host-loss
 *     (the primary's host alone), automatic failover all; then the keeper's own drills, the
 *     witness lost and back (witness-loss) and a flapping witness (witness-flap); then site-loss
 *     (keeper on) and host-loss again in a second lab booted with etcd.auth off: what etcd's
 *     users and roles cost a failover;
 *   - two-site: dc-promotion (the active site lost, then `promote`; the figure runs from
 *     the command to the first write the other site accepts), with the rejoin of the lost
 *     site as a standby and the planned move back.
 * Options: --trials N (10), --keeper-trials N (3). Boots and removes its own labs; refuses to run beside one.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "../plan/stackFiles";
import { chartSvg, fmt, machine, SeriesRun } from "./bench";
import { hostByName } from "../plan/plan";
import { ETCD_LEADER_SERVICE } from "../render/etcd";
import { etcdLeader, etcdMoveLeader, leaderOf, patroniMembers } from "./cluster";
import { drill } from "./drill";
import { down, up } from "./lifecycle";
import { TrialResult } from "./recorder";
import { parseCommandLine, wholeNumber } from "../ops/args";
import { controlService } from "./services";
import { LabError, progress, run, waitFor } from "./sh";
import { loadState, requireState } from "./state";
import { summarize } from "./stats";

const DOCS = path.join(REPO_ROOT, "docs");

function row(label: string, values: number[], unit: string, note = ""): string {
    if (values.length === 0) return `| ${label} | 0 | | | | | ${unit} | not run |`;
    const s = summarize(values);
    return `| ${label} | ${s.n} | ${fmt(s)} | ${unit} | ${note} |`;
}

/** The three-site series: site loss with the keeper on and off, host loss beside them. */
const KEEPER_ON = "site-loss, keeper on";
const KEEPER_OFF = "site-loss, keeper off";
/** The same two failovers in a lab booted with etcd.auth off (every other series runs with it on, the default). */
const AUTH_OFF_SITE = "site-loss, keeper on, etcd auth off";
const AUTH_OFF_HOST = "primary-host-loss, etcd auth off";

/** `siteOf`: each three-site host's site, from the lab's plan. */
function report(r: SeriesRun, siteOf: Record<string, string>): void {
    const sum = (ts: TrialResult[], f: (t: TrialResult) => number) => ts.reduce((a, t) => a + f(t), 0);
    const tally = (ts: TrialResult[]) => `${sum(ts, (t) => t.missing)} / ${sum(ts, (t) => t.splitBrainMoments)} / ${ts.filter((t) => !t.ok).length}`;
    const hostLoss = r.series["primary-host-loss"] ?? [];
    const on = r.series[KEEPER_ON] ?? [];
    const off = r.series[KEEPER_OFF] ?? [];
    const promo = r.series["dc-promotion"] ?? [];
    const [authOffSite, authOffHost] = [r.series[AUTH_OFF_SITE] ?? [], r.series[AUTH_OFF_HOST] ?? []];
    const x = (ts: TrialResult[], k: string) => ts.map((t) => t.extra?.[k] ?? NaN).filter(Number.isFinite);
    const inLostSite = (t: TrialResult) => t.etcdLeader !== undefined && siteOf[t.etcdLeader] === t.target;
    const [pOn, pHost] = [summarize(on.map((t) => t.outage)), summarize(hostLoss.map((t) => t.outage))];
    const goal =
        on.length && hostLoss.length
            ? `Goal: site-loss p95 with the keeper no more than host-loss p95 + 1 s: ${pOn.p95.toFixed(2)} s against ${(pHost.p95 + 1).toFixed(2)} s, **${pOn.p95 <= pHost.p95 + 1 ? "met" : "not met"}**.`
            : "";
    const lines = [
        "# Site-loss benchmarks",
        "",
        `Written by \`npm run bench:sites\` (lab/benchSites.ts) ${r.finished ? "" : "(**partial: the run was still going**) "}on ${r.started.slice(0, 10)} at commit ${r.commit}, ${r.trials} trials per site-loss, host-loss and promotion scenario.`,
        `Machine: ${r.machine}. No WAN delay between the sites (this kernel has no netem), so the figures and the unshipped-write counts are what a LAN-close pair of sites would see; across a real WAN, asynchronous replication lags further.`,
        "",
        "Writers: 4 connections, one INSERT each every 20 ms, each write with an id the writer makes (a sequence's ids would be handed out again after a failover and hide a lost write). Lost: acknowledged ids missing afterwards. Split-brain: samples (every 100 ms on every PostgreSQL) with two writable members.",
        "",
        "## Three-site: automatic failover (project timings ttl 20, loop_wait 5, retry_timeout 5)",
        "",
        "Site loss kills every host of the primary's site at once (its Patroni member, its etcd member, its HAProxy); the writer runs through the other data site's HAProxy. With the keeper on, etcd's raft leadership is on the witness when the site goes. With the keeper off (its service stopped for the trial), the leadership is moved into the primary's site first (`etcdctl move-leader`): the case the keeper prevents, where the new etcd leader renews every lease, Patroni's leader key included, and the failover waits for it. Host loss kills the primary's host alone (keeper on). Trials alternate.",
        "",
        "| scenario | trials | min | median | p95 | max | unit | lost / split-brain / failed trials |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        row(
            `${KEEPER_ON}: write outage`,
            on.map((t) => t.outage),
            "s",
            `${tally(on)}; etcd leader outside the lost site in ${on.filter((t) => t.etcdLeader && !inLostSite(t)).length} of ${on.length}`,
        ),
        row(
            `${KEEPER_OFF}: write outage`,
            off.map((t) => t.outage),
            "s",
            `${tally(off)}; etcd leader in the lost site in ${off.filter(inLostSite).length} of ${off.length}`,
        ),
        row(
            "primary-host-loss: write outage",
            hostLoss.map((t) => t.outage),
            "s",
            tally(hostLoss),
        ),
        "",
        goal,
        "",
        "## Three-site: what etcd's auth costs a failover",
        "",
        "The platform's default is `etcd.auth` on: each Patroni cluster logs in to etcd as its own user whose role reaches its own keys only (docs/design/security.md). After the series above, the benchmark boots a second three-site lab with `etcd.auth` off and runs site loss (keeper on) and host loss again, alternating; the on-figures are the series above, from the first lab of the same run (two labs, one after the other: the trials cannot alternate between them).",
        "",
        "| scenario | trials | min | median | p95 | max | unit | lost / split-brain / failed trials |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        row(
            `${KEEPER_ON} (etcd auth on): write outage`,
            on.map((t) => t.outage),
            "s",
            tally(on),
        ),
        row(
            `${AUTH_OFF_SITE}: write outage`,
            authOffSite.map((t) => t.outage),
            "s",
            tally(authOffSite),
        ),
        row(
            "primary-host-loss (etcd auth on): write outage",
            hostLoss.map((t) => t.outage),
            "s",
            tally(hostLoss),
        ),
        row(
            `${AUTH_OFF_HOST}: write outage`,
            authOffHost.map((t) => t.outage),
            "s",
            tally(authOffHost),
        ),
        "",
        "## Three-site: the leader keeper's own drills",
        "",
        "witness-loss kills the witness's host (its etcd member held the leadership) and reboots it; witness-flap cuts it off until another member leads, then connects and cuts it again three times (4 s cut, 6 s connected), the last cut healed 5 s later. Each must leave the Patroni leader where it was and lose nothing; the keeper must move the leadership home no sooner than its hold-off (30 s) after the heal and never twice within a hold-off (its moves counted from its log).",
        "",
        "| figure | trials | min | median | p95 | max | unit | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ...(["witness-loss", "witness-flap"] as const).flatMap((name) => {
            const ts = r.series[name] ?? [];
            return [
                row(
                    `${name}: write outage`,
                    ts.map((t) => t.outage),
                    "s",
                    tally(ts) + " (lost / split-brain / failed trials)",
                ),
                row(`${name}: another etcd member leads, from the fault`, x(ts, "etcdLeaderAway"), "s", ""),
                row(
                    `${name}: leadership back on the witness, from the heal`,
                    x(ts, "etcdLeaderBack"),
                    "s",
                    name === "witness-loss" ? "the host's reboot and etcd's start, then the hold-off" : "the hold-off from the last reconnection",
                ),
                row(`${name}: keeper moves`, x(ts, "keeperMoves"), "moves", "from the fault to the leadership's return"),
            ];
        }),
        "",
        "## Two-site: guarded promotion (`npm run promote -- dc2`)",
        "",
        "dc1 (the active site) loses every host; after 3 s the drill runs the same promote code as the CLI. Promotion: from the command to the first write accepted through dc2's HAProxy (the command also lifts the Gluster quorum, which takes longer than the promotion itself). Unshipped: writes dc1 had acknowledged that dc2 never received. Rejoin: from dc1's hosts booting (Patroni held, as a fenced site) to every dc1 member streaming from dc2 (rejoin writes the standby config with patronictl, Patroni rewinds). Planned move back: `promote -- dc1 --planned`, demote dc2, wait for dc1 to replay, promote dc1.",
        "",
        "| figure | trials | min | median | p95 | max | unit | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        row(
            "promotion: command to first write in dc2",
            promo.map((t) => t.outage),
            "s",
            `${sum(promo, (t) => t.missing)} later writes lost, ${sum(promo, (t) => t.splitBrainMoments)} split-brain samples, ${promo.filter((t) => !t.ok).length} failed trials`,
        ),
        row(
            "unshipped writes at the loss",
            x(promo, "unshippedWrites"),
            "writes",
            `of ${sum(promo, (t) => t.extra?.acknowledgedBeforeLoss ?? 0)} acknowledged in dc1 over all trials`,
        ),
        row("rejoin of dc1 as a standby", x(promo, "rejoinSeconds"), "s", ""),
        row("planned move back to dc1", x(promo, "plannedMoveBackSeconds"), "s", "no site takes writes during it"),
        "",
        "![site-loss and promotion figures: min-max line, min-p95 bar, median dot](sites-chart.svg)",
        "",
        "## Every trial",
        "",
        "| scenario | trial | outage / promotion s | acknowledged | lost | split-brain samples | leader | etcd leader at the fault | extra | problems |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ...Object.entries(r.series).flatMap(([name, ts]) =>
            ts.map(
                (t) =>
                    `| ${name} | ${t.trial} | ${t.outage.toFixed(2)} | ${t.acknowledged} | ${t.missing} | ${t.splitBrainMoments} | ${t.oldLeader} -> ${t.newLeader ?? "?"} | ${t.etcdLeader ?? ""} | ${
                        t.extra
                            ? Object.entries(t.extra)
                                  .map(([k, v]) => `${k} ${v}`)
                                  .join(", ")
                            : ""
                    } | ${t.problems.join("; ")} |`,
            ),
        ),
    ];
    fs.mkdirSync(DOCS, { recursive: true });
    fs.writeFileSync(path.join(DOCS, "BENCHMARKS-sites.md"), lines.join("\n") + "\n");
    const series = [
        { label: "three-site site-loss, keeper on", values: on.map((t) => t.outage) },
        { label: "three-site site-loss, keeper off", values: off.map((t) => t.outage) },
        { label: "three-site primary-host-loss", values: hostLoss.map((t) => t.outage) },
        { label: "three-site site-loss, etcd auth off", values: authOffSite.map((t) => t.outage) },
        { label: "three-site primary-host-loss, etcd auth off", values: authOffHost.map((t) => t.outage) },
        { label: "two-site promotion (command to write)", values: promo.map((t) => t.outage) },
        { label: "two-site rejoin as standby", values: x(promo, "rejoinSeconds") },
        { label: "two-site planned move back", values: x(promo, "plannedMoveBackSeconds") },
    ].filter((s) => s.values.length > 0);
    fs.writeFileSync(path.join(DOCS, "sites-chart.svg"), chartSvg(series.map((s) => ({ label: s.label, summary: summarize(s.values) }))));
}

/**
 * Before a site-loss trial: the keeper on and holding the leadership on its member, or stopped
 * and the leadership moved into the primary's site (what the keeper prevents).
 */
async function placeEtcdLeader(keeper: boolean): Promise<void> {
    const state = requireState();
    const plan = state.plan;
    const cluster = plan.etcdClusters[0];
    const home = cluster.leaders[0];
    if (!home) throw new LabError("the lab's plan keeps no etcd leader (etcd.keepLeader is off): the keeper-on trials need it");
    controlService(state, [hostByName(plan, home)], ETCD_LEADER_SERVICE, keeper ? "start" : "stop");
    const leader = leaderOf(await patroniMembers(plan));
    if (!leader) throw new LabError("no Patroni leader to place etcd's leadership beside");
    const to = keeper ? home : cluster.members.find((m) => hostByName(plan, m).site === hostByName(plan, leader).site);
    if (!to) throw new LabError(`no etcd member in ${hostByName(plan, leader).site}, the primary's site`);
    if (!keeper) etcdMoveLeader(state, to);
    const limitS = keeper ? plan.etcd.leaderHoldOffS + 90 : 30;
    await waitFor(`etcd's leadership on ${to}`, limitS * 1000, async () => ((await etcdLeader(plan, cluster)) === to ? true : undefined));
}

async function main(): Promise<void> {
    const usage = `usage: npm run bench:sites -- [--trials N] [--keeper-trials N]
  boots its own labs (refuses to run beside one): three-site site loss with etcd's leader keeper
  on and off against host loss, --trials each (10), the keeper's drills (witness-loss,
  witness-flap) --keeper-trials each (3), site loss and host loss again in a lab with etcd.auth
  off (what etcd's auth costs), then two-site promotion, rejoin and planned move back, --trials
  each; writes docs/BENCHMARKS-sites.md and docs/sites-chart.svg. About 65 minutes with the
  defaults.`;
    const { values } = parseCommandLine("bench:sites", usage, process.argv.slice(2), { trials: { type: "string" }, "keeper-trials": { type: "string" } });
    const trials = wholeNumber("bench:sites", "trials", values.trials, 10, 1, 1000);
    const keeperTrials = wholeNumber("bench:sites", "keeper-trials", values["keeper-trials"], 3, 0, 1000);
    if (loadState()) throw new LabError("a lab is running; this benchmark boots its own labs: run `npm run lab -- down` first");
    const commit = run("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"]).trim();
    const r: SeriesRun = {
        machine: machine(),
        started: new Date().toISOString(),
        commit,
        trials,
        series: {
            [KEEPER_ON]: [],
            [KEEPER_OFF]: [],
            "primary-host-loss": [],
            "witness-loss": [],
            "witness-flap": [],
            [AUTH_OFF_SITE]: [],
            [AUTH_OFF_HOST]: [],
            "dc-promotion": [],
        },
        finished: false,
    };
    let siteOf: Record<string, string> = {};
    const one = async (series: string, n: number, of: number) => {
        const scenario = series.startsWith("site-loss") ? "site-loss" : series.startsWith("primary-host-loss") ? "primary-host-loss" : series;
        // Host loss beside site loss with the keeper on, as the platform runs by default.
        if (scenario === "site-loss" || scenario === "primary-host-loss") await placeEtcdLeader(series !== KEEPER_OFF);
        const t = (await drill(scenario, { trials: 1, say: () => undefined })).trials[0];
        r.series[series].push({ ...t, scenario: series, trial: n });
        progress(
            `${series} ${n}/${of}: ${t.outage.toFixed(2)} s, lost ${t.missing}, etcd leader ${t.etcdLeader ?? "?"}${t.extra ? `, ${JSON.stringify(t.extra)}` : ""}${t.ok ? "" : ` FAIL ${t.problems.join("; ")}`}`,
        );
        report(r, siteOf);
    };
    try {
        await up({});
        siteOf = Object.fromEntries(requireState().plan.hosts.map((h) => [h.name, h.site]));
        const order = [KEEPER_ON, KEEPER_OFF, "primary-host-loss"];
        for (let n = 1; n <= trials; n++) for (const s of n % 2 ? order : [...order].reverse()) await one(s, n, trials);
        await placeEtcdLeader(true);
        for (let n = 1; n <= keeperTrials; n++) for (const s of ["witness-loss", "witness-flap"]) await one(s, n, keeperTrials);
        await down({ quiet: true });
        await up({ edit: (c) => ({ ...c, etcd: { ...c.etcd, auth: false } }) });
        if (requireState().plan.etcd.auth) throw new LabError("the second lab still has etcd.auth on");
        const authOff = [AUTH_OFF_SITE, AUTH_OFF_HOST];
        for (let n = 1; n <= trials; n++) for (const s of n % 2 ? authOff : [...authOff].reverse()) await one(s, n, trials);
        await down({ quiet: true });
        await up({ topology: "two-site" });
        for (let n = 1; n <= trials; n++) await one("dc-promotion", n, trials);
        r.finished = true;
        report(r, siteOf);
        progress(`wrote ${path.join(DOCS, "BENCHMARKS-sites.md")} and sites-chart.svg`);
    } finally {
        await down({ quiet: true });
    }
}

main().catch((e) => {
    console.error(`bench:sites: ${(e as Error).message}`);
    process.exit(1);
});
