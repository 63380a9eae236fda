/**
 * `npm run bench:sites`: losing a whole site, measured side by side in one run on this
 * machine, written to docs/BENCHMARKS-sites.md and docs/sites-chart.svg. Not a test.
 *   - three-site: site-loss (every host of the primary's site killed) alternating with
 *     primary-host-loss (the primary's host alone), automatic failover both;
 *   - two-site: dc-promotion (the active site lost, then `promote`; the figure runs from
 *     the command to the first write the other site accepts), with the rejoin of the lost
 *     site as a standby and the planned move back.
 * Options: --trials N (10). Boots and removes its own labs; refuses to run beside one.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "../plan/stackFiles";
import { chartSvg, fmt, machine, SeriesRun } from "./bench";
import { drill } from "./drill";
import { down, up } from "./lifecycle";
import { TrialResult } from "./recorder";
import { parseCommandLine, wholeNumber } from "../ops/args";
import { LabError, progress, run } from "./sh";
import { loadState } from "./state";
import { summarize } from "./stats";

const DOCS = path.join(REPO_ROOT, "docs");

function row(label: string, values: number[], unit: string, note = ""): string {
    const s = summarize(values);
    return `| ${label} | ${s.n} | ${fmt(s)} | ${unit} | ${note} |`;
}

function report(r: SeriesRun): void {
    const sum = (ts: TrialResult[], f: (t: TrialResult) => number) => ts.reduce((a, t) => a + f(t), 0);
    const hostLoss = r.series["primary-host-loss"] ?? [];
    const siteLoss = r.series["site-loss"] ?? [];
    const promo = r.series["dc-promotion"] ?? [];
    const x = (k: string) => promo.map((t) => t.extra?.[k] ?? NaN).filter(Number.isFinite);
    const lines = [
        "# Site-loss benchmarks",
        "",
        `Written by \`npm run bench:sites\` (lab/benchSites.ts) ${r.finished ? "" : "(**partial: the run was still going**) "}on ${r.started.slice(0, 10)} at commit ${r.commit}, ${r.trials} trials per scenario.`,
        `Machine: ${r.machine}. No WAN delay between the sites (this kernel has no netem), so the figures and the unshipped-write counts are what a LAN-close pair of sites would see; across a real WAN, asynchronous replication lags further.`,
        "",
        "Writers: 4 connections, one INSERT each every 20 ms, each write with an id the writer makes (a sequence's ids would be handed out again after a failover and hide a lost write). Lost: acknowledged ids missing afterwards. Split-brain: samples (every 100 ms on every PostgreSQL) with two writable members.",
        "",
        "## Three-site: automatic failover (project timings ttl 20, loop_wait 5, retry_timeout 5)",
        "",
        "Site loss kills every host of the primary's site at once (its Patroni member, its etcd member, its HAProxy); the writer runs through the other data site's HAProxy. Host loss kills the primary's host alone. Trials alternate.",
        "",
        "| scenario | trials | min | median | p95 | max | unit | lost / split-brain / failed trials |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        row(
            "site-loss: write outage",
            siteLoss.map((t) => t.outage),
            "s",
            `${sum(siteLoss, (t) => t.missing)} / ${sum(siteLoss, (t) => t.splitBrainMoments)} / ${siteLoss.filter((t) => !t.ok).length}`,
        ),
        row(
            "primary-host-loss: write outage",
            hostLoss.map((t) => t.outage),
            "s",
            `${sum(hostLoss, (t) => t.missing)} / ${sum(hostLoss, (t) => t.splitBrainMoments)} / ${hostLoss.filter((t) => !t.ok).length}`,
        ),
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
            x("unshippedWrites"),
            "writes",
            `of ${sum(promo, (t) => t.extra?.acknowledgedBeforeLoss ?? 0)} acknowledged in dc1 over all trials`,
        ),
        row("rejoin of dc1 as a standby", x("rejoinSeconds"), "s", ""),
        row("planned move back to dc1", x("plannedMoveBackSeconds"), "s", "no site takes writes during it"),
        "",
        "![site-loss and promotion figures: min-max line, min-p95 bar, median dot](sites-chart.svg)",
        "",
        "## Every trial",
        "",
        "| scenario | trial | outage / promotion s | acknowledged | lost | split-brain samples | leader | extra | problems |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ...Object.entries(r.series).flatMap(([name, ts]) =>
            ts.map(
                (t) =>
                    `| ${name} | ${t.trial} | ${t.outage.toFixed(2)} | ${t.acknowledged} | ${t.missing} | ${t.splitBrainMoments} | ${t.oldLeader} -> ${t.newLeader ?? "?"} | ${
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
        { label: "three-site site-loss", values: siteLoss.map((t) => t.outage) },
        { label: "three-site primary-host-loss", values: hostLoss.map((t) => t.outage) },
        { label: "two-site promotion (command to write)", values: promo.map((t) => t.outage) },
        { label: "two-site rejoin as standby", values: x("rejoinSeconds") },
        { label: "two-site planned move back", values: x("plannedMoveBackSeconds") },
    ].filter((s) => s.values.length > 0);
    fs.writeFileSync(path.join(DOCS, "sites-chart.svg"), chartSvg(series.map((s) => ({ label: s.label, summary: summarize(s.values) }))));
}

async function main(): Promise<void> {
    const usage = `usage: npm run bench:sites -- [--trials N]
  boots its own labs (refuses to run beside one): three-site site loss against host loss,
  then two-site promotion, rejoin and planned move back, --trials each (10); writes
  docs/BENCHMARKS-sites.md and docs/sites-chart.svg. About 22 minutes with the defaults.`;
    const { values } = parseCommandLine("bench:sites", usage, process.argv.slice(2), { trials: { type: "string" } });
    const trials = wholeNumber("bench:sites", "trials", values.trials, 10, 1, 1000);
    if (loadState()) throw new LabError("a lab is running; this benchmark boots its own labs: run `npm run lab -- down` first");
    const commit = run("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"]).trim();
    const r: SeriesRun = {
        machine: machine(),
        started: new Date().toISOString(),
        commit,
        trials,
        series: { "site-loss": [], "primary-host-loss": [], "dc-promotion": [] },
        finished: false,
    };
    const one = async (scenario: string, n: number) => {
        const t = (await drill(scenario, { trials: 1, say: () => undefined })).trials[0];
        r.series[scenario].push({ ...t, trial: n });
        progress(
            `${scenario} ${n}/${trials}: ${t.outage.toFixed(2)} s, lost ${t.missing}${t.extra ? `, ${JSON.stringify(t.extra)}` : ""}${t.ok ? "" : ` FAIL ${t.problems.join("; ")}`}`,
        );
        report(r);
    };
    try {
        await up({});
        for (let n = 1; n <= trials; n++) for (const s of n % 2 ? ["site-loss", "primary-host-loss"] : ["primary-host-loss", "site-loss"]) await one(s, n);
        await down({ quiet: true });
        await up({ topology: "two-site" });
        for (let n = 1; n <= trials; n++) await one("dc-promotion", n);
        r.finished = true;
        report(r);
        progress(`wrote ${path.join(DOCS, "BENCHMARKS-sites.md")} and sites-chart.svg`);
    } finally {
        await down({ quiet: true });
    }
}

main().catch((e) => {
    console.error(`bench:sites: ${(e as Error).message}`);
    process.exit(1);
});
