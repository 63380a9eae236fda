/**
 * `npm run lab -- status`: every host and service, Patroni's members, etcd's health,
 * HAProxy's routing, the Gluster bricks and NGINX, asked of the running lab.
 */
import { bricksOnline } from "../ops/gluster";
import { hostsOf } from "../plan/plan";
import { etcdHealth, etcdLeader, haproxyServers, leaderOf, patroniMembers, PatroniMemberStatus } from "./cluster";
import { execInHost, unitState } from "./hosts";
import { servicesOf } from "./services";
import { LabState, pidAlive, requireState } from "./state";

export interface LabStatus {
    hosts: {
        name: string;
        site: string;
        roles: string[];
        namespace: string;
        address: string;
        up: boolean;
        services: Record<string, "running" | "stopped" | "done">;
    }[];
    patroni: { leader?: string; members: PatroniMemberStatus[] };
    etcd: Record<string, boolean>;
    /** Each etcd cluster's raft leader (three-site: the keeper holds it on the witness). */
    etcdLeaders: Record<string, string | undefined>;
    haproxy: Record<string, { primary: string; replicas: string; upPrimary: string[]; upReplicas: string[] } | undefined>;
    /** The Gluster volume's bricks online (`gluster volume status`), when the plan has one. */
    gluster?: { volume: string; bricksOnline: number; bricks: number };
    /** Where NGINX serves the domain, when the plan has the app tier. */
    nginx?: { url: string; addresses: string[] };
    faults: LabState["faults"];
}

export async function status(): Promise<LabStatus> {
    const state = requireState();
    const plan = state.plan;
    const members = await patroniMembers(plan);
    const etcd: Record<string, boolean> = {};
    for (const h of hostsOf(plan, { role: "etcd" })) etcd[h.name] = await etcdHealth(plan, h.name);
    const etcdLeaders: LabStatus["etcdLeaders"] = {};
    for (const c of plan.etcdClusters) etcdLeaders[c.name] = await etcdLeader(plan, c);
    const haproxy: LabStatus["haproxy"] = {};
    for (const h of hostsOf(plan, { role: "haproxy" })) {
        const up = await haproxyServers(plan, h.name);
        haproxy[h.name] = up && {
            primary: `${h.address}:${plan.ports.haproxyPrimary}`,
            replicas: `${h.address}:${plan.ports.haproxyReplicas}`,
            upPrimary: up.primary ?? [],
            upReplicas: up.replicas ?? [],
        };
    }
    return {
        hosts: plan.hosts.map((h) => ({
            name: h.name,
            site: h.site,
            roles: h.roles,
            namespace: h.name,
            address: h.address,
            up: state.holders[h.name] !== undefined && pidAlive(state.holders[h.name]),
            // One-shot units (the Gluster mount, its data directory) are "done" once they have run.
            services: Object.fromEntries(servicesOf(plan, h).map((s) => [s.name, unitState(h.name, s.unit)])),
        })),
        patroni: { leader: leaderOf(members), members },
        etcd,
        etcdLeaders,
        haproxy,
        gluster: plan.gluster && glusterStatus(state),
        nginx:
            hostsOf(plan, { role: "nginx" }).length > 0
                ? { url: `https://${plan.nextcloud.domain}`, addresses: hostsOf(plan, { role: "nginx" }).map((h) => h.address) }
                : undefined,
        faults: state.faults,
    };
}

/** Counts the bricks `gluster volume status` reports online, asked of the first reachable brick host. */
function glusterStatus(state: LabState): { volume: string; bricksOnline: number; bricks: number } {
    const g = state.plan.gluster!;
    for (const b of g.bricks) {
        if (!pidAlive(state.holders[b.host])) continue;
        const r = execInHost(state.holders[b.host], b.host, ["gluster", "volume", "status", g.volume], 20000);
        if (r.status !== 0) continue;
        return { volume: g.volume, bricksOnline: bricksOnline(r.stdout).length, bricks: g.bricks.length };
    }
    return { volume: g.volume, bricksOnline: 0, bricks: g.bricks.length };
}

export function formatStatus(s: LabStatus): string {
    const rolesWidth = Math.max(5, ...s.hosts.map((h) => h.roles.join(",").length));
    const lines = [`HOST         SITE  ${"ROLES".padEnd(rolesWidth)} NAMESPACE    ADDRESS        STATE  SERVICES`];
    for (const h of s.hosts) {
        const svc = Object.entries(h.services)
            .map(([k, v]) => `${k}:${v}`)
            .join(" ");
        lines.push(
            `${h.name.padEnd(12)} ${h.site.padEnd(5)} ${h.roles.join(",").padEnd(rolesWidth)} ${h.namespace.padEnd(12)} ${h.address.padEnd(14)} ${(h.up ? "up" : "down").padEnd(6)} ${svc}`,
        );
    }
    lines.push("", `patroni: leader ${s.patroni.leader ?? "NONE"}`);
    for (const m of s.patroni.members)
        lines.push(
            `  ${m.name.padEnd(10)} ${(m.cluster ?? "").padEnd(14)} ${m.role.padEnd(14)} ${m.state.padEnd(10)} timeline ${m.timeline ?? "-"} lag ${m.lag ?? 0}`,
        );
    lines.push(
        `etcd: ${Object.entries(s.etcd)
            .map(([k, v]) => `${k} ${v ? "healthy" : "UNHEALTHY"}`)
            .join(", ")}; leader ${Object.entries(s.etcdLeaders)
            .map(([c, l]) => (Object.keys(s.etcdLeaders).length > 1 ? `${c}: ${l ?? "NONE"}` : (l ?? "NONE")))
            .join(", ")}`,
    );
    for (const [lb, v] of Object.entries(s.haproxy)) {
        lines.push(
            v
                ? `haproxy ${lb}: read-write ${v.primary} -> [${v.upPrimary.join(", ")}], read-only ${v.replicas} -> [${v.upReplicas.join(", ")}]`
                : `haproxy ${lb}: not answering`,
        );
    }
    if (s.gluster) lines.push(`gluster: volume ${s.gluster.volume}, ${s.gluster.bricksOnline} of ${s.gluster.bricks} bricks online`);
    if (s.nginx) lines.push(`nginx: ${s.nginx.url} at ${s.nginx.addresses.join(", ")} (the probe app stands in for Nextcloud)`);
    const f = s.faults;
    if (f.killed.length + f.isolatedHosts.length + f.isolatedSites.length > 0) {
        lines.push(
            `faults: killed [${f.killed.join(", ")}] isolated hosts [${f.isolatedHosts.join(", ")}] isolated sites [${f.isolatedSites.join(", ")}] (npm run lab -- heal)`,
        );
    }
    return lines.join("\n");
}
