/**
 * Bringing the lab up and down: the network, every host's staged files (the renderers'
 * output with the lab's secrets and certificates), the hosts booted and their services
 * started; `down` removes all of it, also after a crash or a half-finished `up`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ensureRoot, rootReady, ROOTFS } from "../debian/root";
import { PASSWORD_ROLES, StackConfig, TOPOLOGIES } from "../plan/config";
import { DeploymentPlan, HostPlan, hostsOf, siteByName } from "../plan/plan";
import { bootstrapFiles, firstBoot, makeKeys, sshOptions } from "./bootstrap";
import { diffOf, labHost, pendingSteps, runSteps } from "./converge";
import { bootHost, killHost, stageHost } from "./hosts";
import { labPlan, labStack } from "./labPlan";
import { createHostNetwork, createRouter, destroyNetwork, existingNamespaces, forgetNeighbour, removeHostNetwork, setWanDelay } from "./net";
import { createCa } from "./pki";
import { rotateSecrets, writeSecrets } from "./secrets";
import { startAll } from "./services";
import { LabError, progress, requireRoot, tryRun } from "./sh";
import { hostDir, LAB_DIR, LabState, LeaveStep, loadState, PKI_DIR, removeState, requireState, ROUTER_NS, saveState } from "./state";

/** What cloud-init gives a VM: the host's namespace on its site's bridge, its bootstrap files, sshd and the stacks' user. */
async function bootOne(state: LabState, plan: DeploymentPlan, host: HostPlan): Promise<void> {
    createHostNetwork(plan, host);
    forgetNeighbour(state.namespaces, host.address);
    if (!state.namespaces.includes(host.name)) state.namespaces.push(host.name);
    saveState(state);
    // What cloud-init writes; every other file comes with the host's converge steps, over SSH.
    const beforePackages = labHost(plan, host).files.filter((f) => f.beforePackages);
    stageHost(plan, host, [...bootstrapFiles(plan, host, state.sshUser), ...beforePackages]);
    state.holders[host.name] = await bootHost(host);
    firstBoot(state.holders[host.name], host, state.sshUser);
    saveState(state);
}

/** `edit`: a change to the stack files' config before the plan is built (a benchmark's other setting, as in lab/labPlan.ts `labStack`). */
export async function up(opts: { topology?: string; wanDelayMs?: number; edit?: (config: StackConfig) => StackConfig }): Promise<void> {
    requireRoot();
    const existing = loadState();
    if (existing) throw new LabError(`a lab is already running (up since ${existing.createdAt}); run \`npm run lab -- down\` first`);
    const { plan, sshUser } = labStack(opts.topology, opts.edit);
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
        for (const host of plan.hosts) await bootOne(state, plan, host);
        progress(`booted ${plan.hosts.map((h) => h.name).join(", ")}; sshd up on each, reached as ${sshUser} with the lab's key, host keys pinned`);
        const certificate = hostsOf(plan, { role: "nginx" }).length > 0;
        const leader = (await startAll(state, plan.hosts)) ?? "none";
        progress(
            `healthy: leader ${leader}; HAProxy on ${hostsOf(plan, { role: "haproxy" })
                .map((h) => h.name)
                .join(", ")} routes to it`,
        );
        console.log(`lab up: ${plan.hosts.length} hosts, leader ${leader}. Connect:`);
        // pg_hba admits the superuser only on the members: over SSH, as on a VM.
        const member = plan.hosts.find((h) => h.name === leader) ?? hostsOf(plan, { role: "patroni" })[0];
        console.log(`  ssh -t ${sshOptions().join(" ")} ${state.sshUser}@${member.address} sudo -u postgres psql`);
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

/**
 * Copies every host's logs out of the lab dir, which `down` removes, with what each live host
 * was doing (processes.txt: its processes and their command lines; sockets.txt: its TCP
 * sockets with timers), for a hang that leaves no line in a log; returns where.
 */
export function keepLogs(state: LabState, dest = path.join(path.dirname(LAB_DIR), "lab-failed-logs")): string {
    fs.rmSync(dest, { recursive: true, force: true });
    const present = new Set(existingNamespaces());
    for (const h of state.plan.hosts) {
        const src = path.join(hostDir(h.name), "log");
        const to = path.join(dest, h.name);
        if (fs.existsSync(src)) fs.cpSync(src, to, { recursive: true });
        if (!present.has(h.name)) continue;
        fs.mkdirSync(to, { recursive: true });
        const pids = tryRun("ip", ["netns", "pids", h.name]).stdout.split(/\s+/).filter(Boolean);
        const line = (pid: string) => {
            try {
                return `${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim()}`;
            } catch {
                return `${pid} (gone)`;
            }
        };
        fs.writeFileSync(path.join(to, "processes.txt"), pids.map(line).join("\n") + "\n");
        fs.writeFileSync(path.join(to, "sockets.txt"), tryRun("ip", ["netns", "exec", h.name, "ss", "-tanpo"]).stdout);
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

/** The roles whose hosts the lab adds and removes: their services join on their first start and have a `leave`. */
const SCALABLE = ["patroni", "etcd"];

/**
 * The hosts a plan adds and removes against the running one. A host keeps its name, address and
 * roles, or goes and comes as another; only Patroni and etcd members come and go here (a brick
 * needs a volume change: not built yet).
 */
export function hostChanges(before: DeploymentPlan, after: DeploymentPlan): { added: HostPlan[]; removed: HostPlan[] } {
    const shape = (h: HostPlan) => `${h.address} [${h.roles.join(", ")}]`;
    for (const h of after.hosts) {
        const was = before.hosts.find((b) => b.name === h.name);
        if (was && shape(was) !== shape(h))
            throw new LabError(
                `${h.name} changes from ${shape(was)} to ${shape(h)}; a host keeps its address and roles (add a new one instead), or run \`npm run lab -- down\`, then \`up\``,
            );
    }
    const added = after.hosts.filter((h) => !before.hosts.some((b) => b.name === h.name));
    const removed = before.hosts.filter((b) => !after.hosts.some((h) => h.name === b.name));
    for (const h of [...added, ...removed])
        if (h.roles.some((r) => !SCALABLE.includes(r)))
            throw new LabError(
                `${h.name} [${h.roles.join(", ")}] ${added.includes(h) ? "comes" : "goes"}: the lab adds and removes Patroni and etcd members only (other roles need steps the lab has not built); run \`npm run lab -- down\`, then \`up\``,
            );
    return { added, removed };
}

/**
 * `lab apply`: the stack files read again, every step whose triggers changed shown (host, step,
 * file) and run in order, as `pulumi up` after a config change. `dryRun`: shown, nothing run.
 */
export async function apply(opts: { dryRun: boolean }): Promise<string> {
    requireRoot();
    const state = requireState();
    const { plan } = labStack(state.topology);
    const { added, removed } = hostChanges(state.plan, plan);
    const pending = pendingSteps(state, plan);
    for (const h of added) console.log(`+ ${h.name} (${h.roles.join(", ")}, ${h.address}): a new host`);
    for (const s of pending) console.log([`~ ${s.key}`, ...diffOf(state.applied[s.key], s.triggers).map((l) => `    ${l}`)].join("\n"));
    // With the hosts an earlier apply left leaving (its leave steps did not all run).
    const leaving = [...(state.leaving ?? []), ...removed.map((h) => ({ host: h, steps: leaveSteps(state.plan, h) }))];
    for (const { host: h, steps } of leaving)
        console.log(`- ${h.name}: ${steps.map((s) => `${s.service} leaves (${s.argv.join(" ")})`).join(", then ")}, then it goes`);
    const rotating = PASSWORD_ROLES.filter((r) => plan.passwords.rotation[r] !== state.plan.passwords.rotation[r]);
    const changes = pending.length + leaving.length;
    if (opts.dryRun)
        return changes === 0
            ? "no changes"
            : `${pending.length} steps would run${leaving.length ? `, ${leaving.length} hosts leave` : ""}${rotating.length ? `, and every step whose files hold the new ${rotating.join(", ")} passwords` : ""} (--dry-run: nothing changed)`;
    const n = await applyPlan(state, plan);
    return n === 0 ? "no changes" : `${n} steps applied`;
}

/**
 * Converges the running lab to a plan, as `pulumi up` would: new hosts booted (what cloud-init
 * does), passwords whose generation changed drawn again, the steps whose triggers changed run in
 * order, then the hosts the plan dropped leave their cluster and go (Pulumi deletes last).
 * Returns how many steps ran.
 */
export async function applyPlan(state: LabState, plan: DeploymentPlan, say = progress): Promise<number> {
    const { added, removed } = hostChanges(state.plan, plan);
    const back = added.filter((h) => state.leaving?.some((l) => l.host.name === h.name));
    if (back.length)
        throw new LabError(
            `${back.map((h) => h.name).join(", ")} has not finished leaving (an earlier apply stopped); apply a plan without it first, or run \`npm run lab -- down\`, then \`up\``,
        );
    // Their leave steps as the plan they came with renders them (their files are that plan's), kept in the state until they are gone.
    const leaving = [...(state.leaving ?? []), ...removed.map((h) => ({ host: h, steps: leaveSteps(state.plan, h) }))];
    // Until the removed hosts are gone, every host's key stays pinned: their leave steps connect too.
    if (added.length || leaving.length) makeKeys({ ...plan, hosts: [...plan.hosts, ...leaving.map((l) => l.host)] });
    if (added.length) {
        for (const h of added) {
            await bootOne(state, plan, h);
            say(`${h.name}: booted (sshd up, ${state.sshUser} with the lab's key)`);
        }
    }
    // As `pulumi up` replaces a RandomPassword whose keepers changed: the files holding it change with it.
    const rotated = rotateSecrets(plan);
    if (rotated.length) say(`passwords rotated: ${rotated.join(", ")}`);
    const pending = pendingSteps(state, plan);
    state.plan = plan;
    state.leaving = leaving;
    saveState(state);
    await runSteps(state, pending, say);
    for (const { host: h, steps } of leaving) {
        await runSteps(
            state,
            steps.map((s) => ({ ...s, host: h, script: "", triggers: [] })),
            say,
        );
        await killHost(h.name);
        removeHostNetwork(h.name);
        fs.rmSync(hostDir(h.name), { recursive: true, force: true });
        state.namespaces = state.namespaces.filter((n) => n !== h.name);
        delete state.holders[h.name];
        for (const key of Object.keys(state.applied)) if (key.startsWith(`${h.name}/`)) delete state.applied[key];
        state.leaving = state.leaving.filter((l) => l.host.name !== h.name);
        saveState(state);
        say(`${h.name}: gone`);
    }
    if (leaving.length) makeKeys(plan);
    return pending.length + leaving.length;
}

/** A removed host's leave steps, its last service first: what the program's `<host>-leave-<service>` run on delete. */
function leaveSteps(plan: DeploymentPlan, host: HostPlan): LeaveStep[] {
    return labHost(plan, host)
        .services.filter((s) => s.leave)
        .reverse()
        .map((s) => ({ key: `${host.name}/leave-${s.name}`, service: `leave-${s.name}`, argv: s.leave! }));
}
