/**
 * Reads the raw values of the config keys (from Pulumi's config, or from the stack files
 * read by the CLI tools and the lab) into typed config with defaults filled in, or throws a
 * ConfigError naming the key, the bad value and the fix; `loadPlan` adds the rules that span
 * keys (plan/rules.ts) by building the plan. Pure: nothing here knows about Pulumi.
 */
import { cidrContains, isNetworkOrBroadcast, parseCidr, parseIpv4 } from "./addresses";
import {
    CertificatesConfig,
    ConfigError,
    DEFAULTS,
    EtcdConfig,
    GlusterConfig,
    HaproxyConfig,
    HostConfig,
    NextcloudConfig,
    OWNED_PARAMETERS,
    PASSWORD_ROLES,
    PasswordRole,
    PackagesConfig,
    PasswordsConfig,
    PatroniConfig,
    PROJECT,
    ProjectConfig,
    ProxmoxConfig,
    RawConfig,
    Role,
    ROLES,
    showValue,
    SiteConfig,
    Size,
    StackConfig,
    Topology,
    TOPOLOGIES,
} from "./config";
import { buildPlan, DeploymentPlan, hostsOf } from "./plan";
import { looksPrivate, sealKeyProblem } from "./sealKey";

const NAME_RE = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** The widest network a site may have: pg_hba and the firewall open to whole site networks. */
const WIDEST_SITE_PREFIX = 16;
/** A Linux interface name (keepalived's vipInterface, a Proxmox bridge). */
const IFNAME_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;
/** A Proxmox node name (a host name) and a Proxmox storage id. */
const NODE_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const STORAGE_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,62}$/;
/** A DNS name, optionally a wildcard's, or an IPv4 address; optionally with a port: what Nextcloud's trusted_domains takes (any case). */
const TRUSTED_DOMAIN_RE = /^((\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(:\d{1,5})?$/i;
/**
 * A Nextcloud image pinned to a full version of the Apache variant (the containers serve HTTP
 * themselves: `31.0.9` or `31.0.9-apache`, not `-fpm`), or to a digest, or both; from any
 * registry (`registry.example.org:5000/nextcloud:31.0.9-apache`).
 */
const PINNED_IMAGE_RE = /^([a-z0-9.-]+(:\d{1,5})?\/)?[a-z0-9][a-z0-9._\/-]*(:\d+\.\d+\.\d+(-apache)?(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$/;
/** One SSH public key line: type, base64 key, optional comment; no line break. */
const SSH_KEY_RE = /^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;
const show = showValue;

const PROXMOX_NODE = `a Proxmox node name (letters, digits and dashes, e.g. "pve-dc1")`;

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
        throw new ConfigError(
            key,
            `${show(s)} is not a valid name; use lower-case letters, digits and dashes, starting with a letter and not ending with a dash (e.g. "dc1-db1")`,
        );
    }
    return s;
}

function ipv4(key: string, v: unknown): string {
    const s = str(key, v);
    if (parseIpv4(s) === undefined)
        throw new ConfigError(key, `${show(s)} is not an IPv4 address; write it as four numbers from 0 to 255 without leading zeros, e.g. "10.10.1.21"`);
    return s;
}

/** An address a host or a VIP can have on the site's network: inside it, neither its network nor its broadcast address. */
function siteAddress(key: string, v: unknown, cidr: string, what: string): string {
    const a = ipv4(key, v);
    if (!cidrContains(cidr, a))
        throw new ConfigError(key, `${a} is outside the site's cidr ${cidr}; give the ${what} an address inside ${cidr}, or widen the site's cidr`);
    if (isNetworkOrBroadcast(cidr, a))
        throw new ConfigError(key, `${a} is the network or broadcast address of ${cidr}; give the ${what} an address between them`);
    return a;
}

/** A string that must match `re`: one line, no characters that would break the file it lands in. */
function matching(key: string, v: unknown, fallback: string | undefined, re: RegExp, what: string): string {
    const s = str(key, v, fallback);
    if (!re.test(s)) throw new ConfigError(key, `${show(s)} is not ${what}`);
    return s;
}

function bool(key: string, v: unknown, fallback: boolean): boolean {
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") throw new ConfigError(key, `expected true or false, got ${show(v)}`);
    return v;
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
    if (v.vmId === undefined) {
        throw new ConfigError(
            `${key}.vmId`,
            `missing; give every host an explicit Proxmox VM id (e.g. 1101) that never changes: an id derived from the host's position would change when a host is inserted, and Proxmox would replace the VM with its disks`,
        );
    }
    const host: HostConfig = {
        name: name(`${key}.name`, v.name),
        address: siteAddress(`${key}.address`, v.address, cidr, "host"),
        roles: [],
        vmId: int(`${key}.vmId`, v.vmId, undefined, 100, 999999999),
    };
    if (!Array.isArray(v.roles) || v.roles.length === 0) {
        throw new ConfigError(`${key}.roles`, `expected a non-empty list of roles (${ROLES.join(", ")}), got ${show(v.roles)}`);
    }
    for (const r of v.roles) {
        if (!ROLES.includes(r as Role)) throw new ConfigError(`${key}.roles`, `unknown role ${show(r)}; the roles are ${ROLES.join(", ")}`);
        if (host.roles.includes(r as Role)) throw new ConfigError(`${key}.roles`, `role ${show(r)} is listed twice`);
        host.roles.push(r as Role);
    }
    if (v.managementAddress !== undefined) host.managementAddress = siteAddress(`${key}.managementAddress`, v.managementAddress, cidr, "management address");
    if (v.size !== undefined) {
        const s = section(`${key}.size`, v.size, ["cores", "memoryMb", "diskGb"]);
        host.size = {};
        if (s.cores !== undefined) host.size.cores = int(`${key}.size.cores`, s.cores, undefined, 1, 128);
        if (s.memoryMb !== undefined) host.size.memoryMb = int(`${key}.size.memoryMb`, s.memoryMb, undefined, 512, 1048576);
        if (s.diskGb !== undefined) host.size.diskGb = int(`${key}.size.diskGb`, s.diskGb, undefined, 8, 65536);
    }
    if (v.proxmoxNode !== undefined) host.proxmoxNode = matching(`${key}.proxmoxNode`, v.proxmoxNode, undefined, NODE_RE, PROXMOX_NODE);
    return host;
}

function loadSites(raw: unknown): Record<string, SiteConfig> {
    if (!isObject(raw) || Object.keys(raw).length === 0) {
        throw new ConfigError(
            "sites",
            `expected the site plan, an object of sites (dc1, dc2, ...) each with cidr, gateway, proxmoxNode and hosts, got ${show(raw)}; it belongs in Pulumi.yaml's project-level config`,
        );
    }
    const sites: Record<string, SiteConfig> = {};
    for (const [siteName, v] of Object.entries(raw)) {
        const key = `sites.${siteName}`;
        name(key, siteName);
        if (!isObject(v)) throw new ConfigError(key, `expected an object with cidr, gateway, proxmoxNode and hosts, got ${show(v)}`);
        if (v.vmIdBase !== undefined) {
            throw new ConfigError(
                `${key}.vmIdBase`,
                `VM ids are no longer derived from a host's position (inserting a host would renumber the others, and Proxmox would replace those VMs with their disks); remove vmIdBase and give every host its current id as vmId`,
            );
        }
        rejectUnknown(key, v, ["cidr", "gateway", "dns", "proxmoxNode", "hosts", "vip", "vipInterface", "fenced", "sealKey"]);
        const cidr = str(`${key}.cidr`, v.cidr);
        const parsed = parseCidr(cidr);
        if (parsed === undefined) throw new ConfigError(`${key}.cidr`, `${show(cidr)} is not an IPv4 CIDR; write it as "10.10.1.0/24"`);
        if (parsed.prefix < WIDEST_SITE_PREFIX)
            throw new ConfigError(
                `${key}.cidr`,
                `${cidr} is wider than /${WIDEST_SITE_PREFIX}: pg_hba opens the database to the whole site network; give the site its own subnet, e.g. "10.10.1.0/24"`,
            );
        const gateway = siteAddress(`${key}.gateway`, v.gateway, cidr, "gateway");
        if (!Array.isArray(v.hosts) || v.hosts.length === 0) {
            throw new ConfigError(`${key}.hosts`, `expected a non-empty list of hosts, got ${show(v.hosts)}`);
        }
        sites[siteName] = {
            cidr,
            gateway,
            dns: stringList(`${key}.dns`, v.dns, DEFAULTS.dns).map((d, i) => ipv4(`${key}.dns[${i}]`, d)),
            proxmoxNode: matching(`${key}.proxmoxNode`, v.proxmoxNode, undefined, NODE_RE, PROXMOX_NODE),
            fenced: bool(`${key}.fenced`, v.fenced, false),
            hosts: v.hosts.map((h, i) => loadHost(`${key}.hosts[${i}]`, h, cidr)),
            vipInterface: matching(
                `${key}.vipInterface`,
                v.vipInterface,
                "eth0",
                IFNAME_RE,
                `a network interface name (letters, digits, _ . -, at most 15, e.g. "eth0")`,
            ),
        };
        if (v.vip !== undefined) {
            const vip = siteAddress(`${key}.vip`, v.vip, cidr, "VIP");
            if (vip === gateway || sites[siteName].hosts.some((h) => h.address === vip))
                throw new ConfigError(`${key}.vip`, `${vip} is already the gateway's or a host's address; give the VIP an unused address`);
            sites[siteName].vip = vip;
        }
        if (v.sealKey !== undefined) {
            const sealKey = str(`${key}.sealKey`, v.sealKey).trim();
            const problem = sealKeyProblem(sealKey);
            // The value shown by its start only, and not at all when it is a private key.
            const shown = looksPrivate(sealKey) ? "" : `${show(sealKey.length > 24 ? `${sealKey.slice(0, 24)}...` : sealKey)} `;
            if (problem)
                throw new ConfigError(`${key}.sealKey`, `${shown}${problem}; set it to the public key line \`npm run -s seal-key -- ${siteName}\` prints`);
            const twin = Object.entries(sites).find(([, other]) => other.sealKey === sealKey);
            if (twin)
                throw new ConfigError(
                    `${key}.sealKey`,
                    `is also sites.${twin[0]}.sealKey: each site's stack would open the other's part; give each site its own pair (\`npm run -s seal-key -- ${siteName}\`)`,
                );
            sites[siteName].sealKey = sealKey;
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
            if (seenName)
                throw new ConfigError(
                    `${key}.name`,
                    `host name ${show(h.name)} is already used by ${seenName}; host names must be unique across all sites (Patroni member names are)`,
                );
            names.set(h.name, key);
            const seenAddr = addresses.get(h.address);
            if (seenAddr) throw new ConfigError(`${key}.address`, `address ${h.address} is already used by ${seenAddr}; give every host its own address`);
            if (h.address === site.gateway)
                throw new ConfigError(`${key}.address`, `address ${h.address} is the site's gateway; give the host another address`);
            addresses.set(h.address, key);
            const seenVm = vmIds.get(h.vmId);
            if (seenVm) throw new ConfigError(`${key}.vmId`, `VM id ${h.vmId} is already used by ${seenVm}; give every host its own VM id`);
            vmIds.set(h.vmId, key);
        });
    }
    const cidrs = Object.entries(sites);
    for (let i = 0; i < cidrs.length; i++) {
        for (let j = i + 1; j < cidrs.length; j++) {
            const [a, sa] = cidrs[i];
            const [b, sb] = cidrs[j];
            if (cidrContains(sa.cidr, parseCidr(sb.cidr)!.network) || cidrContains(sb.cidr, parseCidr(sa.cidr)!.network)) {
                throw new ConfigError(
                    `sites.${b}.cidr`,
                    `${sb.cidr} overlaps ${a}'s ${sa.cidr}; every site needs its own network so HAProxy and pg_hba can tell them apart`,
                );
            }
        }
    }
}

/** `managementNetworks`: CIDRs (a single address as /32), none of them the whole internet. */
function managementNetworks(v: unknown): string[] {
    const list = stringList("managementNetworks", v, []);
    if (list.length === 0) throw new ConfigError("managementNetworks", `expected a non-empty list of networks, e.g. ["10.10.0.0/24"], got ${show(v)}`);
    return list.map((n, i) => {
        const key = `managementNetworks[${i}]`;
        const c = parseCidr(n);
        if (!c) throw new ConfigError(key, `${show(n)} is not an IPv4 CIDR; write it as "10.10.0.0/24" (one address: "10.10.0.5/32")`);
        if (c.prefix < WIDEST_SITE_PREFIX)
            throw new ConfigError(key, `${n} is wider than /${WIDEST_SITE_PREFIX}: SSH and the REST API would be open to it; name the operators' network`);
        return n;
    });
}

/** `patroni.parameters`: a map of PostgreSQL parameter names to plain values, none the platform owns. */
function postgresParameters(v: unknown): Record<string, string | number> {
    if (v === undefined) return {};
    if (!isObject(v)) throw new ConfigError("patroni.parameters", `${show(v)} is not a map; write it as { work_mem: 8MB, max_connections: 300 }`);
    const out: Record<string, string | number> = {};
    for (const [k, x] of Object.entries(v)) {
        const key = `patroni.parameters.${k}`;
        if (!/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/.test(k))
            throw new ConfigError(key, `${show(k)} is not a PostgreSQL parameter name (lower case, digits and _, or an extension's prefix.name)`);
        if (OWNED_PARAMETERS.includes(k))
            throw new ConfigError(key, `${k} is set by the platform (replication and authentication depend on it); remove it from patroni.parameters`);
        if (typeof x === "number" && Number.isFinite(x)) out[k] = x;
        else if (typeof x === "string" && /^[\w .:,/*%@+-]*$/.test(x)) out[k] = x;
        else if (typeof x === "boolean") out[k] = x ? "on" : "off";
        else throw new ConfigError(key, `${show(x)} is not a plain value; use a number or a string of letters, digits and . : , / * % @ + - _ or spaces`);
    }
    return out;
}

/** Reads and validates the project-level config (the site plan shared by every stack). */
export function loadProjectConfig(raw: RawConfig): ProjectConfig {
    const topology = str("topology", raw.topology, DEFAULTS.topology);
    if (!TOPOLOGIES.includes(topology as Topology)) {
        throw new ConfigError("topology", `unknown topology ${show(topology)}; use one of ${TOPOLOGIES.join(", ")}`);
    }
    const pt = section("patroni", raw.patroni, ["scope", "ttl", "loopWait", "retryTimeout", "maximumLagOnFailover", "parameters"]);
    const patroni: PatroniConfig = {
        scope: name("patroni.scope", pt.scope ?? DEFAULTS.patroni.scope),
        ttl: int("patroni.ttl", pt.ttl, DEFAULTS.patroni.ttl, 20, 3600),
        loopWait: int("patroni.loopWait", pt.loopWait, DEFAULTS.patroni.loopWait, 1, 3600),
        retryTimeout: int("patroni.retryTimeout", pt.retryTimeout, DEFAULTS.patroni.retryTimeout, 1, 3600),
        maximumLagOnFailover: int("patroni.maximumLagOnFailover", pt.maximumLagOnFailover, DEFAULTS.patroni.maximumLagOnFailover, 0, 2 ** 40),
        parameters: postgresParameters(pt.parameters),
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
        throw new ConfigError(
            "haproxy.replicaMaxLag",
            `${show(haproxy.replicaMaxLag)} is not a size Patroni understands; write bytes or a number with kB, MB or GB, e.g. "100MB"`,
        );
    }
    const ec = section("etcd", raw.etcd, ["heartbeatMs", "electionTimeoutMs", "checkNames", "keepLeader", "leaders", "leaderHoldOffS", "auth"]);
    const etcd: EtcdConfig = {
        heartbeatMs: int("etcd.heartbeatMs", ec.heartbeatMs, DEFAULTS.etcd.heartbeatMs, 10, 10000),
        electionTimeoutMs: int("etcd.electionTimeoutMs", ec.electionTimeoutMs, DEFAULTS.etcd.electionTimeoutMs, 50, 50000),
        checkNames: bool("etcd.checkNames", ec.checkNames, DEFAULTS.etcd.checkNames),
        keepLeader: bool("etcd.keepLeader", ec.keepLeader, DEFAULTS.etcd.keepLeader),
        leaders: stringList("etcd.leaders", ec.leaders, DEFAULTS.etcd.leaders),
        leaderHoldOffS: int("etcd.leaderHoldOffS", ec.leaderHoldOffS, DEFAULTS.etcd.leaderHoldOffS, 5, 3600),
        auth: bool("etcd.auth", ec.auth, DEFAULTS.etcd.auth),
    };
    if (etcd.electionTimeoutMs < 5 * etcd.heartbeatMs) {
        throw new ConfigError(
            "etcd.electionTimeoutMs",
            `${etcd.electionTimeoutMs} is less than 5 heartbeats (${etcd.heartbeatMs} ms each); etcd wants an election timeout of about 10 heartbeats, e.g. ${10 * etcd.heartbeatMs}`,
        );
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
    const trusted = stringList("nextcloud.trustedDomains", nc.trustedDomains, []);
    trusted.forEach((d, i) => {
        if (!TRUSTED_DOMAIN_RE.test(d))
            throw new ConfigError(
                `nextcloud.trustedDomains[${i}]`,
                `${show(d)} is not a domain Nextcloud can trust; write a DNS name ("cloud.example.com", "*.example.com") or an address, optionally with a port`,
            );
    });
    const nextcloud: NextcloudConfig = {
        domain,
        trustedDomains: [...new Set([domain, ...trusted])],
        image: str("nextcloud.image", nc.image, DEFAULTS.nextcloud.image),
        maxUploadSize: str("nextcloud.maxUploadSize", nc.maxUploadSize, DEFAULTS.nextcloud.maxUploadSize),
    };
    if (!PINNED_IMAGE_RE.test(nextcloud.image)) {
        throw new ConfigError(
            "nextcloud.image",
            `${show(nextcloud.image)} is not a pinned image of the Apache variant; name a full version tag, e.g. "${DEFAULTS.nextcloud.image}" (not latest, stable, a major version alone or -fpm), or a digest, so every node runs the same code`,
        );
    }
    if (!/^\d+[KMG]$/.test(nextcloud.maxUploadSize)) {
        throw new ConfigError("nextcloud.maxUploadSize", `${show(nextcloud.maxUploadSize)} is not a size NGINX understands; write e.g. "16G"`);
    }
    const cs = section("certificates", raw.certificates, ["hostDays", "renewBeforeDays", "caSigning", "caTrusted"]);
    const caSigning = int("certificates.caSigning", cs.caSigning, DEFAULTS.certificates.caSigning, 0, 1000);
    if (caSigning !== DEFAULTS.certificates.caSigning && cs.caTrusted === undefined)
        throw new ConfigError(
            "certificates.caTrusted",
            `is required with caSigning ${caSigning}: a rotation trusts both generations first (caTrusted: [${caSigning - 1}, ${caSigning}]); see README "Rotating the CA"`,
        );
    if (cs.caTrusted !== undefined && !Array.isArray(cs.caTrusted))
        throw new ConfigError("certificates.caTrusted", `expected a list of CA generations, e.g. [0, 1], got ${show(cs.caTrusted)}`);
    const caTrusted = ((cs.caTrusted as unknown[] | undefined) ?? [caSigning]).map((g, i) => int(`certificates.caTrusted[${i}]`, g, undefined, 0, 1000));
    const sorted = [...caTrusted].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.length > 2 || (sorted.length === 2 && sorted[1] !== sorted[0] + 1))
        throw new ConfigError(
            "certificates.caTrusted",
            `${show(cs.caTrusted)}: trust one CA generation, or two consecutive ones while rotating (e.g. [0, 1]); see README "Rotating the CA"`,
        );
    if (!caTrusted.includes(caSigning))
        throw new ConfigError(
            "certificates.caSigning",
            `${caSigning} is not among caTrusted ${show(caTrusted)}: hosts must trust the CA that signs them; trust it first (caTrusted: [${caTrusted[0]}, ${caSigning}])`,
        );
    const certificates: CertificatesConfig = {
        hostDays: int("certificates.hostDays", cs.hostDays, DEFAULTS.certificates.hostDays, 7, 3650),
        renewBeforeDays: int("certificates.renewBeforeDays", cs.renewBeforeDays, DEFAULTS.certificates.renewBeforeDays, 1, 1825),
        caSigning,
        caTrusted: sorted,
    };
    if (certificates.renewBeforeDays * 2 > certificates.hostDays) {
        throw new ConfigError(
            "certificates.renewBeforeDays",
            `${certificates.renewBeforeDays} days is more than half of hostDays ${certificates.hostDays}: every pulumi up would issue new certificates; use at most ${Math.floor(certificates.hostDays / 2)}`,
        );
    }
    const pw = section("passwords", raw.passwords, ["rotation"]);
    const rot = section("passwords.rotation", pw.rotation, PASSWORD_ROLES);
    const passwords: PasswordsConfig = {
        rotation: Object.fromEntries(
            PASSWORD_ROLES.map((r) => [r, int(`passwords.rotation.${r}`, rot[r], DEFAULTS.passwords.rotation[r], 0, 1000000)]),
        ) as Record<PasswordRole, number>,
    };
    const pk = section("packages", raw.packages, ["update"]);
    const packages: PackagesConfig = { update: int("packages.update", pk.update, DEFAULTS.packages.update, 0, 1000000) };
    const sz = section("sizes", raw.sizes, ROLES);
    const sizes = Object.fromEntries(ROLES.map((r) => [r, loadSize(`sizes.${r}`, sz[r], DEFAULTS.sizes[r])])) as Record<Role, Size>;
    const primarySite = str("primarySite", raw.primarySite, DEFAULTS.primarySite);
    const project: ProjectConfig = {
        topology: topology as Topology,
        primarySite,
        activeSite: str("activeSite", raw.activeSite, primarySite),
        sites: loadSites(raw.sites),
        ...(raw.managementNetworks === undefined ? {} : { managementNetworks: managementNetworks(raw.managementNetworks) }),
        patroni,
        haproxy,
        etcd,
        certificates,
        passwords,
        packages,
        gluster,
        nextcloud,
        sizes,
    };
    if (project.sites[primarySite]?.sealKey !== undefined)
        throw new ConfigError(
            `sites.${primarySite}.sealKey`,
            `${primarySite} is the primary site: its stack seals the other sites' secrets and receives none; remove sealKey from it`,
        );
    return project;
}

/** Reads and validates one stack's config on top of the project's. */
export function loadStackConfig(raw: RawConfig): StackConfig {
    const project = loadProjectConfig(raw);
    const site = str("site", raw.site);
    if (!(site in project.sites)) {
        throw new ConfigError(
            "site",
            `${show(site)} is not a site of the plan (${Object.keys(project.sites).join(", ")}); set it to one of them, or add the site to Pulumi.yaml's sites`,
        );
    }
    let primaryStack: string | undefined;
    if (site !== project.primarySite) {
        primaryStack = str("primaryStack", raw.primaryStack);
        if (!/^[^/\s]+\/[^/\s]+\/[^/\s]+$/.test(primaryStack)) {
            throw new ConfigError(
                "primaryStack",
                `${show(primaryStack)} is not a fully qualified stack name; write it as "<organization>/${PROJECT}/${project.primarySite}"`,
            );
        }
    } else if (raw.primaryStack !== undefined) {
        throw new ConfigError("primaryStack", `${site} is the primary site, so it reads no other stack; remove primaryStack from this stack's config`);
    }
    if (raw.proxmox === undefined) {
        throw new ConfigError("proxmox", `missing; set at least the template to clone: \`pulumi config set --path ${PROJECT}:proxmox.templateVmId 9000\``);
    }
    const px = section("proxmox", raw.proxmox, ["templateVmId", "templateNode", "datastore", "snippetsDatastore", "bridge", "vlanId"]);
    const storage = `a Proxmox storage id (letters, digits, _ . -, starting with a letter, e.g. "local-lvm")`;
    const proxmox: ProxmoxConfig = {
        templateVmId: int("proxmox.templateVmId", px.templateVmId, undefined, 100, 999999999),
        datastore: matching("proxmox.datastore", px.datastore, DEFAULTS.proxmox.datastore, STORAGE_RE, storage),
        snippetsDatastore: matching("proxmox.snippetsDatastore", px.snippetsDatastore, DEFAULTS.proxmox.snippetsDatastore, STORAGE_RE, storage),
        bridge: matching("proxmox.bridge", px.bridge, DEFAULTS.proxmox.bridge, IFNAME_RE, `a bridge name (letters, digits, _ . -, at most 15, e.g. "vmbr0")`),
    };
    if (px.vlanId !== undefined) proxmox.vlanId = int("proxmox.vlanId", px.vlanId, undefined, 1, 4094);
    if (px.templateNode !== undefined) proxmox.templateNode = matching("proxmox.templateNode", px.templateNode, undefined, NODE_RE, PROXMOX_NODE);
    for (const [siteName, s] of Object.entries(project.sites))
        s.hosts.forEach((h, i) => {
            if (h.vmId === proxmox.templateVmId)
                throw new ConfigError(
                    `sites.${siteName}.hosts[${i}].vmId`,
                    `${h.vmId} is the template's VM id (proxmox.templateVmId); give ${h.name} another id`,
                );
        });
    const keys = stringList("sshAuthorizedKeys", raw.sshAuthorizedKeys, []);
    keys.forEach((k, i) => {
        if (!SSH_KEY_RE.test(k)) {
            throw new ConfigError(
                `sshAuthorizedKeys[${i}]`,
                `${show(k.slice(0, 30))}... is not one SSH public key line (type, key, comment; no line break); paste the contents of ~/.ssh/id_ed25519.pub, one key per entry`,
            );
        }
    });
    const sshUser = str("sshUser", raw.sshUser, "debian");
    if (!/^[a-z_][a-z0-9_-]*$/.test(sshUser)) throw new ConfigError("sshUser", `${show(sshUser)} is not a user name`);
    const tlsCertificate = raw.tlsCertificate === undefined ? undefined : str("tlsCertificate", raw.tlsCertificate);
    return { ...project, site, primaryStack, proxmox, sshAuthorizedKeys: keys, sshUser, ...(tlsCertificate ? { tlsCertificate } : {}) };
}

/** The stack's config and the plan of all sites, every rule checked: what every tool starts from. */
export function loadPlan(raw: RawConfig): { config: StackConfig; plan: DeploymentPlan } {
    const config = loadStackConfig(raw);
    return { config, plan: buildPlan(config) };
}

/**
 * `loadPlan`, and what deploying the stack needs beyond the plan: the site's wildcard
 * certificate and its key, where the site runs NGINX. The stack program and the offline check.
 */
export function loadDeployment(raw: RawConfig): { config: StackConfig; plan: DeploymentPlan } {
    const { config, plan } = loadPlan(raw);
    if (hostsOf(plan, { site: config.site, role: "nginx" }).length > 0) {
        if (!config.tlsCertificate || !/-----BEGIN CERTIFICATE-----/.test(config.tlsCertificate)) {
            throw new ConfigError(
                "tlsCertificate",
                `missing or not a PEM certificate; site ${config.site} terminates TLS: \`pulumi config set ${PROJECT}:tlsCertificate -- "$(cat wildcard.crt)"\``,
            );
        }
        if (raw.tlsKey === undefined) {
            throw new ConfigError(
                "tlsKey",
                `missing; set the wildcard certificate's key as a secret: \`pulumi config set --secret ${PROJECT}:tlsKey -- "$(cat wildcard.key)"\``,
            );
        }
    }
    const sealKey = config.sites[config.site].sealKey;
    if (sealKey !== undefined && raw.sealPrivateKey === undefined)
        throw new ConfigError(
            "sealPrivateKey",
            `missing; the plan seals ${config.site}'s part of the shared secrets to sites.${config.site}.sealKey: set that key's private half as this stack's secret (\`npm run -s seal-key -- --help\` says how)`,
        );
    if (sealKey === undefined && raw.sealPrivateKey !== undefined)
        throw new ConfigError(
            "sealPrivateKey",
            config.site === config.primarySite
                ? `${config.site} is the primary site and opens nothing sealed; remove sealPrivateKey from this stack's config`
                : `set, but the plan has no sites.${config.site}.sealKey; add its public half there (\`pulumi config get ${PROJECT}:sealPrivateKey | npm run -s seal-key -- --public\` prints it) or remove sealPrivateKey`,
        );
    return { config, plan };
}
