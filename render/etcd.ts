/**
 * Renders an etcd v3 member: Debian's etcd.service reads /etc/default/etcd, so the member
 * is configured through environment files: that one (what it runs with: a change restarts it),
 * and a drop-in's two read at its first start only (the cluster it bootstraps with, or the
 * running cluster it joins, render/etcd_member.py). Client and peer traffic use TLS from the
 * deployment CA, both sides demand client certificates, and the peer port takes only the
 * certificates of the cluster's members (`etcdPeerName`). Pure but for reading the script beside it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DeploymentPlan, EtcdClusterPlan, HostPlan, etcdClusterOf, hostByName } from "../plan/plan";
import { shortHash } from "./hash";
import { RenderedHost, TlsIdentity } from "./rendered";
import { DatabaseSecrets, EtcdSecrets } from "./secrets";

export const ETCD_PKI = "/etc/etcd/pki";
/** Keeps the raft leadership on a member the plan lets lead (render/etcd_leader.py). */
export const ETCD_LEADER_SCRIPT = "/usr/local/lib/nextcloud-ha/etcd-leader-keeper.py";
const ETCD_LEADER_UNIT = "nextcloud-ha-etcd-leader.service";
/** The leader keeper's service name (its files' and the lab's log's). */
export const ETCD_LEADER_SERVICE = "etcd-leader";
/** Raft entries the keeper's member may be behind the leader and still take the leadership. */
const LEADER_MAX_LAG = 1000;
/** Joins a running cluster before the first start, leaves it before the VM goes (render/etcd_member.py). */
export const ETCD_MEMBER_SCRIPT = "/usr/local/lib/nextcloud-ha/etcd-member.py";
/** The cluster a member bootstraps with (the plan's: `new`): read at its first start only. */
const BOOTSTRAP_ENV = "/etc/etcd/bootstrap.env";
/** Written by the join script when the member joins a running cluster (`existing`, the cluster's members); read after BOOTSTRAP_ENV. */
const JOIN_ENV = "/var/lib/nextcloud-ha/etcd-join.env";
const DATA_DIR = "/var/lib/etcd/default";

/** One of the etcd scripts beside this file, after what they share (etcd_common.py: its settings, etcdctl with the member's certificate). */
function etcdScript(file: string, settings: object): string {
    const read = (f: string) => fs.readFileSync(path.join(__dirname, f), "utf8");
    return read("etcd_common.py").replace("@SETTINGS@", JSON.stringify(settings)) + "\n\n" + read(file);
}

/** `https://address:2379` for every member of the cluster the host belongs to or uses. */
export function etcdClientUrls(plan: DeploymentPlan, host: string): string[] {
    return etcdClusterOf(plan, host).members.map((m) => `https://${hostByName(plan, m).address}:${plan.ports.etcdClient}`);
}

/**
 * The name an etcd cluster's members demand of a peer's certificate besides the deployment CA's
 * signature (`etcd.checkNames`). Not a host name (`.invalid` never resolves): a role, carried in
 * the SANs of the cluster's members' certificates only. (The client port cannot demand one:
 * etcd 3.5's JSON gateway, which Patroni's etcd3 client talks to, dials its own member with the
 * check in force and fails it: etcd issue 15755.)
 */
export function etcdPeerName(cluster: string): string {
    return `etcd-peer.${cluster}.invalid`;
}

/** The etcd role names a host's certificate carries: a member's, its cluster's peer name; every other host's none, so no other host can pose as a peer. */
export function etcdRoleNames(plan: DeploymentPlan, host: HostPlan): string[] {
    return host.roles.includes("etcd") ? [etcdPeerName(etcdClusterOf(plan, host.name).name)] : [];
}

/** Where Patroni keeps its clusters' keys (Patroni's `namespace`): a cluster's are under `<namespace><scope>/`. */
export const PATRONI_NAMESPACE = "/service/";

/** A Patroni cluster's etcd user and role (`etcd.auth`): they read and write that cluster's keys only. */
export function etcdUserOf(scope: string): string {
    return `patroni-${scope}`;
}

/** etcd's root password on a member (`etcd.auth`): root and etcd's user only; the member's scripts give it to etcdctl in its environment. */
const ROOT_PASSWORD_FILE = "/etc/etcd/root.password";

/** The step's name among a host's steps (`<host>-converge-etcd-auth`), and in the lab's; what runs it (the script on its stdin). */
export const ETCD_AUTH_STEP = "etcd-auth";
export const ETCD_AUTH_COMMAND = "sudo python3 -";

/**
 * An etcd cluster's auth step (`etcd.auth`; render/etcd_auth.py): what `pulumi up` runs on the
 * cluster's `configuredBy` member after its members converged and before any Patroni member's
 * step: the root user, a user and role per Patroni cluster using this etcd (its keys only), auth
 * on. Only where `etcd.auth` is on (turning it off is by hand: docs/design/security.md). The
 * passwords are in the script (its stdin, secret).
 */
export function renderEtcdAuthStep(plan: DeploymentPlan, cluster: EtcdClusterPlan, secrets: { root: EtcdSecrets; database: DatabaseSecrets }) {
    const host = hostByName(plan, cluster.configuredBy);
    const clusters = plan.patroniClusters
        .filter((c) => c.etcd === cluster.name)
        .map((c) => ({ scope: c.scope, user: etcdUserOf(c.scope), role: etcdUserOf(c.scope), prefix: `${PATRONI_NAMESPACE}${c.scope}/` }));
    const settings = {
        ...memberSettings(plan, host),
        cluster: cluster.name,
        namespace: PATRONI_NAMESPACE,
        quorumWaitS: 180,
        rootPassword: secrets.root.rootPassword,
        clusters: clusters.map((c) => ({ ...c, password: secrets.database.etcdPassword })),
    };
    const script = etcdScript("etcd_auth.py", settings);
    return {
        host,
        command: ETCD_AUTH_COMMAND,
        script,
        // What it sets, then the script's hash (its passwords among it: a rotation reruns it).
        triggers: [...clusters.map((c) => `user ${c.user}: readwrite ${c.prefix}`), `script sha256:${shortHash(script)}`],
    };
}

/** What the etcd scripts know of the member they run on: its URLs, its certificate, etcd's root password file where auth is on. */
function memberSettings(plan: DeploymentPlan, host: HostPlan) {
    return {
        name: host.name,
        localUrl: `https://127.0.0.1:${plan.ports.etcdClient}`,
        caFile: `${ETCD_PKI}/ca.crt`,
        certFile: `${ETCD_PKI}/member.crt`,
        keyFile: `${ETCD_PKI}/member.key`,
        ...(plan.etcd.auth ? { rootPasswordFile: ROOT_PASSWORD_FILE } : {}),
    };
}

/** The files, service and packages of one etcd member; `secrets` where etcd's auth is on (its root password). */
export function renderEtcdMember(plan: DeploymentPlan, host: HostPlan, tls: TlsIdentity, secrets?: EtcdSecrets): RenderedHost {
    if (plan.etcd.auth && !secrets) throw new Error(`rendering ${host.name} (etcd) needs etcd's root password (etcd.auth)`);
    const cluster = etcdClusterOf(plan, host.name);
    if (!cluster.members.includes(host.name)) throw new Error(`${host.name} is not a member of an etcd cluster`);
    const peer = (name: string) => `https://${hostByName(plan, name).address}:${plan.ports.etcdPeer}`;
    const env: [string, string][] = [
        ["ETCD_NAME", host.name],
        ["ETCD_DATA_DIR", DATA_DIR],
        ["ETCD_LISTEN_PEER_URLS", peer(host.name)],
        ["ETCD_LISTEN_CLIENT_URLS", `https://${host.address}:${plan.ports.etcdClient},https://127.0.0.1:${plan.ports.etcdClient}`],
        ["ETCD_ADVERTISE_CLIENT_URLS", `https://${host.address}:${plan.ports.etcdClient}`],
        ["ETCD_INITIAL_ADVERTISE_PEER_URLS", peer(host.name)],
        ["ETCD_INITIAL_CLUSTER_TOKEN", cluster.name],
        ["ETCD_HEARTBEAT_INTERVAL", String(plan.etcd.heartbeatMs)],
        ["ETCD_ELECTION_TIMEOUT", String(plan.etcd.electionTimeoutMs)],
        ["ETCD_CERT_FILE", `${ETCD_PKI}/member.crt`],
        ["ETCD_KEY_FILE", `${ETCD_PKI}/member.key`],
        ["ETCD_TRUSTED_CA_FILE", `${ETCD_PKI}/ca.crt`],
        ["ETCD_CLIENT_CERT_AUTH", "true"],
        ["ETCD_PEER_CERT_FILE", `${ETCD_PKI}/member.crt`],
        ["ETCD_PEER_KEY_FILE", `${ETCD_PKI}/member.key`],
        ["ETCD_PEER_TRUSTED_CA_FILE", `${ETCD_PKI}/ca.crt`],
        ["ETCD_PEER_CLIENT_CERT_AUTH", "true"],
        ...(plan.etcd.checkNames ? ([["ETCD_PEER_CERT_ALLOWED_HOSTNAME", etcdPeerName(cluster.name)]] as [string, string][]) : []),
        ["ETCD_AUTO_COMPACTION_MODE", "periodic"],
        ["ETCD_AUTO_COMPACTION_RETENTION", "1h"],
    ];
    const envFile = `# etcd member ${host.name} of cluster ${cluster.name}\n` + env.map(([k, v]) => `${k}="${v}"`).join("\n") + "\n";
    // The plan's members: what a member bootstraps with on day one. A member added later joins the running cluster instead.
    const bootstrap =
        `# etcd member ${host.name}: the cluster it bootstraps with; read at its first start only (a later change needs no restart)\n` +
        `ETCD_INITIAL_CLUSTER="${cluster.members.map((m) => `${m}=${peer(m)}`).join(",")}"\n` +
        `ETCD_INITIAL_CLUSTER_STATE="new"\n`;
    const dropIn = `[Service]\n# nextcloud-ha: the cluster a new member starts with\nEnvironmentFile=-${BOOTSTRAP_ENV}\nEnvironmentFile=-${JOIN_ENV}\n`;
    const clientUrls = etcdClientUrls(plan, host.name);
    const settings = {
        ...memberSettings(plan, host),
        peerUrl: peer(host.name),
        peerUrls: Object.fromEntries(cluster.members.map((m) => [m, peer(m)])),
        clientUrls: Object.fromEntries(cluster.members.map((m, i) => [m, clientUrls[i]])),
        dataDir: DATA_DIR,
        joinEnv: JOIN_ENV,
        unit: "etcd.service",
    };
    const member = `python3 ${ETCD_MEMBER_SCRIPT}`;
    // etcdctl refuses a flag beside its environment variable (ETCDCTL_ENDPOINTS in the env file): override the variable.
    const restart = {
        kind: "restart" as const,
        healthy: `. /etc/etcd/etcdctl.env && ETCDCTL_ENDPOINTS=https://127.0.0.1:${plan.ports.etcdClient} etcdctl endpoint health`,
    };
    const etcdctl =
        `# Source this to talk to the local etcd member: . /etc/etcd/etcdctl.env\n` +
        `export ETCDCTL_API=3\n` +
        `export ETCDCTL_ENDPOINTS="${clientUrls.join(",")}"\n` +
        `export ETCDCTL_CACERT=${ETCD_PKI}/ca.crt\n` +
        `export ETCDCTL_CERT=${ETCD_PKI}/member.crt\n` +
        `export ETCDCTL_KEY=${ETCD_PKI}/member.key\n`;
    const keeper = cluster.leaders.includes(host.name) ? renderLeaderKeeper(plan, host, cluster.leaders, memberSettings(plan, host)) : undefined;
    return {
        files: [
            ...(keeper?.files ?? []),
            { path: "/etc/default/etcd", content: envFile, mode: "0644", owner: "root:root" },
            { path: BOOTSTRAP_ENV, content: bootstrap, mode: "0644", owner: "root:root", noApply: true },
            { path: "/etc/systemd/system/etcd.service.d/50-nextcloud-ha.conf", content: dropIn, mode: "0644", owner: "root:root" },
            {
                path: ETCD_MEMBER_SCRIPT,
                content: etcdScript("etcd_member.py", settings),
                mode: "0755",
                owner: "root:root",
                noApply: true,
            },
            // For operators and scripts; etcd never reads it.
            { path: "/etc/etcd/etcdctl.env", content: etcdctl, mode: "0644", owner: "root:root", noApply: true },
            { path: `${ETCD_PKI}/ca.crt`, content: tls.caCert, mode: "0644", owner: "etcd:etcd" },
            { path: `${ETCD_PKI}/member.crt`, content: tls.cert, mode: "0644", owner: "etcd:etcd" },
            { path: `${ETCD_PKI}/member.key`, content: tls.key, mode: "0600", owner: "etcd:etcd" },
            // Readable by etcd's own user too (it owns the data anyway): the leader keeper's calls may need root in later etcd releases.
            ...(secrets ? [{ path: ROOT_PASSWORD_FILE, content: `${secrets.rootPassword}\n`, mode: "0640", owner: "root:etcd", noApply: true }] : []),
        ],
        services: [
            {
                name: "etcd",
                unit: "etcd.service",
                user: "etcd",
                command: ["/usr/bin/etcd"],
                envFiles: ["/etc/default/etcd", BOOTSTRAP_ENV, JOIN_ENV],
                // One member at a time (the converge steps run in turn), each healthy before the next.
                // Day one: a member waits for its peers; one that joins a running cluster waits until it is healthy.
                startsWithoutWaiting: true,
                beforeFirstStart: `${member} join`,
                afterFirstStart: `${member} started`,
                leave: ["python3", ETCD_MEMBER_SCRIPT, "leave"],
                apply: restart,
                update: { generation: plan.packages.update, packages: ["etcd-server", "etcd-client"], then: restart },
            },
            ...(keeper?.services ?? []),
        ],
        packages: ["etcd-server", "etcd-client"],
    };
}

/**
 * The leader keeper on a member the plan lets lead (`etcd.keepLeader`, `etcd.leaders`): a
 * service beside etcd, after it, as etcd's user (it reads the member's certificate and key).
 * Its files belong to it: a change restarts the keeper, never etcd.
 */
function renderLeaderKeeper(
    plan: DeploymentPlan,
    host: HostPlan,
    leaders: string[],
    member: ReturnType<typeof memberSettings>,
): Pick<RenderedHost, "files" | "services"> {
    const settings = { ...member, leaders, holdOffS: plan.etcd.leaderHoldOffS, maxLag: LEADER_MAX_LAG, intervalS: 2 };
    const command = ["/usr/bin/python3", ETCD_LEADER_SCRIPT];
    const unit = [
        "[Unit]",
        "Description=etcd leader keeper: holds the raft leadership on this member (nextcloud-ha)",
        // Never starts etcd (a member that left must not start again); stops and restarts with it.
        "After=etcd.service",
        "PartOf=etcd.service",
        "",
        "[Service]",
        "User=etcd",
        `ExecStart=${command.join(" ")}`,
        "Restart=always",
        "RestartSec=5",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
    return {
        files: [
            {
                path: ETCD_LEADER_SCRIPT,
                content: etcdScript("etcd_leader.py", settings),
                mode: "0755",
                owner: "root:root",
                service: ETCD_LEADER_SERVICE,
            },
            { path: `/etc/systemd/system/${ETCD_LEADER_UNIT}`, content: unit, mode: "0644", owner: "root:root", service: ETCD_LEADER_SERVICE },
        ],
        services: [
            {
                name: ETCD_LEADER_SERVICE,
                unit: ETCD_LEADER_UNIT,
                user: "etcd",
                command,
                apply: { kind: "restart" },
                // When the plan drops it (etcd.keepLeader false, another leader named, the member going): stopped and off.
                leave: ["systemctl", "disable", "--now", ETCD_LEADER_UNIT],
            },
        ],
    };
}
