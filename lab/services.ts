/**
 * The lab's services: what each host runs (its renderers' services), first started by its
 * converge steps over SSH phase by phase (lab/converge.ts) with a wait between phases for what
 * the next needs, started again at a reboot as systemd starts enabled units, and the wait for
 * a healthy cluster that every command and drill starts from.
 */
import { tcpOpen } from "../ops/http";
import { DeploymentPlan, HostPlan, hostsOf, patroniClusterOf } from "../plan/plan";
import { ETCD_AUTH_STEP } from "../render/etcd";
import { renderHost } from "../render/host";
import { placeholderInputs, placeholderSecrets } from "../render/placeholders";
import { ServiceSpec } from "../render/rendered";
import { asLabHost, mounted, PHASES } from "./appTier";
import { firstBoot } from "./bootstrap";
import { etcdHealth, haproxyServers, healthy, patroniMembers, primariesOf } from "./cluster";
import { CLUSTER_STEP, converge } from "./converge";
import { execInHost } from "./hosts";
import { LabError, progress, waitFor } from "./sh";
import { LabState } from "./state";

/** The services the lab runs on a host (the probe app in Docker's place). */
export function servicesOf(plan: DeploymentPlan, host: HostPlan): ServiceSpec[] {
    return asLabHost(plan, host, renderHost(plan, host, placeholderInputs(host)), placeholderSecrets().nextcloud).services;
}

/** Runs the lab's systemctl on a host, from its console (not over SSH): a boot's starts, a held service's start. */
function systemctl(state: LabState, host: HostPlan, args: string[]): void {
    const r = execInHost(state.holders[host.name], host.name, ["systemctl", ...args], 120000);
    if (r.status !== 0)
        throw new LabError(`systemctl ${args.join(" ")} on ${host.name} failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-2).join(" | ")}`);
}

/** Starts the host's enabled services of a phase, as systemd does at boot. */
function bootServices(state: LabState, host: HostPlan, names: string[]): void {
    const units = servicesOf(state.plan, host)
        .filter((s) => names.includes(s.name))
        .map((s) => s.unit);
    if (units.length > 0) systemctl(state, host, ["lab-boot", ...units]);
}

/** Starts every host's services phase by phase, waiting between phases for what the next needs. */
export async function startAll(state: LabState, hosts: HostPlan[], say = progress): Promise<string | undefined> {
    const plan = state.plan;
    let leader: string | undefined;
    for (const phase of PHASES) {
        const targets = hosts.filter((h) => servicesOf(plan, h).some((s) => phase.includes(s.name)));
        if (targets.length === 0) continue;
        await converge(state, targets, phase.includes("glusterd") ? [...phase, "volume"] : phase, say);
        switch (phase[0]) {
            case "etcd": {
                const etcd = hostsOf(plan, { role: "etcd" });
                await waitFor("every etcd member healthy", 60000, async () =>
                    (await Promise.all(etcd.map((h) => etcdHealth(plan, h.name)))).every(Boolean) ? true : undefined,
                );
                say(`etcd: ${etcd.length} members healthy`);
                if (plan.etcd.auth) await converge(state, targets, [ETCD_AUTH_STEP], say);
                break;
            }
            case "glusterd":
                say(`gluster: volume ${plan.gluster!.volume} created on ${plan.gluster!.creator}`);
                break;
            case "patroni":
                leader = await waitHealthy(state, 120000, say);
                await converge(state, targets, [CLUSTER_STEP], say);
                break;
            case "gluster-mount":
                await waitFor(`the Gluster volume mounted on ${targets.map((h) => h.name).join(", ")}`, 60000, () =>
                    targets.every((h) => mounted(plan, state.holders[h.name], h.name)) ? true : undefined,
                );
                say(`gluster: ${plan.gluster!.mountPoint} mounted on ${targets.map((h) => h.name).join(", ")}`);
                break;
            case "probe-app":
                await waitFor("the probe apps answering", 60000, async () =>
                    (await Promise.all(targets.map((h) => tcpOpen(h.address, plan.ports.nextcloud)))).every(Boolean) ? true : undefined,
                );
                break;
            case "nginx":
                await waitFor("NGINX answering on 443", 60000, async () =>
                    (await Promise.all(hostsOf(plan, { role: "nginx" }).map((h) => tcpOpen(h.address, plan.ports.https)))).every(Boolean) ? true : undefined,
                );
                say(
                    `nginx: https://${plan.nextcloud.domain} served by ${hostsOf(plan, { role: "nginx" })
                        .map((h) => h.name)
                        .join(", ")}`,
                );
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
        const ok = plan.patroniClusters.every((c) =>
            healthy(
                m.filter((x) => x.cluster === c.scope),
                c.members.length,
                c.synchronousMode,
            ),
        );
        const primaries = primariesOf(m);
        return ok && primaries.length === 1 ? primaries[0] : undefined;
    });
    for (const lb of hostsOf(plan, { role: "haproxy" })) {
        const cluster = patroniClusterOf(plan, lb.name);
        const expected = cluster.members.includes(leader) ? [leader] : [];
        await waitFor(`HAProxy on ${lb.name} routing 5000 to ${expected[0] ?? "nobody (its site's cluster is a standby)"}`, timeoutMs, async () => {
            const up = await haproxyServers(plan, lb.name);
            return up && (up.primary ?? []).join() === expected.join() ? true : undefined;
        });
    }
    return leader;
}

/**
 * Starts rebooted hosts' services in phase order, leaving out the `hold` services (a site
 * that comes back fenced keeps Patroni stopped until it is told to follow the new primary);
 * a new brick only needs its glusterd.
 */
export async function restartServices(state: LabState, hosts: HostPlan[], hold: string[] = []): Promise<void> {
    for (const h of hosts) firstBoot(state.holders[h.name], h, state.sshUser);
    for (const phase of PHASES) {
        for (const h of hosts)
            bootServices(
                state,
                h,
                phase.filter((s) => !hold.includes(s)),
            );
        if (phase[0] === "gluster-mount") {
            const apps = hosts.filter((h) => h.roles.includes("nextcloud"));
            await waitFor("the Gluster volume mounted on the rebooted hosts", 60000, () =>
                apps.every((h) => mounted(state.plan, state.holders[h.name], h.name)) ? true : undefined,
            );
        }
    }
}

/**
 * Starts or stops one service the hosts' roles give them, as an operator's `systemctl` does:
 * a service `restartServices` held back, the leader keeper a benchmark turns off for a trial.
 */
export function controlService(state: LabState, hosts: HostPlan[], service: string, action: "start" | "stop"): void {
    for (const h of hosts) {
        const spec = servicesOf(state.plan, h).find((s) => s.name === service);
        if (spec) systemctl(state, h, [action, spec.unit]);
    }
}
