/**
 * The deployment plan: every site, host, role, address, size, version and cluster, and
 * every fact derived from them (who builds each host, each site's database endpoint, the
 * volume creator, the installer, cron and Redis hosts, the deploy order). Pure, and computed
 * from the project-level config only, so every stack (and the lab) computes the same plan
 * and dc1 can name dc2's members without reading dc2.
 */
import { ConfigError, ProjectConfig, Role, ROLES, Size, showValue } from "./config";
import { PORTS, VERSIONS } from "./constants";
import {
    AppPlan,
    ComponentKind,
    ComponentPlan,
    DeploymentPlan,
    EtcdClusterPlan,
    GlusterBrick,
    GlusterPlan,
    HostPlan,
    PatroniClusterPlan,
    SitePlan,
    StackOrder,
} from "./model";
import { hostByName, hostsOf, namesOf, standbySlot } from "./lookup";
import { checkPlan } from "./rules";

export * from "./model";
export * from "./lookup";
export { PORTS, VERSIONS } from "./constants";

/** The component that builds a host whose first role is this one. */
export const COMPONENT_OF: Record<Role, ComponentKind> = {
    etcd: "etcd",
    patroni: "patroni",
    haproxy: "loadBalancer",
    nginx: "loadBalancer",
    gluster: "gluster",
    "gluster-arbiter": "gluster",
    nextcloud: "nextcloud",
};

/** Roles whose host holds data a rebuild would lose. */
const STATEFUL: readonly Role[] = ["etcd", "patroni", "gluster", "gluster-arbiter"];

/** The data disk: scsi1 on the VM's virtio-scsi-single controller, named by id (a second disk is not always /dev/sdb). */
const DATA_DISK = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi1";

/**
 * The roles of the hosts that serve or mount the GlusterFS volume (render/gluster.ts
 * `volumeClients`). GlusterFS admits them by their certificate's common name, so only they
 * carry one where etcd.auth is on (render/host.ts `certificateNames`).
 */
export const VOLUME_CLIENT_ROLES: readonly Role[] = ["gluster", "gluster-arbiter", "nextcloud"];

/** The order in which a stack creates its components. */
export const COMPONENTS: readonly ComponentKind[] = ["etcd", "patroni", "loadBalancer", "gluster", "nextcloud"];

/** Why a component waits for another of the same stack. */
const WAITS_FOR: Partial<Record<ComponentKind, { kind: ComponentKind; why: string }[]>> = {
    patroni: [{ kind: "etcd", why: "Patroni keeps its state in etcd, whose auth step makes its user (etcd.auth)" }],
    loadBalancer: [{ kind: "patroni", why: "HAProxy routes to the site's Patroni members" }],
    nextcloud: [
        { kind: "loadBalancer", why: "the app nodes reach the database through the site's HAProxy, and NGINX fronts them" },
        { kind: "gluster", why: "Nextcloud's data directory is on the Gluster volume" },
    ],
};

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

/** The components of a site's stack, in order: what each builds, uses and waits for. */
function componentsOf(hosts: HostPlan[], site: string): ComponentPlan[] {
    const here = hosts.filter((h) => h.site === site);
    const present = COMPONENTS.filter((k) => here.some((h) => h.roles.some((r) => COMPONENT_OF[r] === k)));
    return present.map((kind) => ({
        kind,
        site,
        builds: here.filter((h) => h.builtBy === kind).map((h) => h.name),
        uses: here.filter((h) => h.builtBy !== kind && h.roles.some((r) => COMPONENT_OF[r] === kind)).map((h) => h.name),
        after: (WAITS_FOR[kind] ?? []).filter((w) => present.includes(w.kind)),
    }));
}

/** Which stack must be deployed before which: the primary's outputs, and the volume's peers. */
function deployOrderOf(plan: Omit<DeploymentPlan, "deployOrder">): StackOrder[] {
    const order = [plan.primarySite, ...plan.sites.map((s) => s.name).filter((s) => s !== plan.primarySite)];
    const creatorSite = plan.gluster && hostByName(plan, plan.gluster.creator).site;
    const brickSites = new Set((plan.gluster?.bricks ?? []).map((b) => hostByName(plan, b.host).site));
    const first: StackOrder[] = order.map((site) => {
        const after: StackOrder["after"] = [];
        if (site !== plan.primarySite) {
            after.push({
                site: plan.primarySite,
                why: `${site} reads the shared secrets${plan.topology === "two-site" && plan.activeSite === plan.primarySite ? " and the primary's read-write endpoint" : ""} from ${plan.primarySite}'s stack outputs`,
            });
        }
        if (site === creatorSite) {
            for (const b of [...brickSites].filter((b) => b !== site && b !== plan.primarySite))
                after.push({ site: b, why: `${site} creates the Gluster volume once every brick host is up` });
        }
        return { site, pass: 1 as const, after };
    });
    // App nodes deployed before the volume exists mount it on a second pass (the primary's also installs Nextcloud then).
    const again: StackOrder[] = order
        .filter((site) => plan.app && creatorSite && order.indexOf(site) < order.indexOf(creatorSite) && namesOf(plan, { site, role: "nextcloud" }).length > 0)
        .map((site) => ({
            site,
            pass: 2 as const,
            after: [{ site: creatorSite!, why: `${site}'s app nodes mount the Gluster volume ${creatorSite} creates` }],
        }));
    return [...first, ...again];
}

/**
 * three-site: the etcd members the leader keeper holds the leadership on: the plan's
 * `etcd.leaders`, or else the one member outside the data sites. None when the keeper is off.
 */
function etcdLeaders(config: ProjectConfig, hosts: HostPlan[], sites: { name: string; witness: boolean }[]): string[] {
    if (!config.etcd.keepLeader) {
        if (config.etcd.leaders.length > 0)
            throw new ConfigError(
                "etcd.leaders",
                `${showValue(config.etcd.leaders)} is set but etcd.keepLeader is false, so nobody keeps the leadership there; drop one of them`,
            );
        return [];
    }
    const outside = hosts.filter((h) => h.roles.includes("etcd") && sites.find((s) => s.name === h.site)?.witness).map((h) => h.name);
    if (config.etcd.leaders.length === 0) {
        if (outside.length === 1) return outside;
        throw new ConfigError(
            "etcd.leaders",
            outside.length === 0
                ? "no etcd member is outside the data sites, so none can keep etcd's leadership away from the primary's site; put one in the witness site, or set etcd.keepLeader: false"
                : `the etcd members outside the data sites are ${outside.join(", ")}; name those that may hold etcd's leadership, e.g. [${outside[0]}]`,
        );
    }
    for (const name of config.etcd.leaders)
        if (!outside.includes(name))
            throw new ConfigError(
                "etcd.leaders",
                `${showValue(name)} is not an etcd member outside the data sites (${outside.join(", ") || "there is none"}); a leader in a data site can be lost with the primary`,
            );
    return [...new Set(config.etcd.leaders)];
}

/** Builds the plan of all sites from validated project config; refuses a plan that breaks a cross-key rule. */
export function buildPlan(config: ProjectConfig): DeploymentPlan {
    const hosts: HostPlan[] = [];
    const sites: Omit<SitePlan, "database" | "redis" | "publicAddresses" | "components">[] = [];
    const brickMount = "/data/glusterfs";
    for (const [siteName, site] of Object.entries(config.sites)) {
        const prefix = Number(site.cidr.split("/")[1]);
        site.hosts.forEach((h) => {
            const roles = ROLES.filter((r) => h.roles.includes(r));
            const disk = roles.includes("gluster") ? config.gluster.brickDiskGb : roles.includes("gluster-arbiter") ? config.gluster.arbiterDiskGb : undefined;
            hosts.push({
                name: h.name,
                site: siteName,
                address: h.address,
                managementAddress: h.managementAddress ?? h.address,
                prefix,
                gateway: site.gateway,
                dns: site.dns,
                roles,
                builtBy: COMPONENT_OF[roles[0]],
                size: sizeFor(roles, config.sizes, h.size),
                vmId: h.vmId,
                proxmoxNode: h.proxmoxNode ?? site.proxmoxNode,
                stateful: roles.some((r) => STATEFUL.includes(r)),
                fenced: site.fenced,
                ...(disk === undefined ? {} : { dataDisk: { sizeGb: disk, mountPoint: brickMount, filesystem: "xfs" as const, device: DATA_DISK } }),
            });
        });
        sites.push({
            name: siteName,
            cidr: site.cidr,
            ...(site.vip ? { vip: { address: site.vip, interface: site.vipInterface } } : {}),
            hosts: site.hosts.map((h) => h.name),
            witness: !site.hosts.some((h) => h.roles.includes("patroni")),
            ...(site.sealKey ? { sealKey: site.sealKey } : {}),
        });
    }
    const names = (role: Role, site?: string) => namesOf({ hosts }, { role, site });
    checkPlan(config, { hosts, sites });
    // With etcd's auth on, etcd's JSON gateway refuses a client certificate with a common name, and GlusterFS admits hosts by theirs.
    const named = config.etcd.auth && hosts.find((h) => h.roles.includes("patroni") && h.roles.some((r) => VOLUME_CLIENT_ROLES.includes(r)));
    if (named)
        throw new ConfigError(
            `sites.${named.site}.hosts`,
            `${named.name} is a Patroni member and a ${named.roles.filter((r) => VOLUME_CLIENT_ROLES.includes(r)).join(" and ")} host: with etcd.auth its certificate must carry no common name (etcd's gateway refuses one) and GlusterFS admits hosts by theirs; give it its own VM, or set etcd.auth: false`,
        );

    const scope = config.patroni.scope;
    let etcdClusters: Omit<EtcdClusterPlan, "configuredBy">[];
    let patroniClusters: Omit<PatroniClusterPlan, "configuredBy">[];
    switch (config.topology) {
        case "three-site":
            etcdClusters = [{ name: `${scope}-etcd`, members: names("etcd"), leaders: etcdLeaders(config, hosts, sites) }];
            patroniClusters = [
                { scope, sites: sites.map((s) => s.name), members: names("patroni"), etcd: `${scope}-etcd`, synchronousMode: true, permanentSlots: [] },
            ];
            break;
        case "two-site": {
            // Each site's own cluster: its leader is in its site whatever it does.
            if (config.etcd.leaders.length > 0)
                throw new ConfigError(
                    "etcd.leaders",
                    `${showValue(config.etcd.leaders)}: two-site keeps each site's etcd cluster within its site, where no member is outside it; drop etcd.leaders`,
                );
            etcdClusters = sites.map((s) => ({ name: `${scope}-${s.name}-etcd`, members: names("etcd", s.name), leaders: [] }));
            const standbySites = sites.filter((s) => s.name !== config.activeSite);
            // Named by site, not by role: a promotion must never rename a running cluster.
            const scopeOf = (site: string) => (site === config.primarySite ? scope : `${scope}-${site}`);
            patroniClusters = sites.map((s) => {
                const primary = s.name === config.activeSite;
                return {
                    scope: scopeOf(s.name),
                    sites: [s.name],
                    members: names("patroni", s.name),
                    etcd: `${scope}-${s.name}-etcd`,
                    synchronousMode: false,
                    standbyOf: primary
                        ? undefined
                        : {
                              scope: scopeOf(config.activeSite),
                              site: config.activeSite,
                              slot: standbySlot(s.name),
                              viaStackOutput: config.activeSite === config.primarySite,
                          },
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
    const bricks: GlusterBrick[] = [
        ...names("gluster").map((h) => ({ host: h, path: `${brickMount}/${config.gluster.volume}/brick`, arbiter: false })),
        ...names("gluster-arbiter").map((h) => ({ host: h, path: `${brickMount}/${config.gluster.volume}/arbiter`, arbiter: true })),
    ];
    // The creator: a brick host in the last site (in deploy order: the primary first) that holds one.
    const deploySites = [config.primarySite, ...sites.map((s) => s.name).filter((s) => s !== config.primarySite)];
    const creatorSite = [...deploySites].reverse().find((s) => bricks.some((b) => hostByName({ hosts }, b.host).site === s));
    const gluster: GlusterPlan | undefined =
        bricks.length === 0
            ? undefined
            : {
                  volume: config.gluster.volume,
                  bricks,
                  brickMount,
                  mountPoint: `/srv/${config.gluster.volume}`,
                  creator: bricks.find((b) => hostByName({ hosts }, b.host).site === creatorSite)!.host,
              };
    const apps = names("nextcloud", config.primarySite);
    const app: AppPlan | undefined = apps.length > 0 ? { installer: apps[0], cron: apps[0] } : undefined;
    const sitePlans: SitePlan[] = sites.map((s) => {
        const lb = hostsOf({ hosts }, { site: s.name, role: "haproxy" })[0];
        const nginx = hostsOf({ hosts }, { site: s.name, role: "nginx" }).map((h) => h.address);
        const etcdCluster = etcdClusters.find((c) => c.members.some((m) => hostByName({ hosts }, m).site === s.name));
        const patroniCluster = patroniClusters.find((c) => c.members.some((m) => hostByName({ hosts }, m).site === s.name));
        return {
            ...s,
            ...(etcdCluster ? { etcdCluster: etcdCluster.name } : {}),
            ...(patroniCluster ? { patroniCluster: patroniCluster.scope } : {}),
            ...(lb
                ? {
                      database: {
                          via: lb.name,
                          readWrite: { host: lb.address, port: PORTS.haproxyPrimary },
                          readOnly: { host: lb.address, port: PORTS.haproxyReplicas },
                      },
                  }
                : {}),
            ...(names("nextcloud", s.name).length > 0 ? { redis: names("nextcloud", s.name)[0] } : {}),
            publicAddresses: s.vip ? [s.vip.address] : nginx,
            components: componentsOf(hosts, s.name),
        };
    });
    const plan: Omit<DeploymentPlan, "deployOrder"> = {
        topology: config.topology,
        primarySite: config.primarySite,
        activeSite: config.activeSite,
        sites: sitePlans,
        hosts,
        networks: sites.map((s) => s.cidr),
        managementNetworks: config.managementNetworks ?? sites.map((s) => s.cidr),
        etcdClusters: etcdClusters.map((c) => ({
            ...c,
            configuredBy: c.members.find((m) => hosts.find((h) => h.name === m)?.site === config.primarySite) ?? c.members[0],
        })),
        // In the primary site's stack where the cluster has a member there: that stack draws new passwords, and its
        // roles step must change them before any of its hosts gets them.
        patroniClusters: patroniClusters.map((c) => ({
            ...c,
            configuredBy: c.members.find((m) => hosts.find((h) => h.name === m)?.site === config.primarySite) ?? c.members[0],
        })),
        patroni: config.patroni,
        haproxy: config.haproxy,
        etcd: config.etcd,
        certificates: config.certificates,
        passwords: config.passwords,
        packages: config.packages,
        ...(gluster ? { gluster } : {}),
        nextcloud: config.nextcloud,
        ...(app ? { app } : {}),
        versions: VERSIONS,
        ports: PORTS,
    };
    return { ...plan, deployOrder: deployOrderOf(plan) };
}
