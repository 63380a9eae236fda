/**
 * Reading the lab cluster's health over its own network: Patroni's REST API (/cluster),
 * etcd's /health with a client certificate (both over TLS, verified by the lab's CAs), HAProxy's
 * stats. From Node through the lab's management link.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DeploymentPlan, EtcdClusterPlan, hostByName } from "../plan/plan";
import { trustBundle } from "./pki";
import { hostDir, LabState, PKI_DIR } from "./state";
import { execInHost } from "./hosts";
import { LabError } from "./sh";
import { HttpAnswer, httpRequest, TlsClient } from "../ops/http";
import { DB_USERS } from "../render/patroni";
import { STATS_USER } from "../render/haproxy";
import { ETCD_LEADER_SERVICE } from "../render/etcd";
import { labSecrets } from "./secrets";

export interface PatroniMemberStatus {
    name: string;
    role: string;
    state: string;
    host: string;
    lag?: number | string;
    timeline?: number;
    /** The Patroni cluster (scope) the member belongs to; set by patroniMembers. */
    cluster?: string;
}

export function httpGet(url: string, timeoutMs = 1500, tls?: TlsClient): Promise<HttpAnswer> {
    return httpRequest(url, { timeoutMs, tls });
}

/** The lab's client side of a member's TLS: the trusted CAs, and the member's own certificate to present (etcd's clients, Patroni's unsafe REST methods). */
export function memberTls(plan: DeploymentPlan, member: string): TlsClient {
    return {
        ca: Buffer.from(trustBundle(PKI_DIR, plan.certificates)),
        cert: fs.readFileSync(path.join(PKI_DIR, `${member}.crt`)),
        key: fs.readFileSync(path.join(PKI_DIR, `${member}.key`)),
    };
}

/** Patroni's REST API of a member (HTTPS, verified). */
function restUrl(plan: DeploymentPlan, member: string, path: string): string {
    return `https://${hostByName(plan, member).address}:${plan.ports.patroniRest}${path}`;
}

/** Patroni's view of the cluster, asked of the first member that answers. */
export async function patroniCluster(plan: DeploymentPlan, members: string[]): Promise<PatroniMemberStatus[] | undefined> {
    for (const m of members) {
        try {
            const r = await httpGet(restUrl(plan, m, "/cluster"), 1500, memberTls(plan, m));
            if (r.status === 200) return (JSON.parse(r.body).members ?? []) as PatroniMemberStatus[];
        } catch {
            /* try the next member */
        }
    }
    return undefined;
}

/**
 * Every Patroni cluster's members (two-site has one cluster per site), each cluster asked
 * separately and its members tagged with its scope; a cluster nobody answers for adds none.
 */
export async function patroniMembers(plan: DeploymentPlan): Promise<PatroniMemberStatus[]> {
    const views = await Promise.all(
        plan.patroniClusters.map(async (c) => ((await patroniCluster(plan, c.members)) ?? []).map((m) => ({ ...m, cluster: c.scope }))),
    );
    return views.flat();
}

/** The member that accepts writes: Patroni's `leader` (a standby cluster's leader is `standby_leader`). */
export function leaderOf(members: PatroniMemberStatus[] | undefined): string | undefined {
    return members?.find((m) => m.role === "leader" && m.state === "running")?.name;
}

/** Every member that is a running primary; more than one across clusters means two writable sites. */
export function primariesOf(members: PatroniMemberStatus[] | undefined): string[] {
    return (members ?? []).filter((m) => m.role === "leader" && m.state === "running").map((m) => m.name);
}

/**
 * True when one cluster has its leader (a primary, or a standby cluster's standby leader)
 * and every other member streams from it; in synchronous mode one of them must also be the
 * sync standby, or Patroni could not fail over without loss.
 */
export function healthy(members: PatroniMemberStatus[] | undefined, expected: number, synchronous: boolean): boolean {
    if (!members || members.length < expected) return false;
    const standbyLeader = members.find((m) => m.role === "standby_leader" && m.state === "streaming");
    if (!leaderOf(members) && !standbyLeader) return false;
    const replicas = members.filter((m) => m.role !== "leader" && m.role !== "standby_leader");
    return replicas.every((m) => m.state === "streaming") && (!synchronous || replicas.some((m) => m.role === "sync_standby"));
}

/** The member holding an etcd cluster's raft leadership, as the first member that answers sees it (the v3 JSON API: maintenance status and member list). */
export async function etcdLeader(plan: DeploymentPlan, cluster: EtcdClusterPlan): Promise<string | undefined> {
    for (const m of cluster.members) {
        const url = (p: string) => `https://${hostByName(plan, m).address}:${plan.ports.etcdClient}/v3/${p}`;
        const post = (p: string) => httpRequest(url(p), { method: "POST", body: {}, timeoutMs: 1500, tls: memberTls(plan, m) }).catch(() => undefined);
        const status = await post("maintenance/status");
        const list = status?.status === 200 ? await post("cluster/member/list") : undefined;
        if (!status || !list || list.status !== 200) continue;
        const leader = (JSON.parse(status.body) as { leader?: string }).leader;
        const members = (JSON.parse(list.body) as { members?: { ID: string; name: string }[] }).members ?? [];
        return members.find((x) => x.ID === leader)?.name;
    }
    return undefined;
}

/** When (epoch seconds, from `since` on) a leader keeper's log says it moved the leadership: its "moved the leadership" lines, which it stamps in UTC. */
export function keeperMovesIn(log: string, since: number): number[] {
    return log
        .split("\n")
        .map((l) => /^(\S+Z) etcd leader keeper \([^)]*\): moved the leadership from /.exec(l))
        .map((m) => (m ? Date.parse(m[1]) / 1000 : NaN))
        .filter((t) => t >= since);
}

/** The moves of the leader keeper on `host` from `since` on. Its log lives in the host's directory, so it outlasts a kill of the host. */
export function keeperMoves(host: string, since: number): number[] {
    const file = path.join(hostDir(host), "log", `${ETCD_LEADER_SERVICE}.log`);
    return fs.existsSync(file) ? keeperMovesIn(fs.readFileSync(file, "utf8"), since) : [];
}

/** Moves an etcd cluster's raft leadership to `to` as an operator would: `etcdctl move-leader` on that member, sent to the current leader. */
export function etcdMoveLeader(state: LabState, to: string): void {
    const script = [
        ". /etc/etcd/etcdctl.env",
        `mine=$(ETCDCTL_ENDPOINTS=https://127.0.0.1:${state.plan.ports.etcdClient} etcdctl endpoint status -w json | python3 -c 'import json, sys; print(format(json.load(sys.stdin)[0]["Status"]["header"]["member_id"], "x"))')`,
        `leader=$(etcdctl endpoint status --cluster -w json | python3 -c 'import json, sys; print([s["Endpoint"] for s in json.load(sys.stdin) if s["Status"]["header"]["member_id"] == s["Status"].get("leader")][0])')`,
        'ETCDCTL_ENDPOINTS="$leader" etcdctl move-leader "$mine"',
    ].join(" && ");
    const r = execInHost(state.holders[to], to, ["sh", "-c", script], 60000);
    if (r.status !== 0 && !/already leader|not a leader/i.test(r.stderr))
        throw new LabError(`etcd: could not move the leadership to ${to}: ${r.stderr.trim().split("\n").pop()}`);
}

export async function etcdHealth(plan: DeploymentPlan, member: string): Promise<boolean> {
    try {
        const r = await httpGet(`https://${hostByName(plan, member).address}:${plan.ports.etcdClient}/health`, 1500, memberTls(plan, member));
        return r.status === 200 && JSON.parse(r.body).health === "true";
    } catch {
        return false;
    }
}

/** HAProxy's view: which backend servers are UP in each listener (its stats CSV, over verified TLS, with the stats password). */
export async function haproxyServers(plan: DeploymentPlan, lb: string): Promise<Record<string, string[]> | undefined> {
    try {
        const r = await httpRequest(`https://${hostByName(plan, lb).managementAddress}:${plan.ports.haproxyStats}/;csv`, {
            tls: { ca: Buffer.from(trustBundle(PKI_DIR, plan.certificates)) },
            auth: `${STATS_USER}:${labSecrets().haproxy.statsPassword}`,
        });
        if (r.status !== 200) return undefined;
        const up: Record<string, string[]> = {};
        for (const line of r.body.split("\n").slice(1)) {
            const [px, sv, , , , , , , , , , , , , , , , status] = line.split(",");
            if (!sv || sv === "FRONTEND" || sv === "BACKEND") continue;
            up[px] ??= [];
            if (status === "UP") up[px].push(sv);
        }
        return up;
    } catch {
        return undefined;
    }
}

/**
 * A call of Patroni's REST API that changes something: needs the password and a client
 * certificate (`tls`, default the member's own: any from a trusted deployment CA will do).
 */
export function patroniRest(
    plan: DeploymentPlan,
    member: string,
    method: "POST" | "PATCH",
    path: string,
    body: unknown,
    password: string,
    opts: { timeoutMs?: number; tls?: TlsClient } = {},
): Promise<HttpAnswer> {
    return httpRequest(restUrl(plan, member, path), {
        method,
        body,
        auth: `${DB_USERS.restApi}:${password}`,
        timeoutMs: opts.timeoutMs ?? 5000,
        tls: opts.tls ?? memberTls(plan, member),
    });
}

/** Asks Patroni for a switchover to the candidate. */
export function patroniSwitchover(plan: DeploymentPlan, leader: string, candidate: string, password: string): Promise<HttpAnswer> {
    return patroniRest(plan, leader, "POST", "/switchover", { leader, candidate }, password, { timeoutMs: 30000 });
}
