/** Lookups in the plan: by name, by site and role. Pure. */
import { Role } from "./config";
import { DeploymentPlan, EtcdClusterPlan, HostPlan, PatroniClusterPlan, SitePlan } from "./model";

/** The hosts of the plan, optionally only those of one site and/or with one role, in plan order. */
export function hostsOf(plan: Pick<DeploymentPlan, "hosts">, filter: { site?: string; role?: Role } = {}): HostPlan[] {
    return plan.hosts.filter((h) => (filter.site === undefined || h.site === filter.site) && (filter.role === undefined || h.roles.includes(filter.role)));
}

/** The names of `hostsOf`. */
export function namesOf(plan: Pick<DeploymentPlan, "hosts">, filter: { site?: string; role?: Role } = {}): string[] {
    return hostsOf(plan, filter).map((h) => h.name);
}

/** The host of that name; throws when the plan has none. */
export function hostByName(plan: Pick<DeploymentPlan, "hosts">, name: string): HostPlan {
    const h = plan.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host named ${name} in the plan (hosts: ${plan.hosts.map((x) => x.name).join(", ")})`);
    return h;
}

/** The site of that name; throws when the plan has none. */
export function siteByName(plan: Pick<DeploymentPlan, "sites">, name: string): SitePlan {
    const s = plan.sites.find((x) => x.name === name);
    if (!s) throw new Error(`no site named ${name} in the plan (sites: ${plan.sites.map((x) => x.name).join(", ")})`);
    return s;
}

/** two-site: the permanent replication slot the primary site keeps for a standby site. */
export function standbySlot(site: string): string {
    return `standby_${site.replace(/-/g, "_")}`;
}

/** The etcd cluster a host's member belongs to, or the one its Patroni uses. */
export function etcdClusterOf(plan: DeploymentPlan, host: string): EtcdClusterPlan {
    const direct = plan.etcdClusters.find((c) => c.members.includes(host));
    if (direct) return direct;
    const pc = patroniClusterOf(plan, host);
    return plan.etcdClusters.find((c) => c.name === pc.etcd)!;
}

/** The Patroni cluster a member belongs to, or the one a site's load balancer routes to. */
export function patroniClusterOf(plan: DeploymentPlan, host: string): PatroniClusterPlan {
    const h = hostByName(plan, host);
    const c = plan.patroniClusters.find((x) => x.members.includes(host)) ?? plan.patroniClusters.find((x) => x.sites.includes(h.site));
    if (!c) throw new Error(`host ${host} belongs to no Patroni cluster`);
    return c;
}

/** The HAProxy hosts routing to the Patroni cluster of `scope`: what its members' certificates name and their pg_hba admits. */
export function haproxiesOf(plan: DeploymentPlan, scope: string): HostPlan[] {
    return hostsOf(plan, { role: "haproxy" }).filter((h) => patroniClusterOf(plan, h.name).scope === scope);
}

/** Where each member of a quorum runs: what the policy pack checks for spread. */
export function memberPlacement(plan: DeploymentPlan, members: string[]): { name: string; site: string; proxmoxNode: string }[] {
    return members.map((m) => {
        const h = hostByName(plan, m);
        return { name: h.name, site: h.site, proxmoxNode: h.proxmoxNode };
    });
}
