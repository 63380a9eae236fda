/**
 * Bringing the lab up and down: the network, every host's staged files (the renderers'
 * output with the lab's secrets and certificates), the hosts booted and their services
 * started; `down` removes all of it, also after a crash or a half-finished `up`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ensureRoot, rootReady, ROOTFS } from "../debian/root";
import { TOPOLOGIES } from "../plan/config";
import { hostsOf, siteByName } from "../plan/plan";
import { DB_USERS } from "../render/patroni";
import { bootstrapFiles, firstBoot, makeKeys } from "./bootstrap";
import { labHost } from "./converge";
import { bootHost, killHost, stageHost } from "./hosts";
import { labPlan, labStack } from "./labPlan";
import { createHostNetwork, createRouter, destroyNetwork, existingNamespaces, setWanDelay } from "./net";
import { createCa } from "./pki";
import { writeSecrets } from "./secrets";
import { startAll } from "./services";
import { LabError, progress, requireRoot } from "./sh";
import { hostDir, LAB_DIR, LabState, loadState, PGPASS_FILE, PKI_DIR, removeState, ROUTER_NS, saveState } from "./state";

export async function up(opts: { topology?: string; wanDelayMs?: number }): Promise<void> {
    requireRoot();
    const existing = loadState();
    if (existing) throw new LabError(`a lab is already running (up since ${existing.createdAt}); run \`npm run lab -- down\` first`);
    const { plan, sshUser } = labStack(opts.topology);
    const clash = existingNamespaces().filter((ns) => ns === ROUTER_NS || plan.hosts.some((h) => h.name === ns));
    if (clash.length > 0)
        throw new LabError(`network namespaces ${clash.join(", ")} already exist; run \`npm run lab -- down\`, or remove them with \`ip netns del\``);
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
        sshUser,
        applied: {},
        faults: { killed: [], isolatedHosts: [], isolatedSites: [] },
    };
    saveState(state); // before anything exists, so `down` can always clean up
    try {
        progress(`network: router ${ROUTER_NS}, ${plan.sites.length} sites (${plan.networks.join(", ")}), ${plan.hosts.length} hosts`);
        createRouter(plan);
        if (opts.wanDelayMs) setWanDelay(plan, opts.wanDelayMs);
        state.wanDelayMs = opts.wanDelayMs ?? 0;
        writeSecrets(plan);
        createCa(PKI_DIR);
        makeKeys(plan);
        for (const host of plan.hosts) {
            createHostNetwork(plan, host);
            // What cloud-init writes; every other file comes with the host's converge steps, over SSH.
            const beforePackages = labHost(plan, host).files.filter((f) => f.beforePackages);
            stageHost(plan, host, [...bootstrapFiles(plan, host, sshUser), ...beforePackages]);
            state.holders[host.name] = await bootHost(host);
            firstBoot(state.holders[host.name], host, sshUser);
            saveState(state);
        }
        progress(`booted ${plan.hosts.map((h) => h.name).join(", ")}; sshd up on each, reached as ${sshUser} with the lab's key, host keys pinned`);
        const certificate = hostsOf(plan, { role: "nginx" }).length > 0;
        const leader = (await startAll(state, plan.hosts)) ?? "none";
        const db = siteByName(plan, plan.primarySite).database!.readWrite;
        progress(
            `healthy: leader ${leader}; HAProxy on ${hostsOf(plan, { role: "haproxy" })
                .map((h) => h.name)
                .join(", ")} routes to it`,
        );
        console.log(`lab up: ${plan.hosts.length} hosts, leader ${leader}. Connect:`);
        console.log(`  PGPASSFILE=${PGPASS_FILE} psql -h ${db.host} -p ${db.port} -U ${DB_USERS.superuser} postgres`);
        if (certificate)
            console.log(
                `  curl --cacert ${path.join(PKI_DIR, "wildcard.crt")} --resolve ${plan.nextcloud.domain}:443:${siteByName(plan, plan.activeSite).publicAddresses[0]} https://${plan.nextcloud.domain}/status.php`,
            );
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
                for (const h of labPlan(topology).hosts) if (present.has(h.name) && !namespaces.includes(h.name)) namespaces.push(h.name);
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
