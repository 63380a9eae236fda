/**
 * `npm run bench:tls`: what TLS costs on the two links that carry the app's data, measured side
 * by side in one run on this machine, written to docs/BENCHMARKS-tls.md. Not a test.
 *   - GlusterFS small-file writes: an app host writes --files files of 4 KiB into a fresh
 *     mount of the volume, with the volume's I/O TLS on (`client.ssl`, `server.ssl`: what the
 *     platform runs) and off (the volume stopped, set, started between the two; glusterd's
 *     management TLS stays on, the mount's setup is not timed);
 *   - PostgreSQL connection per transaction (`pgbench -C`, the way Nextcloud's PHP connects per
 *     request) as the app's role through HAProxy, `sslmode=verify-full` against `disable`. For
 *     the plaintext half the primary's pg_hba.conf gets one `host` line for the HAProxy host
 *     (PostgreSQL reloaded), removed again after it: the platform itself never admits plaintext.
 * The modes alternate trial by trial. Boots the app-tier lab (examples/app-tier, or
 * NCHA_STACK_DIR) and removes it; refuses to run beside one. Options: --trials N (5), --files N
 * (300), --seconds N (pgbench's duration, 15).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { hostByName, hostsOf, patroniClusterOf } from "../plan/plan";
import { REPO_ROOT, STACK_DIR } from "../plan/stackFiles";
import { APP_DATABASE } from "../render/patroni";
import { parseCommandLine, wholeNumber } from "../ops/args";
import { machine, pgbench } from "./bench";
import { execInHost } from "./hosts";
import { down, up } from "./lifecycle";
import { pgClientEnv } from "./probe";
import { waitHealthy } from "./services";
import { LabError, progress, run } from "./sh";
import { LabState, loadState, requireState } from "./state";
import { summarize } from "./stats";

const DOCS = path.join(REPO_ROOT, "docs");
type Mode = "tls" | "plain";

interface Figures {
    gluster: Record<Mode, number[]>;
    pgbench: Record<Mode, number[]>;
}

/** A command in a lab host that must succeed; its stdout. */
function inside(state: LabState, host: string, script: string, timeoutMs = 120000): string {
    const r = execInHost(state.holders[host], host, ["sh", "-c", script], timeoutMs);
    if (r.status !== 0)
        throw new LabError(`${host}: ${script.split("\n")[0].slice(0, 80)}: ${(r.stderr || r.stdout).trim().split("\n").slice(-2).join(" | ")}`);
    return r.stdout;
}

/** The volume's I/O TLS on or off; the volume restarted so that its bricks take it. */
function setGlusterTls(state: LabState, mode: Mode): void {
    const g = state.plan.gluster!;
    const v = mode === "tls" ? "on" : "off";
    inside(
        state,
        g.creator,
        `gluster --mode=script volume set ${g.volume} client.ssl ${v} && gluster --mode=script volume set ${g.volume} server.ssl ${v} && gluster --mode=script volume stop ${g.volume} >/dev/null && gluster --mode=script volume start ${g.volume} >/dev/null`,
    );
}

/** Seconds to write `files` files of 4 KiB into a fresh mount on the app host (mounting and cleaning up not timed). */
function glusterWrite(state: LabState, app: string, files: number, trial: number): number {
    const g = state.plan.gluster!;
    const server = hostByName(state.plan, g.bricks[0].host).address;
    const dir = `/tmp/bench-tls/bench-${trial}-${Date.now()}`;
    const out = inside(
        state,
        app,
        [
            "mkdir -p /tmp/bench-tls",
            // A brick that just started may refuse the first mount for a moment: bounded retries.
            `i=0; until timeout 60 /usr/sbin/mount.glusterfs ${server}:/${g.volume} /tmp/bench-tls -o log-file=/tmp/bench-tls.log && mountpoint -q /tmp/bench-tls; do i=$((i+1)); [ "$i" -lt 10 ] || exit 1; sleep 2; done`,
            `mkdir -p ${dir} && head -c 4096 /dev/urandom > /tmp/bench-tls.block`,
            "t0=$(date +%s.%N)",
            `i=0; while [ "$i" -lt ${files} ]; do cp /tmp/bench-tls.block ${dir}/f$i; i=$((i+1)); done`,
            "t1=$(date +%s.%N)",
            `rm -rf ${dir}; umount /tmp/bench-tls`,
            'echo "$t0 $t1"',
        ].join("\n"),
        600000,
    );
    const [t0, t1] = out.trim().split("\n").pop()!.split(" ").map(Number);
    if (!Number.isFinite(t0) || !Number.isFinite(t1)) throw new LabError(`could not read the write timing from ${app}: ${out.slice(-200)}`);
    return t1 - t0;
}

/** pgbench -C through the HAProxy on `lb` as the app's role; tps. */
function pgbenchConnect(state: LabState, lb: string, mode: Mode, seconds: number, init = false): number {
    const args = init ? ["-i", "-q", "-s", "1"] : ["-n", "-C", "-S", "-c", "4", "-j", "2", "-T", String(seconds)];
    const out = pgbench(state, lb, "127.0.0.1", state.plan.ports.haproxyPrimary, args, mode === "tls" ? pgClientEnv(state, lb) : { PGSSLMODE: "disable" });
    if (init) return 0;
    const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
    if (!Number.isFinite(tps)) throw new LabError(`could not read pgbench's tps: ${out.slice(-300)}`);
    return tps;
}

/** One pg_hba line admitting the HAProxy host without TLS, first in the primary's file; returns its undo. */
function admitPlaintext(state: LabState, primary: string, lb: string): () => void {
    const file = `/var/lib/postgresql/${state.plan.versions.postgres}/main/pg_hba.conf`;
    const line = `host ${APP_DATABASE.name} ${APP_DATABASE.role} ${hostByName(state.plan, lb).address}/32 scram-sha-256 # bench:tls, removed after`;
    const reload = "runuser -u postgres -- psql -XAtqc 'SELECT pg_reload_conf()' >/dev/null";
    inside(state, primary, `cp ${file} ${file}.bench && { echo '${line}'; cat ${file}.bench; } > ${file} && ${reload}`);
    return () => inside(state, primary, `mv ${file}.bench ${file} && ${reload}`);
}

function report(r: { machine: string; started: string; commit: string; trials: number; files: number; seconds: number; finished: boolean }, f: Figures): void {
    const row = (label: string, values: number[], unit: string) => {
        if (values.length === 0) return `| ${label} | 0 | | | | | ${unit} |`;
        const s = summarize(values);
        return `| ${label} | ${s.n} | ${[s.min, s.median, s.p95, s.max].map((x) => x.toFixed(2)).join(" | ")} | ${unit} |`;
    };
    const median = (v: number[]) => (v.length ? summarize(v).median : NaN);
    const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${((a / b - 1) * 100).toFixed(0)} %` : "n/a");
    const lines = [
        "# TLS benchmarks",
        "",
        `Written by \`npm run bench:tls\` (lab/benchTls.ts) ${r.finished ? "" : "(**partial: the run was still going**) "}on ${r.started.slice(0, 10)} at commit ${r.commit}, ${r.trials} trials per mode, the modes alternating.`,
        `Machine: ${r.machine}. One machine runs every lab host (12 network namespaces on its cores), so TLS's CPU competes with everything else: on separate VMs the relative cost is smaller. No WAN delay between the sites.`,
        "",
        "| figure | trials | min | median | p95 | max | unit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        row(`Gluster: ${r.files} files of 4 KiB written, I/O TLS on`, f.gluster.tls, "s"),
        row(`Gluster: ${r.files} files of 4 KiB written, I/O TLS off`, f.gluster.plain, "s"),
        row(`pgbench -C -S through HAProxy (4 clients, ${r.seconds} s), verify-full`, f.pgbench.tls, "tps"),
        row(`pgbench -C -S through HAProxy (4 clients, ${r.seconds} s), no TLS`, f.pgbench.plain, "tps"),
        "",
        `Medians: Gluster small-file writes take ${ratio(median(f.gluster.tls), median(f.gluster.plain))} longer with TLS; a connection per transaction through HAProxy gives ${ratio(median(f.pgbench.plain), median(f.pgbench.tls))} more transactions per second without TLS than with it (TLS handshake and certificate checks, on top of SCRAM, in both).`,
        "",
        "What each mode is: Gluster's I/O TLS toggled by the volume's `client.ssl`/`server.ssl` (glusterd's management TLS stays on; the fresh mount is not timed). PostgreSQL: `sslmode=verify-full` with the deployment CA, against `sslmode=disable` admitted by one `host` line the bench adds to the primary's pg_hba.conf for the HAProxy host and removes after. `-S`: read-only transactions, so the connection is most of the work.",
        "",
    ];
    fs.mkdirSync(DOCS, { recursive: true });
    fs.writeFileSync(path.join(DOCS, "BENCHMARKS-tls.md"), lines.join("\n"));
}

async function main(): Promise<void> {
    const usage = `usage: npm run bench:tls -- [--trials N] [--files N] [--seconds N]
  boots the app-tier lab (examples/app-tier, or NCHA_STACK_DIR; refuses to run beside a lab):
  Gluster small-file writes with the volume's I/O TLS on and off, and pgbench -C through
  HAProxy with TLS and without, --trials each (5), alternating; writes docs/BENCHMARKS-tls.md.
  About 10 minutes with the defaults.`;
    const { values } = parseCommandLine("bench:tls", usage, process.argv.slice(2), {
        trials: { type: "string" },
        files: { type: "string" },
        seconds: { type: "string" },
    });
    const trials = wholeNumber("bench:tls", "trials", values.trials, 5, 1, 100);
    const files = wholeNumber("bench:tls", "files", values.files, 300, 10, 100000);
    const seconds = wholeNumber("bench:tls", "seconds", values.seconds, 15, 5, 600);
    if (loadState()) throw new LabError("a lab is running; this benchmark boots its own: run `npm run lab -- down` first");
    const r = {
        machine: machine(),
        started: new Date().toISOString(),
        commit: run("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"]).trim(),
        trials,
        files,
        seconds,
        finished: false,
    };
    const f: Figures = { gluster: { tls: [], plain: [] }, pgbench: { tls: [], plain: [] } };
    let undo: (() => void) | undefined;
    try {
        await up({});
        const state = requireState();
        if (!state.plan.gluster)
            throw new LabError(`the plan in ${STACK_DIR} has no Gluster volume; run it as npm run bench:tls (NCHA_STACK_DIR=examples/app-tier)`);
        const app = hostsOf(state.plan, { role: "nextcloud" })[0].name;
        const leader = await waitHealthy(state, 180000, () => undefined);
        const lb = hostsOf(state.plan, { role: "haproxy" }).find(
            (h) => patroniClusterOf(state.plan, h.name).members.includes(leader) && h.site === hostByName(state.plan, leader).site,
        )!.name;
        pgbenchConnect(state, lb, "tls", seconds, true);
        for (let n = 1; n <= trials; n++) {
            for (const mode of (n % 2 ? ["tls", "plain"] : ["plain", "tls"]) as Mode[]) {
                setGlusterTls(state, mode);
                const s = glusterWrite(state, app, files, n);
                f.gluster[mode].push(s);
                if (mode === "plain") undo = admitPlaintext(state, leader, lb);
                const tps = pgbenchConnect(state, lb, mode, seconds);
                f.pgbench[mode].push(tps);
                if (undo) {
                    undo();
                    undo = undefined;
                }
                progress(`trial ${n}/${trials} ${mode}: gluster ${s.toFixed(2)} s for ${files} files, pgbench -C ${tps.toFixed(0)} tps`);
                report(r, f);
            }
        }
        setGlusterTls(state, "tls");
        r.finished = true;
        report(r, f);
        progress(`wrote ${path.join(DOCS, "BENCHMARKS-tls.md")}`);
    } finally {
        if (undo) undo();
        await down({ quiet: true });
    }
}

main().catch((e) => {
    console.error(`bench:tls: ${(e as Error).message}`);
    process.exit(1);
});
