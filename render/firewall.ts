/**
 * Proxmox firewall rules for a VM: every role's port open only to the hosts of the plan that
 * use it, each by its /32 (the plan knows every address), and SSH, HAProxy's stats and the
 * two-site site commands' probe of HAProxy to the management networks (inbound policy DROP). Pure.
 */
import { DeploymentPlan, etcdClusterOf, haproxiesOf, HostPlan, hostByName, hostsOf, namesOf, patroniClusterOf, siteByName } from "../plan/plan";

export interface FirewallRule {
    /** Empty for protocols without ports (VRRP). */
    dport: string;
    proto: "tcp" | "vrrp";
    /** Comma-separated CIDRs; empty means any source (public services only). */
    source: string;
    comment: string;
}

/** Proxmox takes at most this many characters in a rule's source (pve-firewall's API schema). */
const MAX_SOURCE = 512;

/**
 * The hosts' addresses as /32s, each once, as a rule's source; where that list would not fit a
 * Proxmox rule, their sites' networks instead (what pg_hba lets in anyway).
 */
function addressesOf(plan: DeploymentPlan, hosts: string[]): string {
    const exact = [...new Set(hosts.map((h) => `${hostByName(plan, h).address}/32`))].join(",");
    if (exact.length <= MAX_SOURCE) return exact;
    const sites = new Set(hosts.map((h) => hostByName(plan, h).site));
    return plan.sites
        .filter((s) => sites.has(s.name))
        .map((s) => s.cidr)
        .join(",");
}

export function renderFirewall(plan: DeploymentPlan, host: HostPlan): FirewallRule[] {
    const p = plan.ports;
    const management = plan.managementNetworks.join(",");
    const rules: FirewallRule[] = [{ dport: "22", proto: "tcp", source: management, comment: "ssh: the management networks" }];
    for (const role of host.roles) {
        switch (role) {
            case "etcd": {
                const cluster = etcdClusterOf(plan, host.name);
                const clients = plan.patroniClusters.filter((c) => c.etcd === cluster.name).flatMap((c) => c.members);
                rules.push({
                    dport: String(p.etcdClient),
                    proto: "tcp",
                    source: addressesOf(plan, [...cluster.members, ...clients]),
                    comment: "etcd clients: Patroni and members",
                });
                rules.push({ dport: String(p.etcdPeer), proto: "tcp", source: addressesOf(plan, cluster.members), comment: "etcd peers" });
                break;
            }
            case "patroni": {
                const cluster = patroniClusterOf(plan, host.name);
                const lbs = haproxiesOf(plan, cluster.scope).map((h) => h.name);
                const source = addressesOf(plan, [...cluster.members, ...lbs]);
                rules.push({ dport: String(p.postgres), proto: "tcp", source, comment: "PostgreSQL: HAProxy and replication" });
                // The site commands (npm run promote/rejoin) ask the REST API on the member itself, over SSH.
                rules.push({ dport: String(p.patroniRest), proto: "tcp", source, comment: "Patroni REST API: HAProxy checks, members" });
                break;
            }
            case "haproxy":
                // two-site: the other site's standby cluster replicates (and rewinds) through this
                // HAProxy, in either direction after a promotion.
                rules.push({
                    dport: `${p.haproxyPrimary}:${p.haproxyReplicas}`,
                    proto: "tcp",
                    // two-site: and the site commands, which look at both sites' HAProxy before a promotion.
                    source: [
                        addressesOf(plan, [
                            host.name,
                            ...namesOf(plan, { role: "nextcloud" }),
                            ...(plan.topology === "two-site" ? plan.patroniClusters.flatMap((c) => c.members) : []),
                        ]),
                        ...(plan.topology === "two-site" ? [management] : []),
                    ].join(","),
                    comment: "HAProxy to PostgreSQL: app nodes, standby clusters",
                });
                rules.push({ dport: String(p.haproxyStats), proto: "tcp", source: management, comment: "HAProxy stats: the management networks" });
                break;
            case "nginx":
                rules.push({ dport: `${p.http},${p.https}`, proto: "tcp", source: "", comment: "Nextcloud over HTTPS: public" });
                if (siteByName(plan, host.site).vip) {
                    // keepalived's adverts: IP protocol 112, from the site's NGINX nodes only.
                    rules.push({
                        dport: "",
                        proto: "vrrp",
                        source: hostsOf(plan, { site: host.site, role: "nginx" })
                            .map((h) => `${h.address}/32`)
                            .join(","),
                        comment: "VRRP from the other NGINX node",
                    });
                }
                break;
            case "gluster":
            case "gluster-arbiter": {
                const peers = plan.gluster?.bricks.map((b) => b.host) ?? [];
                const source = addressesOf(plan, [...peers, ...namesOf(plan, { role: "nextcloud" })]);
                rules.push({ dport: "24007:24008", proto: "tcp", source, comment: "glusterd: peers and clients" });
                rules.push({ dport: "49152:49251", proto: "tcp", source, comment: "Gluster bricks: peers and clients" });
                break;
            }
            case "nextcloud":
                rules.push({
                    dport: String(p.nextcloud),
                    proto: "tcp",
                    source: hostsOf(plan, { site: host.site, role: "nginx" })
                        .map((h) => `${h.address}/32`)
                        .join(","),
                    comment: "Nextcloud: the site's NGINX",
                });
                rules.push({
                    dport: String(p.redis),
                    proto: "tcp",
                    source: addressesOf(plan, namesOf(plan, { site: host.site, role: "nextcloud" })),
                    comment: "Redis: the site's app nodes",
                });
                break;
            default: {
                const never: never = role;
                throw new Error(`no firewall rules for role ${String(never)}`);
            }
        }
    }
    return rules;
}

/**
 * The addresses a VM may send from (Proxmox's `ipfilter`: the `ipfilter-net0` ipset): its own,
 * its management address, and its site's virtual address where keepalived may move it onto the
 * VM (NGINX hosts of a site with a VIP). Anything else it sends is dropped by the host.
 */
export function sourceAddresses(plan: DeploymentPlan, host: HostPlan): string[] {
    const vip = host.roles.includes("nginx") ? siteByName(plan, host.site).vip : undefined;
    return [...new Set([host.address, host.managementAddress, ...(vip ? [vip.address] : [])])];
}
