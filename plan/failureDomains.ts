/**
 * The failure matrix: for every single failure the plan can suffer (a host, a Proxmox node, a
 * site and, in two-site, the link between the sites), which roles keep a survivor, what brings
 * service back, whether the topology promises to survive it, and the lab drill that exercises
 * it. Read from the plan alone, worst case where the plan cannot know the running state (which
 * member is the primary, which replica Patroni chose as its synchronous standby). Pure.
 */
import { Topology } from "./config";
import { hostByName, hostsOf, namesOf, siteByName } from "./lookup";
import { DeploymentPlan, PatroniClusterPlan } from "./model";

export type FailureRole = "etcd" | "patroni" | "haproxy" | "gluster" | "nginx" | "redis" | "cron" | "app";
/** Roles whose loss loses or splits data: a plan that leaves one without a survivor where the topology promises automatic recovery is refused. */
export const DATA_ROLES: readonly FailureRole[] = ["etcd", "patroni", "gluster"];
/** Roles whose loss is an outage, not a loss of data: reported, and a warning. */
export const SERVICE_ROLES: readonly FailureRole[] = ["haproxy", "nginx", "redis", "cron", "app"];

/** One failure: its id (`host dc1-db1`, `node dc1/pve-dc1`, `site dc1`, `link dc1-dc2`) and the hosts it takes down (none for a link cut). */
export interface Failure {
    id: string;
    kind: "host" | "node" | "site" | "link";
    hosts: string[];
}

/** A role under a failure: whether it keeps a survivor, who (or what is missing), and, without one, the change to the plan that would give it one. */
export interface RoleOutcome {
    survives: boolean;
    note: string;
    fix?: string;
}

/**
 * A failure and its outcome. `recovery`: `automatic` when every evaluated role survives;
 * `restore` when no member of any Patroni cluster (or no Gluster data brick) survives, so data
 * comes back from backups; otherwise `one command`: the operator action in `command` brings
 * service back without restoring data. `promised`: the topology promises to survive it
 * automatically. `drill`: the lab drill (`npm run lab -- drill <name>`) that exercises it.
 */
export interface FailureRow {
    failure: Failure;
    roles: Partial<Record<FailureRole, RoleOutcome>>;
    recovery: "automatic" | "one command" | "restore";
    command?: string;
    promised: boolean;
    drill?: string;
}

/** Every single failure of a plan, for the roles it has (`roles`, in table order). */
export interface FailureMatrix {
    topology: Topology;
    /** The site clients reach (config `activeSite`; in three-site the primary site). */
    activeSite: string;
    roles: FailureRole[];
    rows: FailureRow[];
}

/** A failure being evaluated. `up`: the host is not taken down and, on a link cut, is on the clients' side (the active site). */
interface Scene {
    plan: DeploymentPlan;
    failure: Failure;
    site?: string;
    node?: string;
    up: (host: string) => boolean;
}

const list = (hosts: string[]) => (hosts.length > 0 ? hosts.join(", ") : "none");
const fail = (note: string, fix: string): RoleOutcome => ({ survives: false, note, fix });
const ok = (note: string): RoleOutcome => ({ survives: true, note });

/** The Patroni cluster that holds the primary: the one serving the active site that follows no other. */
function activeCluster(plan: DeploymentPlan): PatroniClusterPlan {
    return plan.patroniClusters.find((c) => c.sites.includes(plan.activeSite) && !c.standbyOf) ?? plan.patroniClusters[0];
}

/** What to do about one lost host: it may only be down, else its stack recreates it. */
function bringBack(plan: DeploymentPlan, host: string): string {
    return `start ${host} again, or if it is gone: pulumi up --stack ${hostByName(plan, host).site} (rebuilds ${host})`;
}

function etcdOutcome(s: Scene): RoleOutcome {
    const c = s.plan.etcdClusters.find((x) => x.name === activeCluster(s.plan).etcd)!;
    const up = c.members.filter(s.up);
    const need = Math.floor(c.members.length / 2) + 1;
    const note = `${up.length} of ${c.members.length} ${s.failure.kind === "link" ? `reachable in ${s.plan.activeSite}` : "up"} (${list(up)}), quorum ${need}`;
    // Without the leader keeper etcd's leader may be any member: lost with the primary, the failover waits for another election and the leases it renews.
    const withPrimary =
        s.plan.topology === "three-site" && c.leaders.length === 0 && c.members.some((m) => !s.up(m)) && activeCluster(s.plan).members.some((m) => !s.up(m));
    if (up.length >= need)
        return ok(withPrimary ? `${note}; etcd's leader may go with the primary (no leader keeper: etcd.keepLeader): a slower failover` : note);
    const spread = s.plan.topology === "two-site" ? "Proxmox nodes of the site" : "sites and Proxmox nodes";
    return fail(`${note}: no quorum`, `spread ${c.name}'s members over the ${spread} so that no one of them holds half or more`);
}

/**
 * three-site (synchronous mode, one synchronous standby): Patroni promotes only the sync
 * standby, and may have picked it beside the primary, so the role survives only if the failure
 * takes at most one member. two-site: any member of the active site's cluster left will do,
 * replication inside the site being asynchronous.
 */
function patroniOutcome(s: Scene, etcd: RoleOutcome): RoleOutcome {
    const { plan, failure } = s;
    const c = activeCluster(plan);
    const up = c.members.filter(s.up);
    const lost = c.members.filter((m) => failure.hosts.includes(m));
    if (!etcd.survives) return fail(`no etcd quorum for ${c.scope}: its primary steps down`, etcd.fix!);
    if (c.synchronousMode) {
        const fix = "put the Patroni members in different sites and on different Proxmox nodes, so that one failure takes at most one of them";
        if (up.length === 0) return fail(`no member of ${c.scope} left`, fix);
        if (lost.length >= 2) {
            const note = `${lost.length} of ${c.members.length} members lost (${list(lost)})`;
            return fail(`${note}: the primary and its synchronous standby may both be among them`, fix);
        }
        return ok(`${list(up)} up${lost.length > 0 ? ` (${lost[0]} lost: one member at most, so the primary or its synchronous standby survives)` : ""}`);
    }
    const active = plan.activeSite;
    const standby = plan.patroniClusters.filter((x) => x !== c && x.members.some((m) => !failure.hosts.includes(m)));
    if (up.length === 0) {
        const other = standby.length > 0 ? `; ${standby[0].sites.join(", ")}'s standby cluster can be promoted` : "";
        const fix =
            failure.kind === "site"
                ? "a two-site site loss takes the promotion; three-site survives it by itself"
                : `give ${active} a second Patroni member on another Proxmox node`;
        return fail(`no member of ${c.scope} left in ${active} (${list(lost)} down)${other}`, fix);
    }
    const bytes = plan.patroni.maximumLagOnFailover;
    const lag = lost.length > 0 ? `; asynchronous: up to ${bytes} bytes (maximumLagOnFailover) may be lost if the primary was ${list(lost)}` : "";
    const behind = failure.kind === "link" ? `; ${list(standby.flatMap((x) => x.sites))}'s standby cluster falls behind until the link returns` : "";
    return ok(`${list(up)} in ${active}${lag}${behind}`);
}

/** three-site: any HAProxy of a site the cluster serves; two-site: one in the active site (the other site's routes to its standby cluster). */
function haproxyOutcome(s: Scene): RoleOutcome {
    const { plan } = s;
    const c = activeCluster(plan);
    const sites = plan.topology === "two-site" ? [plan.activeSite] : c.sites;
    const all = sites.flatMap((site) => namesOf(plan, { site, role: "haproxy" }));
    const up = all.filter(s.up);
    if (up.length > 0) return ok(`${list(up)} route${up.length > 1 ? "" : "s"} to ${c.scope}'s primary`);
    const where = plan.topology === "two-site" ? ` in ${plan.activeSite}` : "";
    return fail(`no HAProxy left${where}: ${list(all)} down`, `add a second HAProxy host${where} on another Proxmox node`);
}

/** The volume is `replica 2 arbiter 1`: writable with 2 of its 3 bricks, one of them a data brick, on the clients' side. */
function glusterOutcome(s: Scene): RoleOutcome {
    const bricks = s.plan.gluster!.bricks;
    const up = bricks.filter((b) => s.up(b.host));
    const data = up.filter((b) => !b.arbiter);
    const where = s.failure.kind === "link" ? ` in ${s.plan.activeSite}` : "";
    const note = `${up.length} of ${bricks.length} bricks up${where} (${list(up.map((b) => (b.arbiter ? `${b.host} arbiter` : b.host)))})`;
    if (up.length >= 2 && data.length >= 1) return ok(note);
    const fix = "put the bricks on different Proxmox nodes, the data bricks in different sites and the arbiter where it breaks the tie";
    return fail(`${note}: ${data.length === 0 ? "no data brick" : "no quorum"}, the volume turns read-only`, fix);
}

/** The active site's front door; the NGINX of another site that serves the same cluster can take over once DNS points at it. */
function nginxOutcome(s: Scene, c: PatroniClusterPlan): RoleOutcome {
    const { plan } = s;
    const active = plan.activeSite;
    const up = namesOf(plan, { site: active, role: "nginx" }).filter(s.up);
    const vip = siteByName(plan, active).vip;
    if (up.length > 0) return ok(`${list(up)} in ${active}${vip ? ` behind the VIP ${vip.address}` : ""}`);
    const other = c.sites.find((x) => x !== active && namesOf(plan, { site: x, role: "nginx" }).some(s.up));
    const takeOver = other ? `; ${other}'s NGINX can take over once its dnsRecords are published` : "";
    return fail(`no NGINX left in ${active}, where DNS points${takeOver}`, `add a second NGINX node in ${active} on another Proxmox node, with a vip`);
}

function singleOutcome(s: Scene, host: string | undefined, what: string): RoleOutcome {
    if (host === undefined) return fail(`${s.plan.activeSite} has no app node to run ${what}`, `add app nodes in ${s.plan.activeSite}`);
    if (s.up(host)) return ok(host);
    const fix = `${what} is not highly available yet (a single host, ${host}); until it is: ${bringBack(s.plan, host)}`;
    return fail(`${host} is down: ${what} runs on that one host`, fix);
}

/** The active site serves Nextcloud: an app node of its own, and every other role it needs. */
function appOutcome(s: Scene, roles: Partial<Record<FailureRole, RoleOutcome>>): RoleOutcome {
    const active = s.plan.activeSite;
    const up = namesOf(s.plan, { site: active, role: "nextcloud" }).filter(s.up);
    const lacking = (["nginx", "redis", "haproxy", "patroni", "gluster"] as const).filter((r) => roles[r] && !roles[r]!.survives);
    // The app nodes reach the database through one address: the site's database endpoint, not any HAProxy.
    const via = siteByName(s.plan, active).database?.via;
    const route = via !== undefined && s.up(via) ? [] : [`its database endpoint (${via ?? "none"})`];
    if (up.length > 0 && lacking.length === 0 && route.length === 0) return ok(`${list(up)} in ${active}, through ${via}`);
    const missing = [...(up.length === 0 ? ["an app node"] : []), ...lacking, ...route];
    return fail(
        `${active} lacks ${missing.join(", ")}`,
        lacking.length > 0
            ? `fix this failure's other gaps (${lacking.join(", ")})`
            : route.length > 0
              ? `the app nodes' database endpoint is one host (${via}): give ${active} a second HAProxy and a virtual address for it (not yet supported)`
              : `add a second app node in ${active} on another Proxmox node`,
    );
}

/**
 * The recovery of a row, in order: data gone (restore); nothing lost (automatic); two-site
 * without the active cluster: promote the other site; three-site with members left but none
 * promotable: fail over to one by hand; the front door lost: publish another site's DNS
 * records; else bring back what the failure took.
 */
function recoveryOf(s: Scene, roles: Partial<Record<FailureRole, RoleOutcome>>): Pick<FailureRow, "recovery" | "command"> {
    const { plan, failure } = s;
    const gone = (hosts: string[]) => hosts.length > 0 && hosts.every((h) => failure.hosts.includes(h));
    const dataBricks = (plan.gluster?.bricks ?? []).filter((b) => !b.arbiter).map((b) => b.host);
    if (plan.patroniClusters.every((c) => gone(c.members)) || (plan.gluster && gone(dataBricks))) return { recovery: "restore" };
    const lost = Object.entries(roles)
        .filter(([, o]) => !o.survives)
        .map(([r]) => r);
    if (lost.length === 0) return { recovery: "automatic" };
    const c = activeCluster(plan);
    const active = plan.activeSite;
    const nginxOther = roles.nginx && !roles.nginx.survives && c.sites.find((x) => x !== active && namesOf(plan, { site: x, role: "nginx" }).some(s.up));
    const dns = (site: string) => `publish ${site}'s dnsRecords (the A records of ${plan.nextcloud.domain})`;
    if (lost.includes("patroni") && plan.topology === "two-site") {
        const other = plan.patroniClusters.find((x) => x !== c && x.members.some((m) => !failure.hosts.includes(m)));
        if (other) {
            const then = roles.nginx && !roles.nginx.survives ? `; then ${dns(other.sites[0])}` : "";
            return { recovery: "one command", command: `npm run promote -- ${other.sites[0]} --confirm-fenced ${active}${then}` };
        }
    }
    const candidate = c.members.find(s.up);
    if (lost.includes("patroni") && c.synchronousMode && roles.etcd?.survives && candidate) {
        const command = `patronictl -c /etc/patroni/config.yml failover ${c.scope} --candidate ${candidate} --force (if Patroni did not promote by itself)`;
        return { recovery: "one command", command };
    }
    if (nginxOther) return { recovery: "one command", command: dns(nginxOther) };
    const command =
        failure.kind === "host"
            ? bringBack(plan, failure.hosts[0])
            : failure.kind === "node"
              ? `power Proxmox node ${s.node} of ${s.site} back on (its VMs: ${list(failure.hosts)}), or move them to a live node: pulumi up --stack ${s.site}`
              : failure.kind === "site"
                ? `bring ${s.site} back (its VMs start again)`
                : `restore the link between ${plan.sites.map((x) => x.name).join(" and ")}`;
    return { recovery: "one command", command };
}

/** The drill that kills exactly one host of this kind, if any (the drills pick their own target: a like host). */
function hostDrill(plan: DeploymentPlan, name: string): string | undefined {
    const h = hostByName(plan, name);
    // primary-host-loss kills the active cluster's leader: switch over to the member first. A standby cluster's member has no drill.
    if (h.roles.includes("patroni")) return activeCluster(plan).members.includes(name) ? "primary-host-loss" : undefined;
    if (h.roles.includes("gluster")) return "storage-host-loss";
    if (h.roles.includes("nextcloud")) return "app-host-loss";
    if (h.roles.includes("etcd") && siteByName(plan, h.site).witness) return "witness-loss";
    return undefined;
}

/** three-site: site-loss for a data site, witness-loss for a one-host witness; two-site: dc-promotion for the active site (the drill loses it). */
function siteDrill(plan: DeploymentPlan, site: string): string | undefined {
    const hosts = namesOf(plan, { site });
    if (plan.topology === "two-site") return site === plan.activeSite ? "dc-promotion" : undefined;
    if (!siteByName(plan, site).witness) return "site-loss";
    return hosts.length === 1 ? hostDrill(plan, hosts[0]) : undefined;
}

function drillOf(s: Scene): string | undefined {
    const { plan, failure } = s;
    if (failure.kind === "host") return hostDrill(plan, failure.hosts[0]);
    if (failure.kind === "site") return siteDrill(plan, s.site!);
    if (failure.kind === "node") {
        // A node holding its whole site is that site's loss; one holding one host, that host's.
        if (failure.hosts.length === namesOf(plan, { site: s.site }).length) return siteDrill(plan, s.site!);
        if (failure.hosts.length === 1) return hostDrill(plan, failure.hosts[0]);
    }
    return undefined;
}

/** Every single failure: each host, each Proxmox node of each site, each site, and the two-site link. */
function failuresOf(plan: DeploymentPlan): Omit<Scene, "plan" | "up">[] {
    const out: Omit<Scene, "plan" | "up">[] = plan.hosts.map((h) => ({ failure: { id: `host ${h.name}`, kind: "host", hosts: [h.name] }, site: h.site }));
    for (const site of plan.sites) {
        for (const node of [...new Set(hostsOf(plan, { site: site.name }).map((h) => h.proxmoxNode))]) {
            const hosts = hostsOf(plan, { site: site.name })
                .filter((h) => h.proxmoxNode === node)
                .map((h) => h.name);
            out.push({ failure: { id: `node ${site.name}/${node}`, kind: "node", hosts }, site: site.name, node });
        }
    }
    for (const { name } of plan.sites) out.push({ failure: { id: `site ${name}`, kind: "site", hosts: namesOf(plan, { site: name }) }, site: name });
    if (plan.topology === "two-site") out.push({ failure: { id: `link ${plan.sites.map((s) => s.name).join("-")}`, kind: "link", hosts: [] } });
    return out;
}

/**
 * If X fails, what survives: every single failure of the plan with the fate of each role it has
 * (gluster only with a volume; nginx, redis, cron and app only with the app tier). three-site
 * promises to survive every host, Proxmox node and site failure by itself; two-site only those
 * inside a site (a site loss takes the promotion; a link cut leaves the standby behind).
 */
export function failureMatrix(plan: DeploymentPlan): FailureMatrix {
    const roles: FailureRole[] = ["etcd", "patroni", "haproxy"];
    if (plan.gluster) roles.push("gluster");
    if (plan.app) roles.push("nginx", "redis", "cron", "app");
    const c = activeCluster(plan);
    const rows = failuresOf(plan).map((f): FailureRow => {
        const link = f.failure.kind === "link";
        const up = (h: string) => !f.failure.hosts.includes(h) && (!link || hostByName(plan, h).site === plan.activeSite);
        const s: Scene = { ...f, plan, up };
        const out: Partial<Record<FailureRole, RoleOutcome>> = {};
        out.etcd = etcdOutcome(s);
        out.patroni = patroniOutcome(s, out.etcd);
        out.haproxy = haproxyOutcome(s);
        if (plan.gluster) out.gluster = glusterOutcome(s);
        if (plan.app) {
            out.nginx = nginxOutcome(s, c);
            out.redis = singleOutcome(s, siteByName(plan, plan.activeSite).redis, "Redis");
            out.cron = singleOutcome(s, plan.app.cron, "cron");
            out.app = appOutcome(s, out);
        }
        const promised = plan.topology === "three-site" ? !link : f.failure.kind === "host" || f.failure.kind === "node";
        const drill = drillOf(s);
        return { failure: f.failure, roles: out, ...recoveryOf(s, out), promised, ...(drill ? { drill } : {}) };
    });
    return { topology: plan.topology, activeSite: plan.activeSite, roles, rows };
}

/**
 * Promised-automatic rows that leave a role without a survivor: one line each naming the
 * failure and the role, the reason and the fix. The app is left out where another of the
 * roles asked about already explains why it is down.
 */
export function failureGaps(matrix: FailureMatrix, roles: readonly FailureRole[]): { failure: string; role: FailureRole; message: string }[] {
    const lost = (r: FailureRow, role: FailureRole) => r.roles[role] !== undefined && !r.roles[role]!.survives;
    return matrix.rows
        .filter((r) => r.promised)
        .flatMap((r) =>
            roles
                .filter((role) => lost(r, role) && !(role === "app" && roles.some((x) => x !== "app" && lost(r, x))))
                .map((role) => {
                    const o = r.roles[role]!;
                    const verb = r.failure.kind === "link" ? "cutting" : "losing";
                    const promise = `the ${matrix.topology} topology promises to survive it automatically`;
                    return { failure: r.failure.id, role, message: `${verb} ${r.failure.id} leaves no ${role}: ${o.note}; ${promise}; ${o.fix}` };
                }),
        );
}

/** The matrix as a markdown table (one row per failure, a column per role with ✓/✗, recovery, promised, drill). */
export function formatMatrix(matrix: FailureMatrix): string {
    const cell = (s: string) => s.replace(/\|/g, "\\|");
    const header = ["failure", ...matrix.roles, "recovery", "promised", "drill"];
    const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
    for (const r of matrix.rows) {
        const recovery = r.command ? `${r.recovery}: ${r.command}` : r.recovery;
        const roles = matrix.roles.map((role) => (r.roles[role]?.survives ? "✓" : "✗"));
        lines.push(`| ${[r.failure.id, ...roles, recovery, r.promised ? "yes" : "no", r.drill ?? ""].map(cell).join(" | ")} |`);
    }
    return lines.join("\n");
}
