/**
 * Drills: a writer with several connections inserts through a site's HAProxy and records
 * every acknowledged id; a probe on every PostgreSQL watches which of them accept writes;
 * the drill injects a fault, measures the write outage, counts acknowledged ids missing
 * afterwards and looks for any moment with two writable primaries. It restores the
 * cluster between trials.
 */
import { leaderOf, patroniMembers, patroniSwitchover } from "./cluster";
import { execInHost } from "./hosts";
import { membersOf, probeOnce, PROBE_SECONDS, runProbe, watchMember, WRITER_CONNECTIONS } from "./probe";
import { promotionTrial, recoverTwoSite } from "./promotionDrill";
import { hostByName, hostsOf, patroniClusterOf } from "../plan/plan";
import { fault, heal, hostsWith, labSecrets, requireRoot, requireState, waitHealthy } from "./lab";
import { LabError, progress, sleep, waitFor } from "./sh";
import { LabState } from "./state";
import { splitBrainMoments, summarize, Summary, WriteEvent, writeOutage } from "./stats";

export const DRILLS = [
    "primary-postgres-crash",
    "primary-host-loss",
    "primary-isolation",
    "switchover",
    "replica-loss",
    "witness-loss",
    // Through NGINX and the app hosts; need the files and app tier in the plan.
    "storage-host-loss",
    "app-host-loss",
    "e2e-primary-host-loss",
    // Whole sites: three-site fails over by itself; two-site needs the promotion command.
    "site-loss",
    "dc-promotion",
] as const;
const THROUGH_NGINX: string[] = ["storage-host-loss", "app-host-loss", "e2e-primary-host-loss"];
export type Drill = (typeof DRILLS)[number];

/** Spread of the moment a fault lands (at least the longest loop_wait measured, 10 s). */
const FAULT_JITTER_MS = 10000;

export interface TrialResult {
    scenario: Drill;
    trial: number;
    ok: boolean;
    oldLeader: string;
    newLeader?: string;
    target: string;
    /** Seconds without a successful write. */
    outage: number;
    acknowledged: number;
    missing: number;
    splitBrainMoments: number;
    problems: string[];
    /** Figures a scenario measures besides the outage (dc-promotion: rejoin, planned move back, unshipped writes). */
    extra?: Record<string, number>;
}

export interface DrillResult {
    scenario: Drill;
    trials: TrialResult[];
    outage: Summary;
}


async function currentLeader(state: LabState): Promise<string | undefined> {
    return leaderOf(await patroniMembers(state.plan));
}

/** The host a scenario breaks, given the leader at the start of the trial. */
async function targetOf(state: LabState, scenario: Drill, leader: string): Promise<string> {
    const plan = state.plan;
    switch (scenario) {
        case "primary-postgres-crash":
        case "primary-host-loss":
        case "primary-isolation":
        case "e2e-primary-host-loss":
            return leader;
        case "site-loss":
        case "dc-promotion":
            return hostByName(plan, leader).site;
        case "storage-host-loss": {
            const brick = plan.gluster?.bricks.map((b) => hostByName(plan, b.host)).find((h) => !h.roles.includes("gluster-arbiter") && h.site === plan.primarySite);
            if (!brick) throw new LabError("storage-host-loss needs a Gluster data brick in the primary site");
            return brick.name;
        }
        case "app-host-loss": {
            const app = hostsOf(plan, plan.primarySite, "nextcloud");
            if (app.length < 2) throw new LabError("app-host-loss needs two app hosts in the primary site (NGINX serves through the other)");
            return app[0].name;
        }
        case "switchover":
        case "replica-loss": {
            const m = await patroniMembers(plan);
            const replica = m.find((x) => x.name !== leader && x.role !== "leader" && x.cluster === patroniClusterOf(plan, leader).scope)?.name;
            if (!replica) throw new LabError("no replica to target");
            return replica;
        }
        case "witness-loss": {
            const witness = plan.sites.find((s) => s.witness);
            const etcd = witness && hostsWith(plan, "etcd").find((h) => h.site === witness.name);
            if (!etcd) throw new LabError("this topology has no witness site");
            return etcd.name;
        }
    }
}

async function inject(state: LabState, scenario: Drill, leader: string, target: string): Promise<void> {
    switch (scenario) {
        case "primary-postgres-crash":
            await fault("kill-postgres", target);
            return;
        case "primary-host-loss":
        case "replica-loss":
        case "witness-loss":
        case "storage-host-loss":
        case "app-host-loss":
        case "e2e-primary-host-loss":
            await fault("kill-host", target);
            return;
        case "primary-isolation":
            await fault("isolate-host", target);
            return;
        case "site-loss":
        case "dc-promotion":
            await fault("kill-site", target);
            return;
        case "switchover": {
            const r = await patroniSwitchover(state.plan, leader, target, labSecrets().restApiPassword);
            if (r.status !== 200) throw new LabError(`Patroni refused the switchover (${r.status}): ${r.body.trim()}`);
            return;
        }
    }
}

const CHANGES_LEADER: Drill[] = ["primary-host-loss", "primary-isolation", "switchover", "e2e-primary-host-loss", "site-loss"];

/** Waits (bounded) until Gluster has healed every brick: `heal info` lists no entry anywhere. */
async function waitGlusterHealed(state: LabState): Promise<void> {
    const g = state.plan.gluster!;
    const host = g.bricks[0].host;
    await waitFor(`Gluster volume ${g.volume} to finish healing`, 180000, () => {
        const r = execInHost(state.holders[host], host, ["gluster", "volume", "heal", g.volume, "info"], 20000);
        const counts = [...r.stdout.matchAll(/Number of entries: (\d+)/g)].map((m) => Number(m[1]));
        return r.status === 0 && counts.length === g.bricks.length && counts.every((n) => n === 0) ? true : undefined;
    }, 2000);
}

async function trial(scenario: Drill, n: number, say: (m: string) => void): Promise<TrialResult> {
    let state = requireState();
    const leader = await waitHealthy(state, 180000, () => undefined);
    const target = await targetOf(state, scenario, leader);
    const viaNginx = THROUGH_NGINX.includes(scenario);
    const front = viaNginx ? hostsOf(state.plan, state.plan.primarySite, "nginx")[0] : undefined;
    if (viaNginx && !front) throw new LabError(`${scenario} needs the app tier (NGINX, app and Gluster hosts) in the stack files' plan`);
    // The writer's HAProxy: in the primary site, or for a site loss in a site that survives it.
    const lbs = hostsWith(state.plan, "haproxy");
    const writerHost = front ?? (scenario === "site-loss" ? lbs.find((h) => h.site !== target) : lbs.find((h) => h.site === state.plan.primarySite)) ?? lbs[0];
    const trialId = `${scenario}-${Date.now()}`;
    const problems: string[] = [];
    const http = front && ["--address", front.address, "--domain", state.plan.nextcloud.domain, "--cafile", "/etc/nginx/tls/wildcard.crt"];
    if (!http) await probeOnce(state, writerHost.name, ["setup", "--port", String(state.plan.ports.haproxyPrimary)]);
    const watchers = membersOf(state).map((m) => watchMember(state, m));
    const writer = runProbe<WriteEvent>(
        state,
        writerHost.name,
        http
            ? ["http-write", ...http, "--conns", String(WRITER_CONNECTIONS), "--duration", String(PROBE_SECONDS), "--trial", trialId]
            : ["write", "--port", String(state.plan.ports.haproxyPrimary), "--conns", String(WRITER_CONNECTIONS), "--duration", String(PROBE_SECONDS), "--trial", trialId],
    );
    try {
        await waitFor("the writer's first acknowledged writes", 30000, () => (writer.events.filter((e) => e.ok).length >= 20 ? true : undefined), 100);
        // Patroni renews the leader key every loop_wait, and the outage is ttl minus the time
        // since the last renewal: a random delay makes the fault land anywhere in that loop
        // (a config change wakes Patroni at once and would otherwise fix the phase).
        await sleep(2000 + Math.random() * FAULT_JITTER_MS);
        const faultAt = Date.now() / 1000;
        say(`trial ${n}: ${scenario} on ${target} (leader ${leader}), writing through ${writerHost.name}:${http ? `${state.plan.ports.https} (NGINX)` : state.plan.ports.haproxyPrimary}`);
        await inject(state, scenario, leader, target);
        // Recovered: a write started after the fault succeeded, after any failure, and the leader moved if it must.
        await waitFor("writes to succeed again after the fault", 150000, async () => {
            const { outage } = writeOutage(writer.events, faultAt);
            const latestOk = writer.events.filter((e) => e.ok).reduce((m, e) => Math.max(m, e.t), 0);
            if (!Number.isFinite(outage) || latestOk < faultAt + 1) return undefined;
            if (CHANGES_LEADER.includes(scenario)) {
                const now = await currentLeader(state);
                if (!now || now === leader) return undefined;
            }
            return true;
        });
        await sleep(5000);
        if (scenario !== "switchover" && scenario !== "primary-postgres-crash") {
            say(`trial ${n}: healing (${await heal()}), writing on through the heal`);
        }
        state = requireState();
        // A killed host's probe died with it: watch the rebooted host too, or a second
        // writable primary after the heal would go unseen.
        membersOf(state).forEach((m, i) => {
            if (watchers[i].exited()) watchers.push(watchMember(state, m));
        });
        // After a partition heals, the old primary is where lost writes would show: keep writing.
        await sleep(scenario === "primary-isolation" ? 15000 : 3000);
        const newLeader = await waitHealthy(state, 180000, () => undefined);
        if (scenario === "storage-host-loss") await waitGlusterHealed(state);
        await sleep(2000);
        await writer.stop();
        await Promise.all(watchers.map((w) => w.stop()));
        const acked = new Set(writer.events.filter((e) => e.ok).map((e) => e.id!));
        let missing: (string | number)[];
        if (http) {
            const v = await probeOnce<{ status: number; rows: string[]; files: string[] }>(state, writerHost.name, ["http-verify", ...http, "--trial", trialId]);
            if (v.status !== 200) problems.push(`verifying through NGINX answered ${v.status}`);
            const rows = new Set(v.rows ?? []);
            const files = new Set(v.files ?? []);
            missing = [...acked].filter((id) => !rows.has(String(id)) || !files.has(String(id)));
        } else {
            const stored = await probeOnce<{ ids: number[] }>(state, writerHost.name, ["count", "--port", String(state.plan.ports.haproxyPrimary), "--trial", trialId]);
            const present = new Set<string | number>(stored.ids);
            missing = [...acked].filter((id) => !present.has(id));
        }
        const { outage } = writeOutage(writer.events, faultAt);
        const moments = splitBrainMoments(watchers.flatMap((w) => w.events));
        if (missing.length > 0) problems.push(`${missing.length} acknowledged writes lost${http ? " (row or file)" : ""} (ids ${missing.slice(0, 5).join(", ")}...)`);
        if (moments.length > 0) problems.push(`split-brain: ${moments[0].members.join(" and ")} both writable at ${new Date(moments[0].t * 1000).toISOString()} (${moments.length} samples)`);
        if (CHANGES_LEADER.includes(scenario) && newLeader === leader) problems.push(`the leader did not move from ${leader}`);
        if (!Number.isFinite(outage)) problems.push("writes never recovered");
        const result: TrialResult = {
            scenario,
            trial: n,
            ok: problems.length === 0,
            oldLeader: leader,
            newLeader,
            target,
            outage: Math.round(outage * 1000) / 1000,
            acknowledged: acked.size,
            missing: missing.length,
            splitBrainMoments: moments.length,
            problems,
        };
        say(`trial ${n}: outage ${result.outage.toFixed(2)} s, ${acked.size} writes acknowledged, ${missing.length} lost, ${moments.length} split-brain samples, leader ${leader} -> ${newLeader}`);
        return result;
    } finally {
        await writer.stop();
        await Promise.all(watchers.map((w) => w.stop()));
    }
}

/** Runs a drill's trials, restoring the cluster between them. */
export async function drill(scenario: string, opts: { trials: number; say?: (m: string) => void }): Promise<DrillResult> {
    requireRoot();
    if (!DRILLS.includes(scenario as Drill)) throw new LabError(`unknown scenario ${scenario || "(none)"}; the scenarios are ${DRILLS.join(", ")}`);
    const state = requireState();
    if (scenario === "witness-loss" && !state.plan.sites.some((s) => s.witness)) throw new LabError("witness-loss needs a topology with a witness site (three-site)");
    if (scenario === "site-loss" && state.plan.topology !== "three-site") throw new LabError("site-loss is three-site's automatic failover between sites; two-site needs a human: drill dc-promotion");
    if (scenario === "dc-promotion" && state.plan.topology !== "two-site") throw new LabError("dc-promotion needs the two-site lab: npm run lab -- down; npm run lab -- up --topology two-site");
    const say = opts.say ?? progress;
    const trials: TrialResult[] = [];
    for (let n = 1; n <= opts.trials; n++) {
        try {
            trials.push(scenario === "dc-promotion" ? await promotionTrial(n, say) : await trial(scenario as Drill, n, say));
        } finally {
            const s = requireState();
            if (s.faults.killed.length + s.faults.isolatedHosts.length + s.faults.isolatedSites.length > 0) {
                say(`restoring: ${scenario === "dc-promotion" ? await recoverTwoSite(say) : await heal()}`);
            }
        }
    }
    return { scenario: scenario as Drill, trials, outage: summarize(trials.map((t) => t.outage)) };
}

export function formatDrill(r: DrillResult): string {
    const s = r.outage;
    const extra = (t: TrialResult) => (t.extra ? `, ${Object.entries(t.extra).map(([k, v]) => `${k} ${v}`).join(", ")}` : "");
    const lines = r.trials.map((t) => `  trial ${t.trial}: ${t.ok ? "ok  " : "FAIL"} outage ${t.outage.toFixed(2)} s, acknowledged ${t.acknowledged}, lost ${t.missing}, split-brain samples ${t.splitBrainMoments}, leader ${t.oldLeader} -> ${t.newLeader ?? "?"}${extra(t)}${t.problems.length ? ` (${t.problems.join("; ")})` : ""}`);
    return [`drill ${r.scenario}: ${r.trials.length} trials, write outage min/median/p95/max ${[s.min, s.median, s.p95, s.max].map((x) => x.toFixed(2)).join(" / ")} s`, ...lines].join("\n");
}
