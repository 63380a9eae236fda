/**
 * The lab's network: one namespace per host, named after the plan's host, and a router
 * namespace with a bridge per site; the sites reach each other only through the router,
 * where faults cut them. A link from the root namespace to the router lets the lab's
 * tools reach every host at its lab address (198.18.0.0/15 only).
 */
import { createHash } from "node:crypto";
import { DeploymentPlan, HostPlan } from "../plan/plan";
import { MGMT } from "./labPlan";
import { LabError, run, tryRun } from "./sh";
import { MGMT_LINK, ROUTER_NS } from "./state";

const ip = (...args: string[]) => run("ip", args);

function siteIndex(plan: DeploymentPlan, site: string): number {
    return plan.sites.findIndex((s) => s.name === site);
}

/** Interface names are limited to 15 characters, host names are not: a link is named by a hash of its host's name (stable when hosts come and go). */
function hostLink(_plan: DeploymentPlan, host: string): string {
    return `vh${createHash("sha256").update(host).digest("hex").slice(0, 10)}`;
}

export function existingNamespaces(): string[] {
    return tryRun("ip", ["netns", "list"])
        .stdout.split("\n")
        .map((l) => l.split(" ")[0])
        .filter(Boolean);
}

/** WAN delay needs the kernel's netem qdisc; say so plainly where it is missing. */
export function setWanDelay(plan: DeploymentPlan, ms: number): void {
    for (let i = 0; i < plan.sites.length; i++) {
        const r = tryRun("ip", ["netns", "exec", ROUTER_NS, "tc", "qdisc", "replace", "dev", `br${i}`, "root", "netem", "delay", `${ms}ms`]);
        if (r.status !== 0) {
            throw new LabError(
                `cannot add a WAN delay: this kernel has no netem qdisc (tc said: ${r.stderr.trim()}); run without --wan-delay, or on a kernel with sch_netem`,
            );
        }
    }
}

export function createRouter(plan: DeploymentPlan): void {
    ip("netns", "add", ROUTER_NS);
    ip("-n", ROUTER_NS, "link", "set", "lo", "up");
    run("ip", ["netns", "exec", ROUTER_NS, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    plan.sites.forEach((site, i) => {
        const gateway = plan.hosts.find((h) => h.site === site.name)!.gateway;
        ip("-n", ROUTER_NS, "link", "add", `br${i}`, "type", "bridge");
        ip("-n", ROUTER_NS, "addr", "add", `${gateway}/24`, "dev", `br${i}`);
        ip("-n", ROUTER_NS, "link", "set", `br${i}`, "up");
    });
    ip("link", "add", MGMT_LINK, "type", "veth", "peer", "name", "mgmt0", "netns", ROUTER_NS);
    ip("addr", "add", `${MGMT.host}/30`, "dev", MGMT_LINK);
    ip("link", "set", MGMT_LINK, "up");
    ip("-n", ROUTER_NS, "addr", "add", `${MGMT.router}/30`, "dev", "mgmt0");
    ip("-n", ROUTER_NS, "link", "set", "mgmt0", "up");
    ip("route", "replace", MGMT.route, "via", MGMT.router, "dev", MGMT_LINK);
}

export function createHostNetwork(plan: DeploymentPlan, host: HostPlan): void {
    const link = hostLink(plan, host.name);
    ip("netns", "add", host.name);
    ip("-n", host.name, "link", "set", "lo", "up");
    ip("-n", ROUTER_NS, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", host.name);
    ip("-n", ROUTER_NS, "link", "set", link, "master", `br${siteIndex(plan, host.site)}`, "up");
    ip("-n", host.name, "addr", "add", `${host.address}/${host.prefix}`, "dev", "eth0");
    ip("-n", host.name, "link", "set", "eth0", "up");
    ip("-n", host.name, "route", "add", "default", "via", host.gateway);
}

/** Cuts (or restores) a host's only link: it sees nobody, nobody sees it. */
export function setHostLink(plan: DeploymentPlan, host: string, up: boolean): void {
    ip("-n", ROUTER_NS, "link", "set", hostLink(plan, host), up ? "up" : "down");
}

/** Cuts (or restores) a site from every other site and from the lab's tools; inside it, hosts still talk. */
export function setSiteCut(plan: DeploymentPlan, site: string, cut: boolean): void {
    const cidr = plan.sites[siteIndex(plan, site)].cidr;
    for (const dir of ["from", "to"]) {
        const args = ["-n", ROUTER_NS, "rule", cut ? "add" : "del", "prio", dir === "from" ? "100" : "101", dir, cidr, "blackhole"];
        const r = tryRun("ip", args);
        if (r.status !== 0 && cut) throw new LabError(`ip ${args.join(" ")} failed: ${r.stderr.trim()}`);
    }
}

/** Removes the lab's namespaces and its root-namespace link; ignores what is already gone. */
/** Forgets a host's old link-layer address everywhere (a host that comes back at an address gets a new MAC; a stale neighbour entry would black-hole it). */
export function forgetNeighbour(namespaces: string[], address: string): void {
    for (const ns of namespaces) tryRun("ip", ["-n", ns, "neigh", "flush", "to", address]);
}

/** Removes one host's namespace (its link goes with it); the rest of the lab's network stays. */
export function removeHostNetwork(host: string): void {
    if (existingNamespaces().includes(host)) run("ip", ["netns", "del", host]);
}

export function destroyNetwork(namespaces: string[]): void {
    tryRun("ip", ["route", "del", MGMT.route, "via", MGMT.router]);
    tryRun("ip", ["link", "del", MGMT_LINK]);
    const present = new Set(existingNamespaces());
    for (const ns of namespaces) if (present.has(ns)) tryRun("ip", ["netns", "del", ns]);
}
