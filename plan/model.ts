/**
 * The shape of the deployment plan: plain data, every fact a consumer needs, so that no
 * component, renderer, lab step or site command derives one again. Types only.
 */
import { Endpoint } from "./addresses";
import { CertificatesConfig, EtcdConfig, HaproxyConfig, NextcloudConfig, PackagesConfig, PasswordsConfig, PatroniConfig, Role, Size, Topology } from "./config";
import { PORTS, VERSIONS } from "./constants";

/**
 * The Pulumi components of a stack, in the order the stack creates them. Each places the
 * VMs of the hosts whose first role is one of its own (`HostPlan.builtBy`).
 */
export type ComponentKind = "etcd" | "patroni" | "loadBalancer" | "gluster" | "nextcloud";

export interface HostPlan {
    name: string;
    site: string;
    address: string;
    managementAddress: string;
    /** Prefix length of the site's network. */
    prefix: number;
    gateway: string;
    dns: string[];
    /** In the order of `ROLES`. */
    roles: Role[];
    /** The component that places this host's VM: the component of its first role. */
    builtBy: ComponentKind;
    size: Size;
    vmId: number;
    proxmoxNode: string;
    /** Holds data a rebuild would lose (an etcd member, a Patroni member, a brick): its VM is protected against deletion. */
    stateful: boolean;
    /** Its site is fenced: the VM is declared stopped and not started at boot. */
    fenced: boolean;
    /** A second disk (scsi1), formatted and mounted at first boot (Gluster bricks); `device` names it by id, not as /dev/sdb. */
    dataDisk?: { sizeGb: number; mountPoint: string; filesystem: "xfs"; device: string };
}

/** Where a site's applications reach the database: the site's first HAProxy. */
export interface SiteDatabase {
    /** The HAProxy host. */
    via: string;
    /** HAProxy's read-write port: the primary of the cluster that serves the site. */
    readWrite: Endpoint;
    /** HAProxy's read-only port: the replicas within the lag limit. */
    readOnly: Endpoint;
}

/** One component of a site's stack. */
export interface ComponentPlan {
    kind: ComponentKind;
    site: string;
    /** Hosts of the site whose VM this component places. */
    builds: string[];
    /** Hosts of the site with one of its roles whose VM another component places; it acts on them once they exist. */
    uses: string[];
    /** Components of the same stack it is created after, and why. */
    after: { kind: ComponentKind; why: string }[];
}

export interface SitePlan {
    name: string;
    cidr: string;
    /** keepalived's virtual address for the site's NGINX nodes, when it has two. */
    vip?: { address: string; interface: string };
    hosts: string[];
    /** The witness site holds etcd (and the Gluster arbiter) but no database. */
    witness: boolean;
    /** The public key the primary stack seals the site's part of the shared secrets to (config `sites.<site>.sealKey`). */
    sealKey?: string;
    /** The etcd cluster with members in the site (plan `etcdClusters[].name`). */
    etcdCluster?: string;
    /** The Patroni cluster with members in the site (plan `patroniClusters[].scope`). */
    patroniCluster?: string;
    /** Absent when the site has no HAProxy. */
    database?: SiteDatabase;
    /** The Redis of the site's app nodes (on its first app node); absent without app nodes. */
    redis?: string;
    /** Where users reach the site: its VIP, else its NGINX hosts (the domain's A records). */
    publicAddresses: string[];
    /** The components its stack creates, in order. */
    components: ComponentPlan[];
}

export interface EtcdClusterPlan {
    /** etcd's `initial-cluster-token`, unique per cluster. */
    name: string;
    members: string[];
    /** The members whose leader keeper holds the raft leadership on them (three-site: the witness's); empty: no keeper. */
    leaders: string[];
    /** The member whose stack runs the cluster's auth step (`etcd.auth`): in the primary site where the cluster has a member there. */
    configuredBy: string;
}

export interface PatroniClusterPlan {
    scope: string;
    /** Sites whose applications use this cluster (two-site: one cluster per site). */
    sites: string[];
    members: string[];
    etcd: string;
    synchronousMode: boolean;
    /**
     * two-site: the standby cluster follows the active site's cluster, through that site's
     * read-write endpoint. `viaStackOutput`: the followed site is the primary site, whose stack
     * exports the endpoint (`primaryEndpoints`); the stack reads it through the StackReference it
     * holds anyway. Otherwise (after a promotion) the plan's endpoint is used.
     */
    standbyOf?: { scope: string; site: string; slot: string; viaStackOutput: boolean };
    /** Permanent replication slots kept for standby clusters that follow this one. */
    permanentSlots: string[];
    /**
     * The member whose stack sets the cluster-wide (dynamic) config and rolls the restarts it
     * needs (render/patroniCluster.ts): the first member, so exactly one stack owns it.
     */
    configuredBy: string;
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
     * The brick host that probes the peers and creates the volume: one in the last site
     * (in deploy order) holding a brick, so every peer exists when its command runs.
     */
    creator: string;
}

/** The Nextcloud tier's one-of-a-kind duties. */
export interface AppPlan {
    /** Installs Nextcloud once; the other app nodes wait for it. The primary site's first app node. */
    installer: string;
    /** Runs Nextcloud's background jobs (cron.php): one runner for the whole deployment. */
    cron: string;
}

/** A stack and the stacks it must be deployed after, with the reason. */
export interface StackOrder {
    site: string;
    /** 2: the stack is deployed a second time, once what it waits for exists. */
    pass: 1 | 2;
    after: { site: string; why: string }[];
}

export interface DeploymentPlan {
    topology: Topology;
    /** The site whose stack creates the shared secrets (and installs Nextcloud). */
    primarySite: string;
    /** two-site: the site whose Patroni cluster is the primary now (config `activeSite`). */
    activeSite: string;
    sites: SitePlan[];
    hosts: HostPlan[];
    /** Every site network: what pg_hba lets in. */
    networks: string[];
    /** Where operators reach the VMs from (config `managementNetworks`, default `networks`): SSH, HAProxy stats, two-site REST. */
    managementNetworks: string[];
    etcdClusters: EtcdClusterPlan[];
    patroniClusters: PatroniClusterPlan[];
    patroni: PatroniConfig;
    haproxy: HaproxyConfig;
    etcd: EtcdConfig;
    /** The hosts' certificate lifetimes (issued by the program's deployment CA, and by the lab's). */
    certificates: CertificatesConfig;
    /** Each database password's rotation generation (config `passwords.rotation`): a new value per generation. */
    passwords: PasswordsConfig;
    /** The package update generation (config `packages.update`): every service's packages upgraded in place when it rises. */
    packages: PackagesConfig;
    /** Absent when the plan has no Gluster hosts. */
    gluster?: GlusterPlan;
    nextcloud: NextcloudConfig;
    /** Absent when the plan has no Nextcloud app nodes. */
    app?: AppPlan;
    /** The stacks in the order to deploy them, each with the stacks it needs first. */
    deployOrder: StackOrder[];
    versions: typeof VERSIONS;
    ports: typeof PORTS;
}
