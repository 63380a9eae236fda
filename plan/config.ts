/**
 * The config keys: their types, defaults and the error that names a bad one. plan/load.ts
 * reads raw values into these types; plan/rules.ts checks the rules that span keys. Pure.
 */

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
    /**
     * Proxmox VM id, required and never changed: an id derived from a host's position would
     * change when a host is inserted, and Proxmox would replace the VM with its disks.
     */
    vmId: number;
    /** Proxmox node that runs this VM. Default: the site's `proxmoxNode`. */
    proxmoxNode?: string;
}

export interface SiteConfig {
    /** The site's VM network, e.g. 10.10.1.0/24. Every host address must be inside it. */
    cidr: string;
    gateway: string;
    dns: string[];
    proxmoxNode: string;
    hosts: HostConfig[];
    /**
     * The site is fenced (powered off on purpose, docs/runbooks/two-site.md): its VMs are
     * declared stopped and not started at boot, so `pulumi up --refresh` never starts them again.
     */
    fenced: boolean;
    /** Virtual address keepalived moves between the site's NGINX nodes (needs two of them). */
    vip?: string;
    /** The VMs' interface carrying the VIP: Proxmox's cloud-init names the first NIC eth0. */
    vipInterface: string;
    /**
     * The public half of the site's seal key (`npm run -s seal-key -- SITE`), not on the primary
     * site: the primary stack seals the site's part of the shared secrets to it and exports only
     * that; the private half is the site stack's secret `sealPrivateKey`. Once every other site
     * has one, the primary exports no secret in the clear (docs/design/security.md).
     */
    sealKey?: string;
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
    /**
     * PostgreSQL parameters set cluster-wide over the platform's (Patroni's dynamic
     * `postgresql.parameters`); a change reaches the running cluster at `pulumi up`, with a
     * rolling restart when the parameter needs one. Those the platform owns are refused.
     */
    parameters: Record<string, string | number>;
}

/** PostgreSQL parameters the platform sets and a stack may not: replication, authentication and where things are depend on them. */
export const OWNED_PARAMETERS = [
    "wal_level",
    "hot_standby",
    "wal_log_hints",
    "password_encryption",
    "listen_addresses",
    "port",
    "unix_socket_directories",
    "data_directory",
    "hba_file",
    "ident_file",
    "config_file",
    "primary_conninfo",
    "primary_slot_name",
    "synchronous_standby_names",
    "cluster_name",
    // Lowered, they break replication; the backups' own settings come with the backups.
    "max_wal_senders",
    "max_replication_slots",
    "archive_mode",
    "archive_command",
    "restore_command",
];

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
    /**
     * Members take a peer only with the cluster's peer name in its certificate (render/etcd.ts
     * `etcdPeerName`), not any certificate of the deployment CA. `false` for one round of
     * `pulumi up` on every stack when upgrading a platform whose certificates predate the name
     * (docs/design/security.md).
     */
    checkNames: boolean;
    /**
     * three-site: a service on the witness's etcd member keeps the raft leadership there while
     * every member is healthy (render/etcd_leader.py), so losing a data site never loses etcd's
     * leader with the primary. `false` turns it off (the check warns).
     */
    keepLeader: boolean;
    /** The members that may hold the leadership; default the one member outside the data sites (name them where there are more). */
    leaders: string[];
    /** How long the keeper waits after it starts, after any leader or health change, and after its own move, before it moves the leadership. */
    leaderHoldOffS: number;
    /**
     * etcd's authentication (RBAC): each Patroni cluster logs in as its own user, whose role
     * reads and writes its cluster's keys only (`/service/<scope>/`); member changes take the
     * root user. Turning it on in a running platform takes `patronictl pause` first
     * (docs/design/security.md, "etcd's clients").
     */
    auth: boolean;
}

/**
 * Lifetimes of the hosts' certificates from the deployment CA: a `pulumi up` inside the last
 * `renewBeforeDays` issues new ones, and the converge steps deliver them like any file.
 */
export interface CertificatesConfig {
    hostDays: number;
    renewBeforeDays: number;
    /**
     * The deployment CA by generation: `caSigning` signs every host's certificate, every host
     * trusts each of `caTrusted` (one, or two consecutive during a rotation). A rotation from
     * generation g to g+1 is three rounds of `pulumi up` on every stack: trust both (signing g),
     * sign with g+1, trust only g+1 (README, "Rotating the CA").
     */
    caSigning: number;
    caTrusted: number[];
}

/** The database passwords a `pulumi up` can rotate, by the role that holds each (render/patroni.ts DB_USERS, and the app's role). */
export const PASSWORD_ROLES = ["superuser", "replication", "rewind", "restApi", "app"] as const;
export type PasswordRole = (typeof PASSWORD_ROLES)[number];

/**
 * Password rotation: a generation per role. Raising one makes the primary stack's `pulumi up`
 * draw a new password (the RandomPassword's keepers) and roll it out in a safe order: the
 * role's password changed on the primary first (the cluster's roles step), then every
 * consumer's file (the converge steps), then their reloads.
 */
export interface PasswordsConfig {
    rotation: Record<PasswordRole, number>;
}

/**
 * Package updates: raising `update` makes every host's converge steps upgrade their service's
 * Debian packages in place (`apt-get install --only-upgrade`, dpkg's own restarts held) and take
 * the new binaries into use by the service's rule, one host at a time (render/rendered.ts `update`).
 */
export interface PackagesConfig {
    update: number;
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
    /**
     * Where operators and the machine running Pulumi reach the VMs from: SSH, HAProxy's stats,
     * and in two-site Patroni's REST API (the site commands). Default: the sites' networks.
     */
    managementNetworks?: string[];
    patroni: PatroniConfig;
    haproxy: HaproxyConfig;
    etcd: EtcdConfig;
    certificates: CertificatesConfig;
    passwords: PasswordsConfig;
    packages: PackagesConfig;
    gluster: GlusterConfig;
    nextcloud: NextcloudConfig;
    sizes: Record<Role, Size>;
}

export interface ProxmoxConfig {
    /** VM id of the Debian 13 cloud-init template to clone (docs/proxmox-template.md says what it must have). */
    templateVmId: number;
    /** The Proxmox node that holds the template (VM ids are unique in a cluster: one template, on one node). Default: the site's proxmoxNode. */
    templateNode?: string;
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
    /** The site's wildcard certificate (PEM), where the site runs NGINX; its key is the secret `tlsKey`. */
    tlsCertificate?: string;
}

/** Defaults in one visible place. Timings: see docs/TIMINGS.md. */
export const DEFAULTS = {
    topology: "three-site" as Topology,
    primarySite: "dc1",
    patroni: { scope: "nextcloud", ttl: 20, loopWait: 5, retryTimeout: 5, maximumLagOnFailover: 1048576, parameters: {} },
    haproxy: { checkIntervalMs: 1000, fastCheckIntervalMs: 250, fall: 2, rise: 2, replicaMaxLag: "100MB" },
    etcd: { heartbeatMs: 100, electionTimeoutMs: 1000, checkNames: true, keepLeader: true, leaders: [], leaderHoldOffS: 30, auth: true },
    certificates: { hostDays: 365, renewBeforeDays: 30, caSigning: 0, caTrusted: [0] },
    passwords: { rotation: { superuser: 0, replication: 0, rewind: 0, restApi: 0, app: 0 } as Record<PasswordRole, number> },
    packages: { update: 0 },
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
    managementNetworks: "object",
    patroni: "object",
    haproxy: "object",
    etcd: "object",
    certificates: "object",
    passwords: "object",
    packages: "object",
    gluster: "object",
    nextcloud: "object",
    sizes: "object",
    site: "string",
    primaryStack: "string",
    proxmox: "object",
    sshAuthorizedKeys: "object",
    sshUser: "string",
    // The wildcard certificate and its key. The key is secret: the loaders only learn whether it is set.
    tlsCertificate: "string",
    tlsKey: "secret",
    // The private half of the site's seal key (plan sites.<site>.sealKey), on every site but the primary.
    sealPrivateKey: "secret",
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

/** A value as config messages show it: JSON, or "nothing". */
export function showValue(value: unknown): string {
    return value === undefined ? "nothing" : JSON.stringify(value);
}
