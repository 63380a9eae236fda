/**
 * Typed, validated configuration. Pure: takes the raw values of the config keys (from
 * Pulumi's config, or from the stack files read by the render CLI and the lab) and returns
 * typed config with defaults filled in, or throws a ConfigError naming the key, the bad
 * value and the fix. Nothing here knows about Pulumi.
 */
import { cidrContains, parseCidr, parseIpv4 } from "./addresses";

/** The project's config namespace, as in `nextcloud-ha:site`. */
export const PROJECT = "nextcloud-ha";

export type Topology = "three-site" | "two-site";
export const TOPOLOGIES: readonly Topology[] = ["three-site", "two-site"];

/**
 * What a host does. Order matters: a host with several roles is built by the component of
 * its first role. `gluster` holds a data brick, `gluster-arbiter` the arbiter brick,
 * `nginx` terminates TLS in front of the `nextcloud` app nodes.
 */
export type Role = "etcd" | "patroni" | "haproxy" | "nginx" | "gluster" | "gluster-arbiter" | "nextcloud";
export const ROLES: readonly Role[] = ["etcd", "patroni", "haproxy", "nginx", "gluster", "gluster-arbiter", "nextcloud"];

export interface Size {
    cores: number;
    memoryMb: number;
    diskGb: number;
}

export interface HostConfig {
    name: string;
    address: string;
    roles: Role[];
    /** Address that admin-only listeners (HAProxy stats) bind to. Default: `address`. */
    managementAddress?: string;
    /** Overrides the size derived from the roles. */
    size?: Partial<Size>;
    /** Proxmox VM id. Default: the site's `vmIdBase` plus the host's position. */
    vmId?: number;
    /** Proxmox node that runs this VM. Default: the site's `proxmoxNode`. */
    proxmoxNode?: string;
}

export interface SiteConfig {
    /** The site's VM network, e.g. 10.10.1.0/24. Every host address must be inside it. */
    cidr: string;
    gateway: string;
    dns: string[];
    proxmoxNode: string;
    vmIdBase: number;
    hosts: HostConfig[];
    /** Virtual address keepalived moves between the site's NGINX nodes (needs two of them). */
    vip?: string;
    /** The VMs' interface carrying the VIP: Proxmox's cloud-init names the first NIC eth0. */
    vipInterface: string;
}

/** Patroni's HA timings, in seconds (Patroni's dynamic configuration). */
export interface PatroniTimings {
    ttl: number;
    loopWait: number;
    retryTimeout: number;
}

export interface PatroniConfig extends PatroniTimings {
    /** Patroni `scope`: the cluster's name in the DCS. */
    scope: string;
    /** Patroni `maximum_lag_on_failover`, bytes. */
    maximumLagOnFailover: number;
}

export interface HaproxyConfig {
    /** Health check interval (ms) of a server that is up (`inter`). */
    checkIntervalMs: number;
    /** Check interval (ms) while a server changes state or is down (`fastinter`, `downinter`). */
    fastCheckIntervalMs: number;
    /** Consecutive failed checks before a server is marked down. */
    fall: number;
    /** Consecutive good checks before a server is marked up. */
    rise: number;
    /** Replicas lagging more than this leave the read-only pool (`/replica?lag=`). */
    replicaMaxLag: string;
}

export interface GlusterConfig {
    /** Volume name. */
    volume: string;
    /** Size of the data disk that holds a data brick. */
    brickDiskGb: number;
    /** Size of the arbiter's disk (names and metadata only, about 4 KB a file). */
    arbiterDiskGb: number;
}

export interface NextcloudConfig {
    /** The public name users reach, covered by the wildcard certificate. */
    domain: string;
    /** Extra names Nextcloud answers to (`trusted_domains`); the domain is always included. */
    trustedDomains: string[];
    /** Pinned Nextcloud image (apache variant). */
    image: string;
    /** Largest upload NGINX accepts. */
    maxUploadSize: string;
}

export interface EtcdConfig {
    heartbeatMs: number;
    electionTimeoutMs: number;
}

/** Config shared by every stack: Pulumi.yaml's project-level `config:`. */
export interface ProjectConfig {
    topology: Topology;
    primarySite: string;
    /**
     * two-site: the site whose Patroni cluster is the primary; the other follows it as a
     * standby cluster. Default: primarySite. Set it to the promoted site after
     * `npm run promote` so rebuilt VMs and the DNS output match the running cluster.
     */
    activeSite: string;
    sites: Record<string, SiteConfig>;
    patroni: PatroniConfig;
    haproxy: HaproxyConfig;
    etcd: EtcdConfig;
    gluster: GlusterConfig;
    nextcloud: NextcloudConfig;
    sizes: Record<Role, Size>;
}

export interface ProxmoxConfig {
    /** VM id of the Debian 13 cloud-init template to clone. */
    templateVmId: number;
    /** Datastore for VM disks. */
    datastore: string;
    /** Datastore with the `snippets` content type enabled, for the user data. */
    snippetsDatastore: string;
    /** Bridge the VMs' network interface attaches to. */
    bridge: string;
    vlanId?: number;
}

/** Config of one stack (one datacenter): Pulumi.<stack>.yaml. */
export interface StackConfig extends ProjectConfig {
    site: string;
    /** Fully qualified name of the primary site's stack; required on every other site. */
    primaryStack?: string;
    proxmox: ProxmoxConfig;
    sshAuthorizedKeys: string[];
    /** The cloud image's user that remote commands log in as (with the operator's SSH agent). */
    sshUser: string;
}

/** Defaults in one visible place. Timings: see docs/TIMINGS.md. */
export const DEFAULTS = {
    topology: "three-site" as Topology,
    primarySite: "dc1",
    patroni: { scope: "nextcloud", ttl: 20, loopWait: 5, retryTimeout: 5, maximumLagOnFailover: 1048576 },
    haproxy: { checkIntervalMs: 1000, fastCheckIntervalMs: 250, fall: 2, rise: 2, replicaMaxLag: "100MB" },
    etcd: { heartbeatMs: 100, electionTimeoutMs: 1000 },
    sizes: {
        etcd: { cores: 2, memoryMb: 2048, diskGb: 20 },
        patroni: { cores: 4, memoryMb: 8192, diskGb: 100 },
        haproxy: { cores: 2, memoryMb: 2048, diskGb: 16 },
        nginx: { cores: 2, memoryMb: 2048, diskGb: 16 },
        gluster: { cores: 2, memoryMb: 4096, diskGb: 32 },
        "gluster-arbiter": { cores: 2, memoryMb: 2048, diskGb: 32 },
        nextcloud: { cores: 4, memoryMb: 8192, diskGb: 64 },
    } as Record<Role, Size>,
    gluster: { volume: "nextcloud", brickDiskGb: 500, arbiterDiskGb: 20 },
    nextcloud: { domain: "cloud.example.com", image: "nextcloud:31.0.9-apache", maxUploadSize: "16G" },
    proxmox: { datastore: "local-lvm", snippetsDatastore: "local", bridge: "vmbr0" },
    dns: ["1.1.1.1", "9.9.9.9"],
};

/** Every config key the project reads, and the JSON kind of its value. */
export const CONFIG_KEYS = {
    topology: "string",
    primarySite: "string",
    activeSite: "string",
    sites: "object",
    patroni: "object",
    haproxy: "object",
    etcd: "object",
    gluster: "object",
    nextcloud: "object",
    sizes: "object",
    site: "string",
    primaryStack: "string",
    proxmox: "object",
    sshAuthorizedKeys: "object",
    sshUser: "string",
    // Read by the stack program itself (the key is a secret): the wildcard certificate.
    tlsCertificate: "string",
    tlsKey: "secret",
} as const;
export type ConfigKey = keyof typeof CONFIG_KEYS;
export type RawConfig = Partial<Record<ConfigKey, unknown>>;

/** A bad config value: the message names the key, the bad value and the fix. */
export class ConfigError extends Error {
    constructor(
        readonly key: string,
        message: string,
    ) {
        super(`${PROJECT}:${key}: ${message}`);
        this.name = "ConfigError";
    }
}

const NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;

function show(value: unknown): string {
    return value === undefined ? "nothing" : JSON.stringify(value);
}

function isObject(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function rejectUnknown(key: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
    for (const k of Object.keys(obj)) {
        if (!allowed.includes(k)) {
            throw new ConfigError(`${key}.${k}`, `unknown key; the keys here are ${allowed.join(", ")}`);
        }
    }
}

function str(key: string, v: unknown, fallback?: string): string {
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== "string" || v.trim() === "") {
        const hint = key.includes(".") || key.includes("[") ? "" : `; set it with \`pulumi config set ${PROJECT}:${key} <value>\``;
        throw new ConfigError(key, `expected a non-empty string, got ${show(v)}${hint}`);
    }
    return v;
}

function int(key: string, v: unknown, fallback: number | undefined, min: number, max: number): number {
    if (v === undefined && fallback !== undefined) return fallback;
    const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
        throw new ConfigError(key, `expected a whole number from ${min} to ${max}, got ${show(v)}`);
    }
    return n;
}

function name(key: string, v: unknown): string {
    const s = str(key, v);
    if (!NAME_RE.test(s)) {
        throw new ConfigError(key, `${show(s)} is not a valid name; use lower-case letters, digits and dashes, starting with a letter (e.g. "dc1-db1")`);
    }
    return s;
}

function ipv4(key: string, v: unknown): string {
    const s = str(key, v);
    if (parseIpv4(s) === undefined) throw new ConfigError(key, `${show(s)} is not an IPv4 address; write it as four numbers, e.g. "10.10.1.21"`);
    return s;
}

function stringList(key: string, v: unknown, fallback: string[]): string[] {
    if (v === undefined) return fallback;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
        throw new ConfigError(key, `expected a list of strings, got ${show(v)}`);
    }
    return v as string[];
}

function section(key: string, v: unknown, allowed: readonly string[]): Record<string, unknown> {
    if (v === undefined) return {};
    if (!isObject(v)) throw new ConfigError(key, `expected an object with keys ${allowed.join(", ")}, got ${show(v)}`);
    rejectUnknown(key, v, allowed);
    return v;
}

function loadSize(key: string, v: unknown, fallback: Size | undefined): Size {
    const s = section(key, v, ["cores", "memoryMb", "diskGb"]);
    return {
        cores: int(`${key}.cores`, s.cores, fallback?.cores, 1, 128),
        memoryMb: int(`${key}.memoryMb`, s.memoryMb, fallback?.memoryMb, 512, 1048576),
        diskGb: int(`${key}.diskGb`, s.diskGb, fallback?.diskGb, 8, 65536),
    };
}

function loadHost(key: string, v: unknown, cidr: string): HostConfig {
    if (!isObject(v)) throw new ConfigError(key, `expected a host object {name, address, roles}, got ${show(v)}`);
    rejectUnknown(key, v, ["name", "address", "roles", "managementAddress", "size", "vmId", "proxmoxNode"]);
    const host: HostConfig = {
        name: name(`${key}.name`, v.name),
        address: ipv4(`${key}.address`, v.address),
        roles: [],
    };
    if (!cidrContains(cidr, host.address)) {
        throw new ConfigError(`${key}.address`, `${host.address} is outside the site's cidr ${cidr}; give the host an address inside ${cidr}, or widen the site's cidr`);
    }
    if (!Array.isArray(v.roles) || v.roles.length === 0) {
        throw new ConfigError(`${key}.roles`, `expected a non-empty list of roles (${ROLES.join(", ")}), got ${show(v.roles)}`);
    }
    for (const r of v.roles) {
        if (!ROLES.includes(r as Role)) throw new ConfigError(`${key}.roles`, `unknown role ${show(r)}; the roles are ${ROLES.join(", ")}`);
        if (host.roles.includes(r as Role)) throw new ConfigError(`${key}.roles`, `role ${show(r)} is listed twice`);
        host.roles.push(r as Role);
    }
    if (v.managementAddress !== undefined) host.managementAddress = ipv4(`${key}.managementAddress`, v.managementAddress);
    if (v.size !== undefined) {
        const s = section(`${key}.size`, v.size, ["cores", "memoryMb", "diskGb"]);
        host.size = {};
        if (s.cores !== undefined) host.size.cores = int(`${key}.size.cores`, s.cores, undefined, 1, 128);
        if (s.memoryMb !== undefined) host.size.memoryMb = int(`${key}.size.memoryMb`, s.memoryMb, undefined, 512, 1048576);
        if (s.diskGb !== undefined) host.size.diskGb = int(`${key}.size.diskGb`, s.diskGb, undefined, 8, 65536);
    }
    if (v.vmId !== undefined) host.vmId = int(`${key}.vmId`, v.vmId, undefined, 100, 999999999);
    if (v.proxmoxNode !== undefined) host.proxmoxNode = str(`${key}.proxmoxNode`, v.proxmoxNode);
    return host;
}

function loadSites(raw: unknown): Record<string, SiteConfig> {
    if (!isObject(raw) || Object.keys(raw).length === 0) {
        throw new ConfigError("sites", `expected the site plan, an object of sites (dc1, dc2, ...) each with cidr, gateway, proxmoxNode and hosts, got ${show(raw)}; it belongs in Pulumi.yaml's project-level config`);
    }
    const sites: Record<string, SiteConfig> = {};
    let ordinal = 0;
    for (const [siteName, v] of Object.entries(raw)) {
        ordinal++;
        const key = `sites.${siteName}`;
        name(key, siteName);
        if (!isObject(v)) throw new ConfigError(key, `expected an object with cidr, gateway, proxmoxNode and hosts, got ${show(v)}`);
        rejectUnknown(key, v, ["cidr", "gateway", "dns", "proxmoxNode", "vmIdBase", "hosts", "vip", "vipInterface"]);
        const cidr = str(`${key}.cidr`, v.cidr);
        if (parseCidr(cidr) === undefined) throw new ConfigError(`${key}.cidr`, `${show(cidr)} is not an IPv4 CIDR; write it as "10.10.1.0/24"`);
        const gateway = ipv4(`${key}.gateway`, v.gateway);
        if (!cidrContains(cidr, gateway)) throw new ConfigError(`${key}.gateway`, `${gateway} is outside the site's cidr ${cidr}; the gateway must be on the site's network`);
        if (!Array.isArray(v.hosts) || v.hosts.length === 0) {
            throw new ConfigError(`${key}.hosts`, `expected a non-empty list of hosts, got ${show(v.hosts)}`);
        }
        sites[siteName] = {
            cidr,
            gateway,
            dns: stringList(`${key}.dns`, v.dns, DEFAULTS.dns).map((d, i) => ipv4(`${key}.dns[${i}]`, d)),
            proxmoxNode: str(`${key}.proxmoxNode`, v.proxmoxNode),
            vmIdBase: int(`${key}.vmIdBase`, v.vmIdBase, 1000 + ordinal * 100, 100, 999999000),
            hosts: v.hosts.map((h, i) => loadHost(`${key}.hosts[${i}]`, h, cidr)),
            vipInterface: str(`${key}.vipInterface`, v.vipInterface, "eth0"),
        };
        if (v.vip !== undefined) {
            const vip = ipv4(`${key}.vip`, v.vip);
            if (!cidrContains(cidr, vip)) throw new ConfigError(`${key}.vip`, `${vip} is outside the site's cidr ${cidr}; the VIP must be on the site's network`);
            if (vip === gateway || sites[siteName].hosts.some((h) => h.address === vip)) throw new ConfigError(`${key}.vip`, `${vip} is already the gateway's or a host's address; give the VIP an unused address`);
            sites[siteName].vip = vip;
        }
    }
    checkUnique(sites);
    return sites;
}

function checkUnique(sites: Record<string, SiteConfig>): void {
    const names = new Map<string, string>();
    const addresses = new Map<string, string>();
    const vmIds = new Map<number, string>();
    for (const [siteName, site] of Object.entries(sites)) {
        site.hosts.forEach((h, i) => {
            const key = `sites.${siteName}.hosts[${i}]`;
            const seenName = names.get(h.name);
            if (seenName) throw new ConfigError(`${key}.name`, `host name ${show(h.name)} is already used by ${seenName}; host names must be unique across all sites (Patroni member names are)`);
            names.set(h.name, key);
            const seenAddr = addresses.get(h.address);
            if (seenAddr) throw new ConfigError(`${key}.address`, `address ${h.address} is already used by ${seenAddr}; give every host its own address`);
            if (h.address === site.gateway) throw new ConfigError(`${key}.address`, `address ${h.address} is the site's gateway; give the host another address`);
            addresses.set(h.address, key);
            const vmId = h.vmId ?? site.vmIdBase + i + 1;
            const seenVm = vmIds.get(vmId);
            if (seenVm) throw new ConfigError(`${key}.vmId`, `VM id ${vmId} is already used by ${seenVm}; set vmId or the sites' vmIdBase so they do not overlap`);
            vmIds.set(vmId, key);
        });
    }
    const cidrs = Object.entries(sites);
    for (let i = 0; i < cidrs.length; i++) {
        for (let j = i + 1; j < cidrs.length; j++) {
            const [a, sa] = cidrs[i];
            const [b, sb] = cidrs[j];
            if (cidrContains(sa.cidr, parseCidr(sb.cidr)!.network) || cidrContains(sb.cidr, parseCidr(sa.cidr)!.network)) {
                throw new ConfigError(`sites.${b}.cidr`, `${sb.cidr} overlaps ${a}'s ${sa.cidr}; every site needs its own network so HAProxy and pg_hba can tell them apart`);
            }
        }
    }
}

function hostsWithRole(sites: Record<string, SiteConfig>, role: Role, site?: string): HostConfig[] {
    return Object.entries(sites)
        .filter(([s]) => site === undefined || s === site)
        .flatMap(([, s]) => s.hosts.filter((h) => h.roles.includes(role)));
}

function checkQuorum(key: string, members: number, scope: string): void {
    if (members < 3 || members % 2 === 0) {
        throw new ConfigError(key, `${scope} has ${members} etcd member${members === 1 ? "" : "s"}; an etcd quorum needs an odd number of at least 3 (3 or 5), because an even member adds no fault tolerance and 2 cannot lose either; add or remove a host with the "etcd" role`);
    }
}

/**
 * The Gluster volume is `replica 2 arbiter 1`: one data brick in each data site and an
 * arbiter where it can break a tie (the witness in three-site; the primary site in
 * two-site, so that site keeps quorum on a cut link). Two data bricks without an arbiter
 * would accept writes on both sides of a partition: split-brain.
 */
function checkGluster(p: ProjectConfig): void {
    const data = Object.entries(p.sites).flatMap(([s, site]) => site.hosts.filter((h) => h.roles.includes("gluster")).map((h) => ({ s, h })));
    const arbiters = Object.entries(p.sites).flatMap(([s, site]) => site.hosts.filter((h) => h.roles.includes("gluster-arbiter")).map((h) => ({ s, h })));
    if (data.length === 0 && arbiters.length === 0) return;
    if (data.length !== 2) {
        throw new ConfigError("sites", `the Gluster volume is replica 2 arbiter 1 and needs exactly 2 hosts with the "gluster" role (one per data site), found ${data.length}`);
    }
    if (data[0].s === data[1].s) {
        throw new ConfigError("sites", `both Gluster data bricks are in ${data[0].s}; put one in each data site so the files survive the loss of a site`);
    }
    if (arbiters.length !== 1) {
        throw new ConfigError(
            "sites",
            arbiters.length === 0
                ? `a replica 2 Gluster volume without an arbiter accepts writes on both sides of a cut link and ends in split-brain; give one host the "gluster-arbiter" role (${p.topology === "three-site" ? "in the witness site" : `in ${p.primarySite}`})`
                : `the Gluster volume takes exactly one arbiter, found ${arbiters.length}`,
        );
    }
    const arbiterSite = arbiters[0].s;
    if (p.topology === "three-site" && data.some((d) => d.s === arbiterSite)) {
        throw new ConfigError("sites", `in three-site the Gluster arbiter belongs in the witness site, not in ${arbiterSite} beside a data brick: losing ${arbiterSite} would then take two of three bricks`);
    }
    if (p.topology === "two-site" && arbiterSite !== p.primarySite) {
        throw new ConfigError("sites", `in two-site the Gluster arbiter belongs in the primary site ${p.primarySite} (it keeps quorum when the link is cut), not in ${arbiterSite}`);
    }
}

/** Checks the cross-key rules of a topology: quorum sizes, members, sites. */
function checkTopology(p: ProjectConfig): void {
    const siteNames = Object.keys(p.sites);
    if (!siteNames.includes(p.primarySite)) {
        throw new ConfigError("primarySite", `${show(p.primarySite)} is not a site of the plan (${siteNames.join(", ")}); name one of them`);
    }
    if (!siteNames.includes(p.activeSite)) {
        throw new ConfigError("activeSite", `${show(p.activeSite)} is not a site of the plan (${siteNames.join(", ")}); name the site whose database is the primary`);
    }
    if (p.topology === "three-site" && p.activeSite !== p.primarySite) {
        throw new ConfigError("activeSite", `three-site runs one Patroni cluster that fails over between sites by itself, so there is no active site to set; remove activeSite`);
    }
    switch (p.topology) {
        case "three-site": {
            if (siteNames.length !== 3) {
                throw new ConfigError("sites", `three-site needs exactly 3 sites (two data sites and a witness), got ${siteNames.length} (${siteNames.join(", ")}); add or remove a site, or set topology to two-site`);
            }
            checkQuorum("sites", hostsWithRole(p.sites, "etcd").length, "the three-site etcd cluster");
            const total = hostsWithRole(p.sites, "etcd").length;
            for (const s of siteNames) {
                const here = hostsWithRole(p.sites, "etcd", s).length;
                if (here === 0) {
                    throw new ConfigError(`sites.${s}.hosts`, `three-site spreads etcd over all three sites, and ${s} has no host with the "etcd" role; give it one`);
                }
                if (total - here <= total / 2) {
                    throw new ConfigError(`sites.${s}.hosts`, `${s} holds ${here} of the ${total} etcd members, so losing ${s} would lose the quorum; spread the members so that no site holds half or more (e.g. 1+1+1 or 2+2+1)`);
                }
            }
            const dataSites = siteNames.filter((s) => hostsWithRole(p.sites, "patroni", s).length > 0);
            if (dataSites.length < 2) {
                throw new ConfigError("sites", `three-site needs Patroni members in at least two sites, found them in ${dataSites.length === 0 ? "none" : dataSites.join(", ")}; give a second site a host with the "patroni" role`);
            }
            break;
        }
        case "two-site": {
            if (siteNames.length !== 2) {
                throw new ConfigError("sites", `two-site needs exactly 2 sites, got ${siteNames.length} (${siteNames.join(", ")}); add or remove a site, or set topology to three-site`);
            }
            for (const s of siteNames) {
                checkQuorum(`sites.${s}.hosts`, hostsWithRole(p.sites, "etcd", s).length, `site ${s}'s own etcd cluster`);
                if (hostsWithRole(p.sites, "patroni", s).length === 0) {
                    throw new ConfigError(`sites.${s}.hosts`, `two-site runs a Patroni cluster in each site, and ${s} has no host with the "patroni" role; give it one`);
                }
            }
            break;
        }
        default: {
            const never: never = p.topology;
            throw new ConfigError("topology", `unknown topology ${show(never)}`);
        }
    }
    checkGluster(p);
    for (const s of siteNames) {
        const apps = hostsWithRole(p.sites, "nextcloud", s).length;
        const nginx = hostsWithRole(p.sites, "nginx", s).length;
        if (nginx > 0 && apps === 0) throw new ConfigError(`sites.${s}.hosts`, `${s} runs NGINX but no host with the "nextcloud" role for it to serve; add app nodes or drop the nginx role`);
        if (nginx >= 2 && !p.sites[s].vip) throw new ConfigError(`sites.${s}.vip`, `${s} has ${nginx} NGINX nodes; set a virtual address (vip) that keepalived moves between them, or DNS could point at a dead node`);
        if (nginx < 2 && p.sites[s].vip) throw new ConfigError(`sites.${s}.vip`, `a VIP needs two NGINX nodes to move between, ${s} has ${nginx}; remove vip or add an nginx host`);
        if (apps > 0 && hostsWithRole(p.sites, "haproxy", s).length === 0) throw new ConfigError(`sites.${s}.hosts`, `${s} runs Nextcloud app nodes but no HAProxy for their database connection; add one`);
        if (apps > 0 && nginx === 0) throw new ConfigError(`sites.${s}.hosts`, `${s} runs Nextcloud app nodes but no host with the "nginx" role in front of them; add one`);
        if (apps > 0 && hostsWithRole(p.sites, "gluster").length === 0) throw new ConfigError(`sites.${s}.hosts`, `${s} runs Nextcloud app nodes but the plan has no Gluster volume for their data directory; add gluster hosts`);
        if (hostsWithRole(p.sites, "patroni", s).length > 0 && hostsWithRole(p.sites, "haproxy", s).length === 0) {
            throw new ConfigError(`sites.${s}.hosts`, `${s} runs Patroni members but no host with the "haproxy" role routes to them; add one`);
        }
    }
}

/** Reads and validates the project-level config (the site plan shared by every stack). */
export function loadProjectConfig(raw: RawConfig): ProjectConfig {
    const topology = str("topology", raw.topology, DEFAULTS.topology);
    if (!TOPOLOGIES.includes(topology as Topology)) {
        throw new ConfigError("topology", `unknown topology ${show(topology)}; use one of ${TOPOLOGIES.join(", ")}`);
    }
    const pt = section("patroni", raw.patroni, ["scope", "ttl", "loopWait", "retryTimeout", "maximumLagOnFailover"]);
    const patroni: PatroniConfig = {
        scope: name("patroni.scope", pt.scope ?? DEFAULTS.patroni.scope),
        ttl: int("patroni.ttl", pt.ttl, DEFAULTS.patroni.ttl, 20, 3600),
        loopWait: int("patroni.loopWait", pt.loopWait, DEFAULTS.patroni.loopWait, 1, 3600),
        retryTimeout: int("patroni.retryTimeout", pt.retryTimeout, DEFAULTS.patroni.retryTimeout, 1, 3600),
        maximumLagOnFailover: int("patroni.maximumLagOnFailover", pt.maximumLagOnFailover, DEFAULTS.patroni.maximumLagOnFailover, 0, 2 ** 40),
    };
    if (patroni.loopWait + 2 * patroni.retryTimeout > patroni.ttl) {
        throw new ConfigError(
            "patroni",
            `loopWait ${patroni.loopWait} + 2 * retryTimeout ${patroni.retryTimeout} = ${patroni.loopWait + 2 * patroni.retryTimeout} exceeds ttl ${patroni.ttl}; Patroni needs loop_wait + 2*retry_timeout <= ttl, or a leader can lose its key while still retrying; raise ttl or lower loopWait/retryTimeout`,
        );
    }
    const hp = section("haproxy", raw.haproxy, ["checkIntervalMs", "fastCheckIntervalMs", "fall", "rise", "replicaMaxLag"]);
    const haproxy: HaproxyConfig = {
        checkIntervalMs: int("haproxy.checkIntervalMs", hp.checkIntervalMs, DEFAULTS.haproxy.checkIntervalMs, 100, 60000),
        fastCheckIntervalMs: int("haproxy.fastCheckIntervalMs", hp.fastCheckIntervalMs, DEFAULTS.haproxy.fastCheckIntervalMs, 100, 60000),
        fall: int("haproxy.fall", hp.fall, DEFAULTS.haproxy.fall, 1, 100),
        rise: int("haproxy.rise", hp.rise, DEFAULTS.haproxy.rise, 1, 100),
        replicaMaxLag: str("haproxy.replicaMaxLag", hp.replicaMaxLag, DEFAULTS.haproxy.replicaMaxLag),
    };
    if (!/^\d+(kB|MB|GB)?$/.test(haproxy.replicaMaxLag)) {
        throw new ConfigError("haproxy.replicaMaxLag", `${show(haproxy.replicaMaxLag)} is not a size Patroni understands; write bytes or a number with kB, MB or GB, e.g. "100MB"`);
    }
    const ec = section("etcd", raw.etcd, ["heartbeatMs", "electionTimeoutMs"]);
    const etcd: EtcdConfig = {
        heartbeatMs: int("etcd.heartbeatMs", ec.heartbeatMs, DEFAULTS.etcd.heartbeatMs, 10, 10000),
        electionTimeoutMs: int("etcd.electionTimeoutMs", ec.electionTimeoutMs, DEFAULTS.etcd.electionTimeoutMs, 50, 50000),
    };
    if (etcd.electionTimeoutMs < 5 * etcd.heartbeatMs) {
        throw new ConfigError("etcd.electionTimeoutMs", `${etcd.electionTimeoutMs} is less than 5 heartbeats (${etcd.heartbeatMs} ms each); etcd wants an election timeout of about 10 heartbeats, e.g. ${10 * etcd.heartbeatMs}`);
    }
    const gl = section("gluster", raw.gluster, ["volume", "brickDiskGb", "arbiterDiskGb"]);
    const gluster: GlusterConfig = {
        volume: name("gluster.volume", gl.volume ?? DEFAULTS.gluster.volume),
        brickDiskGb: int("gluster.brickDiskGb", gl.brickDiskGb, DEFAULTS.gluster.brickDiskGb, 8, 65536),
        arbiterDiskGb: int("gluster.arbiterDiskGb", gl.arbiterDiskGb, DEFAULTS.gluster.arbiterDiskGb, 8, 65536),
    };
    const nc = section("nextcloud", raw.nextcloud, ["domain", "trustedDomains", "image", "maxUploadSize"]);
    const domain = str("nextcloud.domain", nc.domain, DEFAULTS.nextcloud.domain);
    if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domain)) {
        throw new ConfigError("nextcloud.domain", `${show(domain)} is not a DNS name; write it as "cloud.example.com"`);
    }
    const nextcloud: NextcloudConfig = {
        domain,
        trustedDomains: [...new Set([domain, ...stringList("nextcloud.trustedDomains", nc.trustedDomains, [])])],
        image: str("nextcloud.image", nc.image, DEFAULTS.nextcloud.image),
        maxUploadSize: str("nextcloud.maxUploadSize", nc.maxUploadSize, DEFAULTS.nextcloud.maxUploadSize),
    };
    if (!/^[\w./-]+:[\w.-]+$/.test(nextcloud.image) || nextcloud.image.endsWith(":latest")) {
        throw new ConfigError("nextcloud.image", `${show(nextcloud.image)} is not a pinned image; name a version tag, e.g. "${DEFAULTS.nextcloud.image}", so every node runs the same code`);
    }
    if (!/^\d+[KMG]$/.test(nextcloud.maxUploadSize)) {
        throw new ConfigError("nextcloud.maxUploadSize", `${show(nextcloud.maxUploadSize)} is not a size NGINX understands; write e.g. "16G"`);
    }
    const sz = section("sizes", raw.sizes, ROLES);
    const sizes = Object.fromEntries(ROLES.map((r) => [r, loadSize(`sizes.${r}`, sz[r], DEFAULTS.sizes[r])])) as Record<Role, Size>;
    const primarySite = str("primarySite", raw.primarySite, DEFAULTS.primarySite);
    const project: ProjectConfig = {
        topology: topology as Topology,
        primarySite,
        activeSite: str("activeSite", raw.activeSite, primarySite),
        sites: loadSites(raw.sites),
        patroni,
        haproxy,
        etcd,
        gluster,
        nextcloud,
        sizes,
    };
    checkTopology(project);
    return project;
}

/** Reads and validates one stack's config on top of the project's. */
export function loadStackConfig(raw: RawConfig): StackConfig {
    const project = loadProjectConfig(raw);
    const site = str("site", raw.site);
    if (!(site in project.sites)) {
        throw new ConfigError("site", `${show(site)} is not a site of the plan (${Object.keys(project.sites).join(", ")}); set it to one of them, or add the site to Pulumi.yaml's sites`);
    }
    let primaryStack: string | undefined;
    if (site !== project.primarySite) {
        primaryStack = str("primaryStack", raw.primaryStack);
        if (!/^[^/\s]+\/[^/\s]+\/[^/\s]+$/.test(primaryStack)) {
            throw new ConfigError("primaryStack", `${show(primaryStack)} is not a fully qualified stack name; write it as "<organization>/${PROJECT}/${project.primarySite}"`);
        }
    } else if (raw.primaryStack !== undefined) {
        throw new ConfigError("primaryStack", `${site} is the primary site, so it reads no other stack; remove primaryStack from this stack's config`);
    }
    if (raw.proxmox === undefined) {
        throw new ConfigError("proxmox", `missing; set at least the template to clone: \`pulumi config set --path ${PROJECT}:proxmox.templateVmId 9000\``);
    }
    const px = section("proxmox", raw.proxmox, ["templateVmId", "datastore", "snippetsDatastore", "bridge", "vlanId"]);
    const proxmox: ProxmoxConfig = {
        templateVmId: int("proxmox.templateVmId", px.templateVmId, undefined, 100, 999999999),
        datastore: str("proxmox.datastore", px.datastore, DEFAULTS.proxmox.datastore),
        snippetsDatastore: str("proxmox.snippetsDatastore", px.snippetsDatastore, DEFAULTS.proxmox.snippetsDatastore),
        bridge: str("proxmox.bridge", px.bridge, DEFAULTS.proxmox.bridge),
    };
    if (px.vlanId !== undefined) proxmox.vlanId = int("proxmox.vlanId", px.vlanId, undefined, 1, 4094);
    const keys = stringList("sshAuthorizedKeys", raw.sshAuthorizedKeys, []);
    keys.forEach((k, i) => {
        if (!/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+) \S+/.test(k)) {
            throw new ConfigError(`sshAuthorizedKeys[${i}]`, `${show(k.slice(0, 30))}... is not an SSH public key line; paste the contents of ~/.ssh/id_ed25519.pub`);
        }
    });
    const sshUser = str("sshUser", raw.sshUser, "debian");
    if (!/^[a-z_][a-z0-9_-]*$/.test(sshUser)) throw new ConfigError("sshUser", `${show(sshUser)} is not a user name`);
    return { ...project, site, primaryStack, proxmox, sshAuthorizedKeys: keys, sshUser };
}
