/**
 * The deployment plan: every site, host, role, address, size, version and cluster, as
 * plain data. Pure, and computed from the project-level config only, so every stack (and
 * the lab) computes the same plan and dc1 can name dc2's members without reading dc2.
 */
import { EtcdConfig, HaproxyConfig, NextcloudConfig, PatroniConfig, ProjectConfig, Role, ROLES, Size, Topology } from "./config";

/** Debian 13 package versions the VMs and the lab run. */
export const VERSIONS = {
    debian: "trixie",
    postgres: 17,
    patroni: "4.0.7",
    etcd: "3.5",
    haproxy: "3.0",
} as const;

export const PORTS = {
    postgres: 5432,
    patroniRest: 8008,
    etcdClient: 2379,
    etcdPeer: 2380,
    haproxyPrimary: 5000,
    haproxyReplicas: 5001,
    haproxyStats: 7000,
    https: 443,
    http: 80,
    nextcloud: 8080,
    redis: 6379,
} as const;

export interface HostPlan {
    name: string;
    site: string;
    address: string;
    managementAddress: string;
    /** Prefix length of the site's network. */
    prefix: number;
    gateway: string;
    dns: string[];
    roles: Role[];
    size: Size;
    vmId: number;
    proxmoxNode: string;
    /** A second disk, formatted and mounted at first boot (Gluster bricks). */
    dataDisk?: { sizeGb: number; mountPoint: string; filesystem: "xfs" };
}

export interface SitePlan {
    name: string;
    cidr: string;
    /** keepalived's virtual address for the site's NGINX nodes, when it has two. */
    vip?: { address: string; interface: string };
    hosts: string[];
    /** The witness site holds etcd (and later the Gluster arbiter) but no database. */
    witness: boolean;
}

export interface EtcdClusterPlan {
    /** etcd's `initial-cluster-token`, unique per cluster. */
    name: string;
    members: string[];
}

export interface PatroniClusterPlan {
    scope: string;
    /** Site whose applications use this cluster (two-site: one cluster per site). */
    sites: string[];
    members: string[];
    etcd: string;
    synchronousMode: boolean;
    /** two-site: the standby cluster follows the primary site's cluster. */
    standbyOf?: { scope: string; site: string; slot: string };
    /** Permanent replication slots kept for standby clusters that follow this one. */
    permanentSlots: string[];
}

export interface GlusterBrick {
    host: string;
    /** Brick directory on the host's data disk. */
    path: string;
    arbiter: boolean;
}

/** The files volume: `replica 2 arbiter 1`, data bricks first, the arbiter last. */
export interface GlusterPlan {
    volume: string;
    bricks: GlusterBrick[];
    /** Where the data disk is mounted on brick hosts. */
    brickMount: string;
    /** Where app hosts mount the volume. */
    mountPoint: string;
    /**
     * The site whose stack probes the peers and creates the volume: the last site holding a
     * brick, deployed after the others, so every peer exists when its command runs.
     */
    createdBy: string;
}

export interface DeploymentPlan {
    topology: Topology;
    /** The site whose stack creates the shared secrets (and installs Nextcloud first). */
    primarySite: string;
    /** two-site: the site whose Patroni cluster is the primary now (config `activeSite`). */
    activeSite: string;
    sites: SitePlan[];
    hosts: HostPlan[];
    /** Every site network: what pg_hba and the firewall let in. */
    networks: string[];
    etcdClusters: EtcdClusterPlan[];
    patroniClusters: PatroniClusterPlan[];
    patroni: PatroniConfig;
    haproxy: HaproxyConfig;
    etcd: EtcdConfig;
    /** Absent when the plan has no Gluster hosts. */
    gluster?: GlusterPlan;
    nextcloud: NextcloudConfig;
    versions: typeof VERSIONS;
    ports: typeof PORTS;
}

function sizeFor(roles: Role[], sizes: Record<Role, Size>, override: Partial<Size> | undefined): Size {
    const base = roles.reduce<Size>(
        (acc, r) => ({
            cores: Math.max(acc.cores, sizes[r].cores),
            memoryMb: Math.max(acc.memoryMb, sizes[r].memoryMb),
            diskGb: Math.max(acc.diskGb, sizes[r].diskGb),
        }),
        { cores: 1, memoryMb: 512, diskGb: 8 },
    );
    return { ...base, ...override };
}

/** Builds the plan of all sites from validated project config. */
export function buildPlan(config: ProjectConfig): DeploymentPlan {
    const hosts: HostPlan[] = [];
    const sites: SitePlan[] = [];
    for (const [siteName, site] of Object.entries(config.sites)) {
        const prefix = Number(site.cidr.split("/")[1]);
        site.hosts.forEach((h, i) => {
            hosts.push({
                name: h.name,
                site: siteName,
                address: h.address,
                managementAddress: h.managementAddress ?? h.address,
                prefix,
                gateway: site.gateway,
                dns: site.dns,
                roles: ROLES.filter((r) => h.roles.includes(r)),
                size: sizeFor(h.roles, config.sizes, h.size),
                vmId: h.vmId ?? site.vmIdBase + i + 1,
                proxmoxNode: h.proxmoxNode ?? site.proxmoxNode,
            });
        });
        sites.push({
            name: siteName,
            cidr: site.cidr,
            ...(site.vip ? { vip: { address: site.vip, interface: site.vipInterface } } : {}),
            hosts: site.hosts.map((h) => h.name),
            witness: !site.hosts.some((h) => h.roles.includes("patroni")),
        });
    }
    const withRole = (role: Role, site?: string) =>
        hosts.filter((h) => h.roles.includes(role) && (site === undefined || h.site === site)).map((h) => h.name);

    const scope = config.patroni.scope;
    let etcdClusters: EtcdClusterPlan[];
    let patroniClusters: PatroniClusterPlan[];
    switch (config.topology) {
        case "three-site":
            etcdClusters = [{ name: `${scope}-etcd`, members: withRole("etcd") }];
            patroniClusters = [
                {
                    scope,
                    sites: sites.map((s) => s.name),
                    members: withRole("patroni"),
                    etcd: `${scope}-etcd`,
                    synchronousMode: true,
                    permanentSlots: [],
                },
            ];
            break;
        case "two-site": {
            etcdClusters = sites.map((s) => ({ name: `${scope}-${s.name}-etcd`, members: withRole("etcd", s.name) }));
            const standbySites = sites.filter((s) => s.name !== config.activeSite);
            // Named by site, not by role: a promotion must never rename a running cluster.
            const scopeOf = (site: string) => (site === config.primarySite ? scope : `${scope}-${site}`);
            patroniClusters = sites.map((s) => {
                const primary = s.name === config.activeSite;
                return {
                    scope: scopeOf(s.name),
                    sites: [s.name],
                    members: withRole("patroni", s.name),
                    etcd: `${scope}-${s.name}-etcd`,
                    synchronousMode: false,
                    standbyOf: primary ? undefined : { scope: scopeOf(config.activeSite), site: config.activeSite, slot: standbySlot(s.name) },
                    permanentSlots: primary ? standbySites.map((x) => standbySlot(x.name)) : [],
                };
            });
            break;
        }
        default: {
            const never: never = config.topology;
            throw new Error(`unknown topology ${String(never)}`);
        }
    }
    const brickMount = "/data/glusterfs";
    for (const h of hosts) {
        if (h.roles.includes("gluster")) h.dataDisk = { sizeGb: config.gluster.brickDiskGb, mountPoint: brickMount, filesystem: "xfs" };
        if (h.roles.includes("gluster-arbiter")) h.dataDisk = { sizeGb: config.gluster.arbiterDiskGb, mountPoint: brickMount, filesystem: "xfs" };
    }
    const bricks: GlusterBrick[] = [
        ...withRole("gluster").map((h) => ({ host: h, path: `${brickMount}/${config.gluster.volume}/brick`, arbiter: false })),
        ...withRole("gluster-arbiter").map((h) => ({ host: h, path: `${brickMount}/${config.gluster.volume}/arbiter`, arbiter: true })),
    ];
    const brickSites = sites.filter((s) => bricks.some((b) => hosts.find((h) => h.name === b.host)!.site === s.name));
    const gluster: GlusterPlan | undefined =
        bricks.length === 0
            ? undefined
            : { volume: config.gluster.volume, bricks, brickMount, mountPoint: `/srv/${config.gluster.volume}`, createdBy: brickSites[brickSites.length - 1].name };
    return {
        topology: config.topology,
        primarySite: config.primarySite,
        activeSite: config.activeSite,
        sites,
        hosts,
        networks: sites.map((s) => s.cidr),
        etcdClusters,
        patroniClusters,
        patroni: config.patroni,
        haproxy: config.haproxy,
        etcd: config.etcd,
        gluster,
        nextcloud: config.nextcloud,
        versions: VERSIONS,
        ports: PORTS,
    };
}

/** The host of that name; throws when the plan has none. */
export function hostByName(plan: DeploymentPlan, name: string): HostPlan {
    const h = plan.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host named ${name} in the plan (hosts: ${plan.hosts.map((x) => x.name).join(", ")})`);
    return h;
}

export function hostsOf(plan: DeploymentPlan, site: string, role?: Role): HostPlan[] {
    return plan.hosts.filter((h) => h.site === site && (role === undefined || h.roles.includes(role)));
}

/** two-site: the permanent replication slot the primary site keeps for a standby site. */
export function standbySlot(site: string): string {
    return `standby_${site.replace(/-/g, "_")}`;
}

/** Where users reach a site: its VIP when it has one, else its NGINX hosts (the domain's A records). */
export function publicAddresses(plan: DeploymentPlan, site: string): string[] {
    const vip = plan.sites.find((s) => s.name === site)?.vip;
    return vip ? [vip.address] : hostsOf(plan, site, "nginx").map((h) => h.address);
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
    const c =
        plan.patroniClusters.find((x) => x.members.includes(host)) ??
        plan.patroniClusters.find((x) => x.sites.includes(h.site));
    if (!c) throw new Error(`host ${host} belongs to no Patroni cluster`);
    return c;
}

/** Where each member of a quorum runs: what the policy pack checks for spread. */
export function memberPlacement(plan: DeploymentPlan, members: string[]): { name: string; site: string; proxmoxNode: string }[] {
    return members.map((m) => {
        const h = hostByName(plan, m);
        return { name: h.name, site: h.site, proxmoxNode: h.proxmoxNode };
    });
}
