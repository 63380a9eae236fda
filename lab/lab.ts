/**
 * The lab's commands: boot the plan's database tier in network namespaces from the stack
 * files, report on it, break it, heal it, and take it down.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DatabaseSecrets } from "../render/rendered";
import { needsTls, renderHost } from "../render/host";
import { DB_USERS } from "../render/patroni";
import { ensureRoot, rootReady, ROOTFS } from "../debian/root";
import { PLACEHOLDER_DATABASE, PLACEHOLDER_NEXTCLOUD, placeholderCertificate, placeholderTls } from "../render/placeholders";
import { ServiceSpec } from "../render/rendered";
import { NextcloudSecrets } from "../render/nextcloud";
import { bricksOnline } from "../ops/siteMove";
import { tcpOpen } from "../ops/http";
import { createVolume, labCertificate, labExtraFiles, labServices, mounted, PHASES } from "./appTier";
import { listStacks, readStackConfig, REPO_ROOT, STACK_DIR } from "../plan/stackFiles";
import { loadStackConfig, Role, TOPOLOGIES } from "../plan/config";
import { buildPlan, DeploymentPlan, hostByName, HostPlan, patroniClusterOf } from "../plan/plan";
import { etcdHealth, haproxyServers, healthy, leaderOf, patroniMembers, PatroniMemberStatus, primariesOf } from "./cluster";
import { bootHost, execInHost, killHost, killProcesses, stageHost, startService } from "./hosts";
import { readdress } from "./labPlan";
import { createHostNetwork, createRouter, destroyNetwork, existingNamespaces, setHostLink, setSiteCut, setWanDelay } from "./net";
import { createCa, issueIdentity } from "./pki";
import { LabError, progress, waitFor } from "./sh";
import { hostDir, LAB_DIR, LabState, loadState, PGPASS_FILE, PKI_DIR, removeState, ROUTER_NS, saveState, SECRETS_FILE } from "./state";

export function requireRoot(): void {
    if (process.getuid?.() !== 0) throw new LabError("the lab needs root (network namespaces, mounts, chroot); run it with sudo");
}

/** The plan of the stack files, as every stack computes it, checked against every stack file. */
export function planFromStackFiles(topology?: string): DeploymentPlan {
    const dir = stackDirFor(topology);
    const stacks = listStacks(dir);
    if (stacks.length === 0) throw new LabError(`no Pulumi.<stack>.yaml files in ${dir}`);
    const configs = stacks.map((s) => loadStackConfig(readStackConfig(s, dir)));
    const plan = buildPlan(configs[0]);
    if (topology !== undefined && topology !== plan.topology) {
        throw new LabError(`the stack files in ${dir} describe a ${plan.topology} deployment, not ${topology}`);
    }
    const missing = plan.sites.filter((s) => !configs.some((c) => c.site === s.name));
    if (missing.length > 0) throw new LabError(`no stack file deploys site ${missing.map((s) => s.name).join(", ")}; add Pulumi.<stack>.yaml with nextcloud-ha:site set to it`);
    return plan;
}

/**
 * Where the stack files of a topology are: the project's own (STACK_DIR) when they describe
 * it or no topology is asked for, else the example of that topology in examples/<topology>/.
 */
export function stackDirFor(topology?: string): string {
    if (topology === undefined) return STACK_DIR;
    if (!(TOPOLOGIES as readonly string[]).includes(topology)) throw new LabError(`unknown topology ${topology}; the topologies are ${TOPOLOGIES.join(", ")}`);
    const own = listStacks(STACK_DIR)[0];
    if (own !== undefined && loadStackConfig(readStackConfig(own)).topology === topology) return STACK_DIR;
    const example = path.join(REPO_ROOT, "examples", topology);
    if (!fs.existsSync(path.join(example, "Pulumi.yaml"))) throw new LabError(`the stack files in ${STACK_DIR} are not ${topology}, and there is no example in ${example}`);
    return example;
}

export function hostsWith(plan: DeploymentPlan, role: Role): HostPlan[] {
    return plan.hosts.filter((h) => h.roles.includes(role));
}

interface LabSecrets {
    database: DatabaseSecrets;
    nextcloud: NextcloudSecrets;
}

export function labSecrets(): DatabaseSecrets {
    return (JSON.parse(fs.readFileSync(SECRETS_FILE, "utf8")) as LabSecrets).database;
}

/** The lab's own passwords (the Pulumi program's come from @pulumi/random), mode 0600, never printed. */
function writeSecrets(): LabSecrets {
    const pw = () => randomBytes(24).toString("base64url");
    const database: DatabaseSecrets = { superuserPassword: pw(), replicationPassword: pw(), rewindPassword: pw(), restApiPassword: pw(), appPassword: pw() };
    const nextcloud: NextcloudSecrets = {
        instanceId: `oc${randomBytes(5).toString("hex")}`,
        passwordSalt: pw(),
        secret: pw(),
        databasePassword: database.appPassword,
        redisPassword: pw(),
        adminPassword: pw(),
    };
    fs.writeFileSync(SECRETS_FILE, JSON.stringify({ database, nextcloud }), { mode: 0o600 });
    fs.writeFileSync(PGPASS_FILE, `*:*:*:${DB_USERS.superuser}:${database.superuserPassword}\n`, { mode: 0o600 });
    return { database, nextcloud };
}

/** The services the lab runs on a host (they depend only on its roles; its files are staged). */
function servicesOf(plan: DeploymentPlan, host: HostPlan): ServiceSpec[] {
    const placeholders = { database: PLACEHOLDER_DATABASE, tls: placeholderTls(host.name), certificate: placeholderCertificate(), nextcloud: PLACEHOLDER_NEXTCLOUD };
    return labServices(host, renderHost(plan, host, placeholders).services);
}

/** Starts the host's services of the given phase (all of them when none is given). */
function startHostServices(state: LabState, host: HostPlan, phase?: string[]): void {
    for (const spec of servicesOf(state.plan, host)) {
        if (phase && !phase.includes(spec.name)) continue;
        const pid = startService(state.holders[host.name], host.name, spec);
        state.services = state.services.filter((s) => !(s.host === host.name && s.name === spec.name));
        state.services.push({ host: host.name, name: spec.name, pid });
    }
    saveState(state);
}

/** Starts every host's services phase by phase, waiting between phases for what the next needs. */
async function startAll(state: LabState, hosts: HostPlan[], say = progress): Promise<string | undefined> {
    const plan = state.plan;
    let leader: string | undefined;
    for (const phase of PHASES) {
        const targets = hosts.filter((h) => servicesOf(plan, h).some((s) => phase.includes(s.name)));
        if (targets.length === 0) continue;
        for (const h of targets) startHostServices(state, h, phase);
        switch (phase[0]) {
            case "etcd": {
                const etcd = hostsWith(plan, "etcd");
                await waitFor("every etcd member healthy", 60000, async () => ((await Promise.all(etcd.map((h) => etcdHealth(plan, h.name)))).every(Boolean) ? true : undefined));
                say(`etcd: ${etcd.length} members healthy`);
                break;
            }
            case "glusterd":
                if (targets.length === plan.gluster!.bricks.length) say(`gluster: volume ${plan.gluster!.volume} created on ${createVolume(plan, state.holders)}`);
                break;
            case "patroni":
                leader = await waitHealthy(state, 120000, say);
                break;
            case "gluster-mount":
                await waitFor(`the Gluster volume mounted on ${targets.map((h) => h.name).join(", ")}`, 60000, () => (targets.every((h) => mounted(plan, state.holders[h.name], h.name)) ? true : undefined));
                say(`gluster: ${plan.gluster!.mountPoint} mounted on ${targets.map((h) => h.name).join(", ")}`);
                break;
            case "probe-app":
                await waitFor("the probe apps answering", 60000, async () => ((await Promise.all(targets.map((h) => tcpOpen(h.address, plan.ports.nextcloud)))).every(Boolean) ? true : undefined));
                break;
            case "nginx":
                await waitFor("NGINX answering on 443", 60000, async () => ((await Promise.all(hostsWith(plan, "nginx").map((h) => tcpOpen(h.address, plan.ports.https)))).every(Boolean) ? true : undefined));
                say(`nginx: https://${plan.nextcloud.domain} served by ${hostsWith(plan, "nginx").map((h) => h.name).join(", ")}`);
                break;
        }
    }
    return leader;
}

/**
 * Waits until every Patroni cluster has its leader and every replica streams (one of them
 * synchronous where the cluster is), exactly one member in the lab accepts writes, and each
 * HAProxy routes 5000 to its site's primary (to nobody in a standby cluster's site).
 */
export async function waitHealthy(state: LabState, timeoutMs: number, say = progress): Promise<string> {
    const plan = state.plan;
    let said = "";
    const leader = await waitFor("a Patroni leader with every replica streaming", timeoutMs, async () => {
        const m = await patroniMembers(plan);
        const line = m.length > 0 ? m.map((x) => `${x.name}=${x.role}/${x.state}`).join(" ") : "no member answers yet";
        if (line !== said) say(`patroni: ${(said = line)}`);
        const ok = plan.patroniClusters.every((c) => healthy(m.filter((x) => x.cluster === c.scope), c.members.length, c.synchronousMode));
        const primaries = primariesOf(m);
        return ok && primaries.length === 1 ? primaries[0] : undefined;
    });
    for (const lb of hostsWith(plan, "haproxy")) {
        const cluster = patroniClusterOf(plan, lb.name);
        const expected = cluster.members.includes(leader) ? [leader] : [];
        await waitFor(`HAProxy on ${lb.name} routing 5000 to ${expected[0] ?? "nobody (its site's cluster is a standby)"}`, timeoutMs, async () => {
            const up = await haproxyServers(plan, lb.name);
            return up && (up.primary ?? []).join() === expected.join() ? true : undefined;
        });
    }
    return leader;
}

export async function up(opts: { topology?: string; wanDelayMs?: number }): Promise<void> {
    requireRoot();
    const existing = loadState();
    if (existing) throw new LabError(`a lab is already running (up since ${existing.createdAt}); run \`npm run lab -- down\` first`);
    const plan = readdress(planFromStackFiles(opts.topology));
    const clash = existingNamespaces().filter((ns) => ns === ROUTER_NS || plan.hosts.some((h) => h.name === ns));
    if (clash.length > 0) throw new LabError(`network namespaces ${clash.join(", ")} already exist; run \`npm run lab -- down\`, or remove them with \`ip netns del\``);
    if (!rootReady()) progress(`building the Debian 13 root at ${ROOTFS} (once, about a minute)`);
    try {
        ensureRoot();
    } catch (e) {
        throw new LabError((e as Error).message);
    }
    fs.rmSync(LAB_DIR, { recursive: true, force: true });
    fs.mkdirSync(LAB_DIR, { recursive: true, mode: 0o700 });
    const state: LabState = {
        createdAt: new Date().toISOString(),
        topology: plan.topology,
        plan,
        namespaces: [ROUTER_NS, ...plan.hosts.map((h) => h.name)],
        holders: {},
        services: [],
        faults: { killed: [], isolatedHosts: [], isolatedSites: [] },
    };
    saveState(state); // before anything exists, so `down` can always clean up
    try {
        progress(`network: router ${ROUTER_NS}, ${plan.sites.length} sites (${plan.networks.join(", ")}), ${plan.hosts.length} hosts`);
        createRouter(plan);
        if (opts.wanDelayMs) setWanDelay(plan, opts.wanDelayMs);
        state.wanDelayMs = opts.wanDelayMs ?? 0;
        const secrets = writeSecrets();
        createCa(PKI_DIR);
        const certificate = hostsWith(plan, "nginx").length > 0 ? labCertificate(PKI_DIR, plan.nextcloud.domain) : undefined;
        for (const host of plan.hosts) {
            createHostNetwork(plan, host);
            const tls = needsTls(host) ? issueIdentity(PKI_DIR, host) : undefined;
            const rendered = renderHost(plan, host, {
                database: host.roles.includes("patroni") ? secrets.database : undefined,
                nextcloud: host.roles.includes("nextcloud") ? secrets.nextcloud : undefined,
                tls,
                certificate,
            });
            stageHost(plan, host, { ...rendered, files: [...rendered.files, ...labExtraFiles(plan, host, secrets.nextcloud)] });
            state.holders[host.name] = await bootHost(host);
            saveState(state);
        }
        progress(`booted ${plan.hosts.map((h) => h.name).join(", ")}`);
        const leader = (await startAll(state, plan.hosts)) ?? "none";
        const lb = hostsWith(plan, "haproxy")[0];
        progress(`healthy: leader ${leader}; HAProxy on ${hostsWith(plan, "haproxy").map((h) => h.name).join(", ")} routes to it`);
        console.log(`lab up: ${plan.hosts.length} hosts, leader ${leader}. Connect:`);
        console.log(`  PGPASSFILE=${PGPASS_FILE} psql -h ${lb.address} -p ${plan.ports.haproxyPrimary} -U ${DB_USERS.superuser} postgres`);
        if (certificate) console.log(`  curl --cacert ${path.join(PKI_DIR, "wildcard.crt")} --resolve ${plan.nextcloud.domain}:443:${hostsWith(plan, "nginx")[0].address} https://${plan.nextcloud.domain}/status.php`);
        console.log(`  npm run lab -- status     npm run lab -- down`);
    } catch (e) {
        progress(`up failed: ${(e as Error).message}; tearing down what it started (hosts' logs kept in ${keepLogs(state)})`);
        await down({ quiet: true });
        throw e;
    }
}

/** Copies every host's logs out of the lab dir, which `down` removes; returns where. */
function keepLogs(state: LabState): string {
    const dest = path.join(path.dirname(LAB_DIR), "lab-failed-logs");
    fs.rmSync(dest, { recursive: true, force: true });
    for (const h of state.plan.hosts) {
        const src = path.join(hostDir(h.name), "log");
        if (fs.existsSync(src)) fs.cpSync(src, path.join(dest, h.name), { recursive: true });
    }
    return dest;
}

export async function down(opts: { quiet?: boolean } = {}): Promise<void> {
    requireRoot();
    const state = loadState();
    const namespaces = state?.namespaces ?? [];
    const present = new Set(existingNamespaces());
    // After a crash with no state, still remove what the stack files' hosts would be named.
    if (!state) {
        for (const topology of TOPOLOGIES) {
            try {
                for (const h of planFromStackFiles(topology).hosts) if (present.has(h.name) && !namespaces.includes(h.name)) namespaces.push(h.name);
            } catch {
                /* no plan of that topology: nothing of it to remove */
            }
        }
        if (present.has(ROUTER_NS)) namespaces.push(ROUTER_NS);
    }
    const live = namespaces.filter((ns) => present.has(ns));
    for (const ns of live) await killHost(ns);
    destroyNetwork(namespaces);
    removeState();
    fs.rmSync(path.join(LAB_DIR, "hosts"), { recursive: true, force: true });
    if (!opts.quiet) console.log(live.length > 0 ? `lab down: stopped ${live.length} namespaces (${live.join(", ")})` : "lab down: nothing was running");
}

export function requireState(): LabState {
    const s = loadState();
    if (!s) throw new LabError("no lab is running; start one with `npm run lab -- up`");
    return s;
}

function pidAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

const ONE_SHOT = ["gluster-mount", "gluster-data-dir"];

export interface LabStatus {
    hosts: { name: string; site: string; roles: string[]; namespace: string; address: string; up: boolean; services: Record<string, "running" | "stopped" | "done"> }[];
    patroni: { leader?: string; members: PatroniMemberStatus[] };
    etcd: Record<string, boolean>;
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
    for (const h of hostsWith(plan, "etcd")) etcd[h.name] = await etcdHealth(plan, h.name);
    const haproxy: LabStatus["haproxy"] = {};
    for (const h of hostsWith(plan, "haproxy")) {
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
            // One-shot steps (the Gluster mount, its data directory) are "done" once they have run.
            services: Object.fromEntries(state.services.filter((s) => s.host === h.name).map((s) => [s.name, pidAlive(s.pid) ? "running" : ONE_SHOT.includes(s.name) ? "done" : "stopped"])),
        })),
        patroni: { leader: leaderOf(members), members },
        etcd,
        haproxy,
        gluster: plan.gluster && glusterStatus(state),
        nginx: hostsWith(plan, "nginx").length > 0 ? { url: `https://${plan.nextcloud.domain}`, addresses: hostsWith(plan, "nginx").map((h) => h.address) } : undefined,
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
        const svc = Object.entries(h.services).map(([k, v]) => `${k}:${v}`).join(" ");
        lines.push(`${h.name.padEnd(12)} ${h.site.padEnd(5)} ${h.roles.join(",").padEnd(rolesWidth)} ${h.namespace.padEnd(12)} ${h.address.padEnd(14)} ${(h.up ? "up" : "down").padEnd(6)} ${svc}`);
    }
    lines.push("", `patroni: leader ${s.patroni.leader ?? "NONE"}`);
    for (const m of s.patroni.members) lines.push(`  ${m.name.padEnd(10)} ${(m.cluster ?? "").padEnd(14)} ${m.role.padEnd(14)} ${m.state.padEnd(10)} timeline ${m.timeline ?? "-"} lag ${m.lag ?? 0}`);
    lines.push(`etcd: ${Object.entries(s.etcd).map(([k, v]) => `${k} ${v ? "healthy" : "UNHEALTHY"}`).join(", ")}`);
    for (const [lb, v] of Object.entries(s.haproxy)) {
        lines.push(v ? `haproxy ${lb}: read-write ${v.primary} -> [${v.upPrimary.join(", ")}], read-only ${v.replicas} -> [${v.upReplicas.join(", ")}]` : `haproxy ${lb}: not answering`);
    }
    if (s.gluster) lines.push(`gluster: volume ${s.gluster.volume}, ${s.gluster.bricksOnline} of ${s.gluster.bricks} bricks online`);
    if (s.nginx) lines.push(`nginx: ${s.nginx.url} at ${s.nginx.addresses.join(", ")} (the probe app stands in for Nextcloud)`);
    const f = s.faults;
    if (f.killed.length + f.isolatedHosts.length + f.isolatedSites.length > 0) {
        lines.push(`faults: killed [${f.killed.join(", ")}] isolated hosts [${f.isolatedHosts.join(", ")}] isolated sites [${f.isolatedSites.join(", ")}] (npm run lab -- heal)`);
    }
    return lines.join("\n");
}

export const FAULTS = ["kill-postgres", "kill-host", "kill-site", "isolate-host", "isolate-site", "slow-wan"] as const;
export type FaultKind = (typeof FAULTS)[number];

/** Resolves `primary` to the current leader; checks the target exists in the plan. */
export async function resolveTarget(state: LabState, target: string, kind: "host" | "site"): Promise<string> {
    const plan = state.plan;
    if (target === "primary") {
        const leader = leaderOf(await patroniMembers(plan));
        if (!leader) throw new LabError("there is no Patroni leader right now to target as `primary`");
        return kind === "site" ? hostByName(plan, leader).site : leader;
    }
    if (kind === "site") {
        if (!plan.sites.some((s) => s.name === target)) throw new LabError(`no site ${target} in the plan (sites: ${plan.sites.map((s) => s.name).join(", ")})`);
    } else if (!plan.hosts.some((h) => h.name === target)) {
        throw new LabError(`no host ${target} in the plan (hosts: ${plan.hosts.map((h) => h.name).join(", ")}, or primary)`);
    }
    return target;
}

export async function fault(kind: string, target: string | undefined): Promise<string> {
    requireRoot();
    const state = requireState();
    if (!FAULTS.includes(kind as FaultKind)) throw new LabError(`unknown fault ${kind}; the faults are ${FAULTS.join(", ")}`);
    if (target === undefined) throw new LabError(`fault ${kind} needs a target: ${kind === "slow-wan" ? "the delay in ms" : kind.endsWith("-site") ? "a site, or primary" : "a host, or primary"}`);
    const plan = state.plan;
    switch (kind as FaultKind) {
        case "kill-postgres": {
            const host = await resolveTarget(state, target, "host");
            if (!hostByName(plan, host).roles.includes("patroni")) throw new LabError(`${host} runs no PostgreSQL`);
            const n = killProcesses(host, "postgres");
            return `killed ${n} postgres processes on ${host}`;
        }
        case "kill-host": {
            const host = await resolveTarget(state, target, "host");
            await killHost(host);
            state.faults.killed = [...new Set([...state.faults.killed, host])];
            saveState(state);
            return `killed every process on ${host}`;
        }
        case "kill-site": {
            // A power cut: every host of the site at once.
            const site = await resolveTarget(state, target, "site");
            const hosts = plan.hosts.filter((h) => h.site === site).map((h) => h.name);
            await Promise.all(hosts.map((h) => killHost(h)));
            state.faults.killed = [...new Set([...state.faults.killed, ...hosts])];
            saveState(state);
            return `killed every process on ${hosts.join(", ")} (site ${site})`;
        }
        case "isolate-host": {
            const host = await resolveTarget(state, target, "host");
            setHostLink(plan, host, false);
            state.faults.isolatedHosts = [...new Set([...state.faults.isolatedHosts, host])];
            saveState(state);
            return `isolated ${host}`;
        }
        case "isolate-site": {
            const site = await resolveTarget(state, target, "site");
            if (!state.faults.isolatedSites.includes(site)) setSiteCut(plan, site, true);
            state.faults.isolatedSites = [...new Set([...state.faults.isolatedSites, site])];
            saveState(state);
            return `cut site ${site} off from the other sites`;
        }
        case "slow-wan": {
            const ms = Number(target);
            if (!Number.isInteger(ms) || ms < 0 || ms > 10000) throw new LabError(`slow-wan takes a delay in ms from 0 to 10000, got ${target}`);
            setWanDelay(plan, ms);
            state.faults.wanDelayMs = ms;
            saveState(state);
            return `WAN delay ${ms} ms`;
        }
    }
}

/**
 * Starts rebooted hosts' services in phase order, leaving out the `hold` services (a site
 * that comes back fenced keeps Patroni stopped until it is told to follow the new primary);
 * a new brick only needs its glusterd.
 */
export async function restartServices(state: LabState, hosts: HostPlan[], hold: string[] = []): Promise<void> {
    for (const phase of PHASES) {
        for (const h of hosts) startHostServices(state, h, phase.filter((s) => !hold.includes(s)));
        if (phase[0] === "gluster-mount") {
            const apps = hosts.filter((h) => h.roles.includes("nextcloud"));
            await waitFor("the Gluster volume mounted on the rebooted hosts", 60000, () => (apps.every((h) => mounted(state.plan, state.holders[h.name], h.name)) ? true : undefined));
        }
    }
}

/** Starts one service the hosts' roles give them (after `restartServices` held it back). */
export function startHeld(state: LabState, hosts: HostPlan[], service: string): void {
    for (const h of hosts) startHostServices(state, h, [service]);
}

/** Undoes every fault: reboots killed hosts with their services (but the `hold` ones), restores links. */
export async function heal(hold: string[] = []): Promise<string> {
    requireRoot();
    const state = requireState();
    const done: string[] = [];
    for (const site of state.faults.isolatedSites) setSiteCut(state.plan, site, false), done.push(`site ${site} reconnected`);
    for (const host of state.faults.isolatedHosts) setHostLink(state.plan, host, true), done.push(`${host} reconnected`);
    const rebooted: HostPlan[] = [];
    for (const name of state.faults.killed) {
        const host = hostByName(state.plan, name);
        state.holders[name] = await bootHost(host);
        rebooted.push(host);
        done.push(`${name} rebooted${hold.length ? ` (${hold.join(", ")} held)` : ""}`);
    }
    saveState(state);
    await restartServices(state, rebooted, hold);
    if (state.faults.wanDelayMs) setWanDelay(state.plan, state.wanDelayMs ?? 0), done.push(`WAN delay back to ${state.wanDelayMs ?? 0} ms`);
    // A crashed PostgreSQL is restarted by its Patroni; nothing to do for kill-postgres.
    state.faults = { killed: [], isolatedHosts: [], isolatedSites: [] };
    saveState(state);
    return done.length > 0 ? done.join(", ") : "nothing to heal";
}

