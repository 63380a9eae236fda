/**
 * `npm run bench:failover`: the failover benchmark. Not a test: it measures, side by side
 * in one run on this machine, and writes docs/BENCHMARKS.md and docs/failover-chart.svg.
 *   - primary-host-loss with Patroni's default timings and with the project's, alternating;
 *   - primary-isolation and switchover with the project's timings;
 *   - pgbench through HAProxy against pgbench direct to the primary, alternating pairs;
 *   - a soak under write load that must show no failover at all.
 * Options: --trials N (20), --pairs N (5), --soak-minutes N (10), --clients N (16).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PatroniTimings } from "../plan/config";
import { hostByName, hostsOf, siteByName } from "../plan/plan";
import { ROOTFS } from "../debian/root";
import { REPO_ROOT } from "../plan/stackFiles";
import { patroniMembers } from "./cluster";
import { drill, patchClusterConfig } from "./drill";
import { membersOf, pgClientEnv, runProbe, watchMember } from "./probe";
import { inHost } from "./hosts";
import { down, up } from "./lifecycle";
import { assessTrial, TrialResult, WriteEvent } from "./recorder";
import { APP_DATABASE } from "../render/patroni";
import { labSecrets } from "./secrets";
import { waitHealthy } from "./services";
import { parseCommandLine, wholeNumber } from "../ops/args";
import { LabError, progress, run, sleep } from "./sh";
import { loadState, LabState, requireState } from "./state";
import { summarize, Summary } from "./stats";

const DOCS = path.join(REPO_ROOT, "docs");
export const PATRONI_DEFAULTS: PatroniTimings = { ttl: 30, loopWait: 10, retryTimeout: 10 };

const USAGE = `usage: npm run bench:failover -- [--trials N] [--pairs N] [--soak-minutes N] [--clients N]
  boots its own three-site lab (refuses to run beside one) and writes docs/BENCHMARKS.md and
  docs/failover-chart.svg: host loss with Patroni's and the project's timings (--trials, 20),
  isolation and switchover, pgbench through HAProxy against direct (--pairs, 5; --clients, 16),
  a soak under write load (--soak-minutes, 10). About 80 minutes with the defaults.`;

/** Changes the cluster's HA timings the way an operator would: PATCH /config. */
async function setTimings(state: LabState, t: PatroniTimings): Promise<void> {
    await waitHealthy(state, 180000, () => undefined);
    await patchClusterConfig(state, { ttl: t.ttl, loop_wait: t.loopWait, retry_timeout: t.retryTimeout });
    await sleep((t.loopWait + 2) * 1000); // the new loop_wait may be longer than the old one
}

interface PgbenchRun {
    path: "haproxy" | "direct";
    pair: number;
    tps: number;
}

/** pgbench in a lab host as the app's role; TLS as the lab's clients use it unless `tls` says otherwise (bench:tls's plaintext half). */
export function pgbench(
    state: LabState,
    host: string,
    address: string,
    port: number,
    args: string[],
    tls: Record<string, string> = pgClientEnv(state, host),
): string {
    const argv = inHost(state.holders[host], host, [
        "/usr/lib/postgresql/17/bin/pgbench",
        "-h",
        address,
        "-p",
        String(port),
        "-U",
        APP_DATABASE.role,
        ...args,
        APP_DATABASE.name,
    ]);
    // The password travels in the environment, never on a command line (ps, error messages).
    const r = spawnSync(argv[0], argv.slice(1), {
        encoding: "utf8",
        timeout: 600000,
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", PGPASSWORD: labSecrets().database.appPassword, ...tls },
    });
    if (r.status !== 0) throw new LabError(`pgbench ${args.join(" ")} failed: ${(r.stderr ?? "").trim().split("\n").slice(-2).join(" | ")}`);
    return r.stdout;
}

async function pgbenchPairs(pairs: number, clients: number, seconds: number, say: (m: string) => void): Promise<PgbenchRun[]> {
    const state = requireState();
    const leader = await waitHealthy(state, 180000, () => undefined);
    const lbs = hostsOf(state.plan, { role: "haproxy" });
    const lb = lbs.find((h) => h.site === hostByName(state.plan, leader).site) ?? lbs[0];
    const primary = hostByName(state.plan, leader);
    pgbench(state, lb.name, "127.0.0.1", state.plan.ports.haproxyPrimary, ["-i", "-q", "-s", "10"]);
    const runs: PgbenchRun[] = [];
    for (let pair = 1; pair <= pairs; pair++) {
        const order: ("haproxy" | "direct")[] = pair % 2 ? ["haproxy", "direct"] : ["direct", "haproxy"];
        for (const p of order) {
            const [address, port] = p === "haproxy" ? ["127.0.0.1", state.plan.ports.haproxyPrimary] : [primary.address, state.plan.ports.postgres];
            const out = pgbench(state, lb.name, address, port, ["-n", "-c", String(clients), "-j", "2", "-T", String(seconds)]);
            const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
            if (!Number.isFinite(tps)) throw new LabError(`could not read pgbench's tps: ${out.slice(-300)}`);
            runs.push({ path: p, pair, tps });
            say(`pgbench pair ${pair}: ${p} ${tps.toFixed(0)} tps (${clients} clients, ${seconds} s, from ${lb.name})`);
        }
    }
    return runs;
}

interface SoakResult {
    minutes: number;
    acknowledged: number;
    failedWrites: number;
    leaderBefore: string;
    leaderAfter?: string;
    timelineBefore?: number;
    timelineAfter?: number;
    splitBrainMoments: number;
}

async function soak(minutes: number, say: (m: string) => void): Promise<SoakResult> {
    const state = requireState();
    const leaderBefore = await waitHealthy(state, 180000, () => undefined);
    const tl = async () => (await patroniMembers(state.plan)).find((m) => m.role === "leader")?.timeline;
    const timelineBefore = await tl();
    const lb = siteByName(state.plan, state.plan.primarySite).database!.via;
    const seconds = minutes * 60;
    const started = Date.now() / 1000;
    const members = membersOf(state);
    const watchers = members.map((m) => watchMember(state, m, seconds + 30));
    const writer = runProbe<WriteEvent>(state, lb, [
        "write",
        "--port",
        String(state.plan.ports.haproxyPrimary),
        "--conns",
        "4",
        "--duration",
        String(seconds),
        "--trial",
        `soak-${Date.now()}`,
    ]);
    for (let m = 1; m <= minutes; m++) {
        await sleep(60000);
        const leader = (await patroniMembers(state.plan)).find((x) => x.role === "leader")?.name;
        say(
            `soak minute ${m}/${minutes}: ${writer.events.filter((e) => e.ok).length} writes acknowledged, ${writer.events.filter((e) => !e.ok).length} failed, leader ${leader ?? "NONE"}`,
        );
    }
    await writer.stop();
    await Promise.all(watchers.map((w) => w.stop()));
    const now = Date.now() / 1000;
    // No fault: the recorder's outage is the longest stall, and every member must have been watched throughout.
    const findings = assessTrial({
        faultAt: started,
        writes: writer.events,
        stored: writer.events.filter((e) => e.ok).map((e) => e.id!),
        watches: watchers.flatMap((w) => w.events),
        members,
        observeWindows: [
            { from: started, to: started + seconds / 2, what: "in the first half" },
            { from: started + seconds / 2, to: now, what: "in the second half" },
        ],
    });
    if (findings.unobserved.length > 0) throw new LabError(`soak: ${findings.problems.join("; ")}`);
    return {
        minutes,
        acknowledged: writer.events.filter((e) => e.ok).length,
        failedWrites: writer.events.filter((e) => !e.ok).length,
        leaderBefore,
        leaderAfter: (await patroniMembers(state.plan)).find((m) => m.role === "leader")?.name,
        timelineBefore,
        timelineAfter: await tl(),
        splitBrainMoments: findings.splitBrain.length,
    };
}

/** A benchmark run of named series of drill trials, as bench:sites and bench:day2 write them. */
export interface SeriesRun {
    machine: string;
    started: string;
    /** The commit the code ran at (a dirty tree is not refused; the figures' code is this commit's). */
    commit: string;
    trials: number;
    series: Record<string, TrialResult[]>;
    finished: boolean;
}

export function machine(): string {
    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    const v = (p: string) => run("chroot", [ROOTFS, "dpkg-query", "-W", "-f=${Version}", p]).trim();
    return (
        `${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, host ${fs.readFileSync("/etc/debian_version", "utf8").trim()}; ` +
        `lab from Debian 13: Patroni ${v("patroni")}, PostgreSQL ${v("postgresql-17")}, etcd ${v("etcd-server")}, HAProxy ${v("haproxy")}`
    );
}

export const fmt = (s: Summary) => [s.min, s.median, s.p95, s.max].map((x) => x.toFixed(2)).join(" | ");

interface Series {
    label: string;
    trials: TrialResult[];
}

export function chartSvg(series: { label: string; summary: Summary }[], goal?: number): string {
    const width = 900;
    const rowH = 46;
    const left = 300;
    const max = Math.max(goal ?? 0, ...series.map((s) => s.summary.max)) * 1.05 || 1;
    const x = (v: number) => left + ((width - left - 170) * v) / max;
    const rows = series.map((s, i) => {
        const y = 40 + i * rowH;
        const m = s.summary;
        return [
            `<text x="10" y="${y + 5}" font-size="13">${s.label} (n=${m.n})</text>`,
            `<line x1="${x(m.min)}" y1="${y}" x2="${x(m.max)}" y2="${y}" stroke="#555" stroke-width="2"/>`,
            `<rect x="${x(m.min)}" y="${y - 8}" width="${Math.max(2, x(m.p95) - x(m.min))}" height="16" fill="#8fb8de" opacity="0.7"/>`,
            `<circle cx="${x(m.median)}" cy="${y}" r="5" fill="#1f4e79"/>`,
            `<text x="${x(m.max) + 6}" y="${y + 4}" font-size="11">median ${m.median.toFixed(1)}, p95 ${m.p95.toFixed(1)}, max ${m.max.toFixed(1)} s</text>`,
        ].join("");
    });
    const h = 60 + series.length * rowH;
    const ticks = Array.from({ length: 6 }, (_, i) => (max * i) / 5).map(
        (v) => `<line x1="${x(v)}" y1="25" x2="${x(v)}" y2="${h - 25}" stroke="#ddd"/><text x="${x(v) - 8}" y="${h - 8}" font-size="11">${v.toFixed(0)}</text>`,
    );
    const goalLine = goal
        ? `<line x1="${x(goal)}" y1="20" x2="${x(goal)}" y2="${h - 25}" stroke="#c00" stroke-dasharray="4"/><text x="${x(goal) + 3}" y="18" font-size="11" fill="#c00">host-loss goal: p95 ${goal} s</text>`
        : "";
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${ticks.join("")}${goalLine}${rows.join("")}<text x="10" y="${h - 8}" font-size="11">write outage, seconds</text></svg>\n`;
}

function report(r: { machine: string; started: string; series: Series[]; pgbench: PgbenchRun[]; clients: number; soak?: SoakResult; finished: boolean }): void {
    const lines = [
        "# Failover benchmarks",
        "",
        `Written by \`npm run bench:failover\` (lab/bench.ts) ${r.finished ? "" : "(**partial: the run was still going**) "}on ${r.started.slice(0, 10)}.`,
        `Machine: ${r.machine}. Topology: three-site lab (etcd in dc1, dc2, dc3; Patroni in dc1 and dc2, synchronous mode; HAProxy in dc1 and dc2), no WAN delay (this kernel has no netem).`,
        "Writer: 4 connections through dc1's HAProxy (port 5000), one INSERT each every 20 ms, each with an id the writer makes. Outage: from the first failed write after the fault to the first successful write after it. Lost: acknowledged ids missing after recovery and heal. Split-brain: samples (every 100 ms, on every PostgreSQL) in which two members were writable.",
        "",
        "## Write outage (seconds)",
        "",
        "| scenario | timings (ttl/loop_wait/retry_timeout) | trials | min | median | p95 | max | acknowledged writes lost | split-brain samples | failed trials |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ...r.series.map((s) => {
            const sum = summarize(s.trials.map((t) => t.outage));
            const lost = s.trials.reduce((a, t) => a + t.missing, 0);
            const sb = s.trials.reduce((a, t) => a + t.splitBrainMoments, 0);
            return `| ${s.label.split(" @ ")[0]} | ${s.label.split(" @ ")[1] ?? ""} | ${sum.n} | ${fmt(sum).split(" | ").join(" | ")} | ${lost} | ${sb} | ${s.trials.filter((t) => !t.ok).length} |`;
        }),
        "",
        "![write outage per scenario: min-max line, min-p95 bar, median dot](failover-chart.svg)",
        "",
    ];
    if (r.pgbench.length > 0) {
        const tps = (p: string) => summarize(r.pgbench.filter((x) => x.path === p).map((x) => x.tps));
        const h = tps("haproxy");
        const d = tps("direct");
        lines.push(
            `## Throughput: pgbench (TPC-B-like, scale 10, ${r.clients} clients, alternating pairs)`,
            "",
            "| path | runs | min | median | p95 | max |",
            "| --- | --- | --- | --- | --- | --- |",
            `| through HAProxy (5000) | ${h.n} | ${fmt(h)} |`,
            `| direct to the primary (5432) | ${d.n} | ${fmt(d)} |`,
            "",
            `HAProxy / direct, median: ${((100 * h.median) / d.median).toFixed(1)} %. Each pair: ${r.pgbench
                .filter((x) => x.path === "haproxy")
                .map((x) => `${((100 * x.tps) / r.pgbench.find((y) => y.pair === x.pair && y.path === "direct")!.tps).toFixed(0)} %`)
                .join(", ")}.`,
            "",
        );
    }
    if (r.soak) {
        const s = r.soak;
        lines.push(
            `## Soak: ${s.minutes} minutes of writes`,
            "",
            `${s.acknowledged} writes acknowledged, ${s.failedWrites} failed; leader ${s.leaderBefore} -> ${s.leaderAfter ?? "none"}, timeline ${s.timelineBefore} -> ${s.timelineAfter}; ${s.splitBrainMoments} split-brain samples. ${s.leaderBefore === s.leaderAfter && s.timelineBefore === s.timelineAfter && s.failedWrites === 0 ? "No failover." : "**A failover or failed writes happened.**"}`,
            "",
        );
    }
    lines.push(
        "## Every trial",
        "",
        "| scenario | trial | outage s | acknowledged | lost | split-brain samples | leader | problems |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const s of r.series)
        for (const t of s.trials)
            lines.push(
                `| ${s.label} | ${t.trial} | ${t.outage.toFixed(2)} | ${t.acknowledged} | ${t.missing} | ${t.splitBrainMoments} | ${t.oldLeader} -> ${t.newLeader ?? "?"} | ${t.problems.join("; ")} |`,
            );
    fs.mkdirSync(DOCS, { recursive: true });
    fs.writeFileSync(path.join(DOCS, "BENCHMARKS.md"), lines.join("\n") + "\n");
    fs.writeFileSync(
        path.join(DOCS, "failover-chart.svg"),
        chartSvg(
            r.series.map((s) => ({ label: s.label, summary: summarize(s.trials.map((t) => t.outage)) })),
            20,
        ),
    );
}

async function main(): Promise<void> {
    // Parsed here, not at import: the other benchmarks import this module's helpers.
    const { values: flags } = parseCommandLine("bench:failover", USAGE, process.argv.slice(2), {
        trials: { type: "string" },
        pairs: { type: "string" },
        "soak-minutes": { type: "string" },
        clients: { type: "string" },
    });
    const arg = (name: keyof typeof flags, fallback: number) => wholeNumber("bench:failover", name, flags[name], fallback, 1, 10000);
    const trials = arg("trials", 20);
    const pairs = arg("pairs", 5);
    const soakMinutes = arg("soak-minutes", 10);
    const clients = arg("clients", 16);
    const ownLab = !loadState();
    if (ownLab) await up({});
    const state = requireState();
    const project: PatroniTimings = state.plan.patroni;
    const t = (x: PatroniTimings) => `${x.ttl}/${x.loopWait}/${x.retryTimeout}`;
    const r = {
        machine: machine(),
        started: new Date().toISOString(),
        series: [] as Series[],
        pgbench: [] as PgbenchRun[],
        clients,
        soak: undefined as SoakResult | undefined,
        finished: false,
    };
    const patroniDefaults: Series = { label: `primary-host-loss @ Patroni defaults ${t(PATRONI_DEFAULTS)}`, trials: [] };
    const projectDefaults: Series = { label: `primary-host-loss @ project defaults ${t(project)}`, trials: [] };
    r.series.push(patroniDefaults, projectDefaults);
    try {
        for (let i = 1; i <= trials; i++) {
            for (const [series, timings] of (i % 2
                ? [
                      [patroniDefaults, PATRONI_DEFAULTS],
                      [projectDefaults, project],
                  ]
                : [
                      [projectDefaults, project],
                      [patroniDefaults, PATRONI_DEFAULTS],
                  ]) as [Series, PatroniTimings][]) {
                await setTimings(requireState(), timings);
                const d = await drill("primary-host-loss", { trials: 1, say: () => undefined });
                series.trials.push({ ...d.trials[0], trial: i });
                progress(
                    `${series.label} trial ${i}/${trials}: outage ${d.trials[0].outage.toFixed(2)} s, lost ${d.trials[0].missing}${d.trials[0].ok ? "" : ` FAIL ${d.trials[0].problems.join("; ")}`}`,
                );
            }
            report(r);
        }
        await setTimings(requireState(), project);
        for (const scenario of ["primary-isolation", "switchover"]) {
            const series: Series = { label: `${scenario} @ project defaults ${t(project)}`, trials: [] };
            r.series.push(series);
            for (let i = 1; i <= trials; i++) {
                const d = await drill(scenario, { trials: 1, say: () => undefined });
                series.trials.push({ ...d.trials[0], trial: i });
                progress(
                    `${series.label} trial ${i}/${trials}: outage ${d.trials[0].outage.toFixed(2)} s, lost ${d.trials[0].missing}${d.trials[0].ok ? "" : ` FAIL ${d.trials[0].problems.join("; ")}`}`,
                );
                report(r);
            }
        }
        r.pgbench = await pgbenchPairs(pairs, clients, 20, progress);
        report(r);
        r.soak = await soak(soakMinutes, progress);
        r.finished = true;
        report(r);
        progress(`wrote ${path.join(DOCS, "BENCHMARKS.md")} and failover-chart.svg`);
    } finally {
        if (ownLab) await down({ quiet: true });
    }
}

if (require.main === module) {
    main().catch((e) => {
        console.error(`bench: ${(e as Error).message}`);
        process.exit(1);
    });
}
