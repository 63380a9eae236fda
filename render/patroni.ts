/**
 * Renders a Patroni 4.0 member running PostgreSQL 17 from Debian 13's packages: Patroni's
 * YAML, its etcd client certificate, and a postgresql-common fragment that stops the
 * package from creating a default cluster Patroni would never use. Pure but for reading the
 * scripts beside it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { Endpoint } from "../plan/addresses";
import { DeploymentPlan, haproxiesOf, HostPlan, hostByName, PatroniClusterPlan, patroniClusterOf, siteByName } from "../plan/plan";
import { etcdClientUrls, etcdUserOf, PATRONI_NAMESPACE } from "./etcd";
import { RenderedHost, TlsIdentity } from "./rendered";
import { DatabaseSecrets } from "./secrets";

export const PATRONI_CONFIG = "/etc/patroni/config.yml";
export const POST_BOOTSTRAP = "/etc/patroni/post-bootstrap.sh";
/** Run after each reload of Patroni: mends the replication password in its passfile (render/patroni_passfile.py). */
const PASSFILE_MENDER = "/usr/local/lib/nextcloud-ha/patroni-passfile.py";
/** Takes the member out of its cluster before its VM goes (render/patroni_leave.py): the service's `leave`. */
const LEAVE_SCRIPT = "/usr/local/lib/nextcloud-ha/patroni-leave.py";
/** Where Patroni keeps the passwords of its replication and rewind connections (it rewrites the file on reload). */
export const PATRONI_PGPASS = "/var/lib/postgresql/.pgpass_patroni";
/** The application's database and role, created once when the cluster bootstraps. */
export const APP_DATABASE = { name: "nextcloud", role: "nextcloud" } as const;
export const PATRONI_PKI = "/etc/patroni/pki";
/**
 * How every client of PostgreSQL connects over TCP (libpq's keywords): TLS, the server's
 * certificate from a trusted deployment CA and naming the address connected to (render/host.ts
 * `certificateNames`: a member's names every HAProxy in front of it).
 */
export const PG_CLIENT_TLS = { sslmode: "verify-full", sslrootcert: `${PATRONI_PKI}/ca.crt` } as const;
/** This member's identity: PostgreSQL's server certificate and Patroni's etcd client certificate. */
const MEMBER_CERT = `${PATRONI_PKI}/member.crt`;
const MEMBER_KEY = `${PATRONI_PKI}/member.key`;

/** Patroni's REST API over TLS (`restapi` keys); the scripts beside this file read the same keys from the member's config. */
const REST_TLS = { certfile: MEMBER_CERT, keyfile: MEMBER_KEY, cafile: `${PATRONI_PKI}/ca.crt`, verify_client: "optional" } as const;

/** Makes a running PostgreSQL read its files again (the TLS certificate); nothing when it does not run. */
const RELOAD_POSTGRES =
    "if runuser -u postgres -- pg_isready -q -h /var/run/postgresql; then runuser -u postgres -- psql -h /var/run/postgresql -XAtqc 'SELECT pg_reload_conf()' >/dev/null; fi";

/** Database role names; operators see them in pg_stat_replication and pg_hba. */
export const DB_USERS = { superuser: "postgres", replication: "replicator", rewind: "rewind_user", restApi: "patroni" } as const;

/**
 * pg_hba, per role and by /32 from the plan: peer for the local postgres OS user,
 * scram-sha-256 for the rest, over TCP only with TLS (`hostssl`). The superuser, replication
 * and pg_rewind from the cluster's members (and loopback on the member itself); the app's role
 * to its database from the HAProxy hosts in front of the cluster (HAProxy passes TCP through,
 * so PostgreSQL sees HAProxy's address; the firewall admits only the app hosts to HAProxy); in
 * two-site also replication and pg_rewind from those HAProxy hosts (the other site's standby
 * cluster follows, and rejoins, through them). Everything else is rejected.
 */
export function renderPgHba(plan: DeploymentPlan, host: HostPlan): string[] {
    const cluster = patroniClusterOf(plan, host.name);
    const cidr = (names: string[]) => [...new Set(names.map((n) => `${hostByName(plan, n).address}/32`))];
    const members = ["127.0.0.1/32", ...cidr(cluster.members)];
    const lbs = cidr(haproxiesOf(plan, cluster.scope).map((h) => h.name));
    const rule = (db: string, user: string, from: string[]) => from.map((a) => `hostssl ${db} ${user} ${a} scram-sha-256`);
    const { superuser, replication, rewind } = DB_USERS;
    return [
        "local all postgres peer",
        "local all all scram-sha-256",
        ...rule("replication", replication, members),
        ...rule("all", superuser, members),
        ...rule("all", rewind, members),
        ...rule(APP_DATABASE.name, APP_DATABASE.role, [...members, ...lbs]),
        ...(plan.topology === "two-site" ? [...rule("replication", replication, lbs), ...rule("all", rewind, lbs)] : []),
        "host all all 0.0.0.0/0 reject",
    ];
}

/** Patroni's `standby_cluster` section: follow the read-write endpoint, through the slot the primary keeps for this site. */
export function renderStandbyCluster(source: Endpoint, slot: string): Record<string, unknown> {
    return { host: source.host, port: source.port, primary_slot_name: slot, create_replica_methods: ["basebackup"] };
}

/** Patroni's config.yml for one member. */
export function renderPatroniConfig(plan: DeploymentPlan, host: HostPlan, secrets: DatabaseSecrets, standbySource?: Endpoint): string {
    const cluster = patroniClusterOf(plan, host.name);
    if (!cluster.members.includes(host.name)) throw new Error(`${host.name} is not a member of a Patroni cluster`);
    const v = plan.versions.postgres;
    const dcs: Record<string, unknown> = dynamicConfig(plan, cluster);
    if (cluster.permanentSlots.length > 0) {
        dcs.slots = Object.fromEntries(cluster.permanentSlots.map((s) => [s, { type: "physical" }]));
    }
    if (cluster.standbyOf) {
        // The primary site's read-write endpoint: from its stack's outputs, else from the plan.
        const source = standbySource ?? siteByName(plan, cluster.standbyOf.site).database!.readWrite;
        dcs.standby_cluster = renderStandbyCluster(source, cluster.standbyOf.slot);
    }
    const config = {
        scope: cluster.scope,
        namespace: PATRONI_NAMESPACE,
        name: host.name,
        log: { level: "INFO" },
        // HTTPS with the member's certificate; the unsafe methods (a switchover, PATCH /config) also
        // need a client certificate from a deployment CA (`optional`: HAProxy's checks need none) and the password.
        restapi: {
            listen: `${host.address}:${plan.ports.patroniRest}`,
            connect_address: `${host.address}:${plan.ports.patroniRest}`,
            authentication: { username: DB_USERS.restApi, password: secrets.restApiPassword },
            ...REST_TLS,
        },
        // patronictl and Patroni's calls to the other members: verify them, present this member's certificate.
        ctl: { certfile: MEMBER_CERT, keyfile: MEMBER_KEY, cacert: `${PATRONI_PKI}/ca.crt` },
        etcd3: {
            hosts: etcdClientUrls(plan, host.name).map((u) => u.replace(/^https:\/\//, "")),
            protocol: "https",
            cacert: `${PATRONI_PKI}/ca.crt`,
            cert: MEMBER_CERT,
            key: MEMBER_KEY,
            // etcd.auth: the cluster's own user, whose role reaches its keys only (render/etcd.ts `renderEtcdAuthStep`).
            ...(plan.etcd.auth ? { username: etcdUserOf(cluster.scope), password: secrets.etcdPassword } : {}),
        },
        bootstrap: {
            dcs,
            initdb: [{ encoding: "UTF8" }, { locale: "C.UTF-8" }, "data-checksums"],
            // A standby cluster copies its databases from the primary site.
            ...(cluster.standbyOf ? {} : { post_bootstrap: POST_BOOTSTRAP }),
        },
        postgresql: {
            listen: `${host.address},127.0.0.1:${plan.ports.postgres}`,
            connect_address: `${host.address}:${plan.ports.postgres}`,
            data_dir: `/var/lib/postgresql/${v}/main`,
            bin_dir: `/usr/lib/postgresql/${v}/bin`,
            pgpass: PATRONI_PGPASS,
            // Patroni's own connections (replication, the standby cluster's, pg_rewind, its superuser's over TCP) verify the server.
            authentication: {
                superuser: { username: DB_USERS.superuser, password: secrets.superuserPassword, ...PG_CLIENT_TLS },
                replication: { username: DB_USERS.replication, password: secrets.replicationPassword, ...PG_CLIENT_TLS },
                rewind: { username: DB_USERS.rewind, password: secrets.rewindPassword, ...PG_CLIENT_TLS },
            },
            // TLS settings take a reload (PostgreSQL reads the files again then too).
            parameters: { unix_socket_directories: "/var/run/postgresql", ssl: "on", ssl_cert_file: MEMBER_CERT, ssl_key_file: MEMBER_KEY },
            pg_hba: renderPgHba(plan, host),
            create_replica_methods: ["basebackup"],
            basebackup: [{ checkpoint: "fast" }],
        },
        tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
    };
    return (
        `# Patroni member ${host.name} of cluster ${cluster.scope} (site ${host.site}); rendered by nextcloud-ha\n` +
        stringify(config, { lineWidth: 0, version: "1.1" })
    );
}

/**
 * The cluster-wide (dynamic) config the plan owns: the bootstrap writes it, and on day two the
 * cluster step (render/patroniCluster.ts) sets what differs. The standby_cluster and slots keys
 * are the site commands' and the bootstrap's, never in here.
 */
export function dynamicConfig(plan: DeploymentPlan, cluster: PatroniClusterPlan): Record<string, unknown> {
    return {
        ttl: plan.patroni.ttl,
        loop_wait: plan.patroni.loopWait,
        retry_timeout: plan.patroni.retryTimeout,
        maximum_lag_on_failover: plan.patroni.maximumLagOnFailover,
        synchronous_mode: cluster.synchronousMode,
        synchronous_mode_strict: false,
        postgresql: {
            use_pg_rewind: true,
            use_slots: true,
            parameters: {
                wal_level: "replica",
                hot_standby: "on",
                wal_log_hints: "on",
                max_connections: 200,
                max_wal_senders: 10,
                max_replication_slots: 10,
                wal_keep_size: "1GB",
                // A permanent slot for a standby site that is gone keeps WAL until it returns;
                // past this much the slot is invalidated (that site then needs a fresh clone)
                // rather than the primary's disk filling up.
                max_slot_wal_keep_size: "20GB",
                password_encryption: "scram-sha-256",
                // A walsender drops a standby silent for one leader-key TTL (PostgreSQL's
                // default is 60 s): a demoted primary cut off from its standbys stops (its
                // walsenders wait for them to confirm the shutdown checkpoint) and rejoins that
                // much sooner (docs/BENCHMARKS-isolation.md).
                wal_sender_timeout: `${plan.patroni.ttl}s`,
                ...plan.patroni.parameters,
            },
        },
    };
}

/**
 * Run by Patroni once, on the member that bootstraps the cluster, with a superuser
 * connection URL as its argument (Patroni supplies the password through PGPASSFILE).
 * Idempotent, so a re-bootstrap does no harm.
 */
export function renderPostBootstrap(secrets: DatabaseSecrets): string {
    const pw = secrets.appPassword.replace(/'/g, "''");
    const { name, role } = APP_DATABASE;
    return [
        "#!/bin/sh",
        `# Creates the application's role and database (${name}); rendered by nextcloud-ha.`,
        "set -eu",
        `psql "$1" -v ON_ERROR_STOP=1 -q <<'SQL'`,
        `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} LOGIN PASSWORD '${pw}'; END IF; END $$;`,
        "SQL",
        `psql "$1" -Atc "SELECT 1 FROM pg_database WHERE datname = '${name}'" | grep -q 1 || psql "$1" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE ${name} OWNER ${role}"`,
        "",
    ].join("\n");
}

/** The files, service and packages of one Patroni member. */
export function renderPatroniMember(plan: DeploymentPlan, host: HostPlan, secrets: DatabaseSecrets, tls: TlsIdentity, standbySource?: Endpoint): RenderedHost {
    hostByName(plan, host.name);
    return {
        files: [
            {
                path: "/etc/postgresql-common/createcluster.d/50-patroni.conf",
                content: "# Patroni creates and owns the cluster; the package must not make a default one.\ncreate_main_cluster = false\n",
                mode: "0644",
                owner: "root:root",
                beforePackages: true,
            },
            { path: PATRONI_CONFIG, content: renderPatroniConfig(plan, host, secrets, standbySource), mode: "0600", owner: "postgres:postgres" },
            { path: POST_BOOTSTRAP, content: renderPostBootstrap(secrets), mode: "0700", owner: "postgres:postgres" },
            {
                path: LEAVE_SCRIPT,
                content: fs.readFileSync(path.join(__dirname, "patroni_leave.py"), "utf8").replace("@CONFIG@", PATRONI_CONFIG),
                mode: "0755",
                owner: "root:root",
            },
            {
                path: PASSFILE_MENDER,
                content: fs
                    .readFileSync(path.join(__dirname, "patroni_passfile.py"), "utf8")
                    .replace("@CONFIG@", PATRONI_CONFIG)
                    .replace("@PGPASS@", PATRONI_PGPASS),
                mode: "0755",
                owner: "root:root",
            },
            { path: `${PATRONI_PKI}/ca.crt`, content: tls.caCert, mode: "0644", owner: "postgres:postgres" },
            { path: MEMBER_CERT, content: tls.cert, mode: "0644", owner: "postgres:postgres" },
            { path: MEMBER_KEY, content: tls.key, mode: "0600", owner: "postgres:postgres" },
        ],
        services: [
            {
                name: "patroni",
                unit: "patroni.service",
                user: "postgres",
                command: ["/usr/bin/patroni", PATRONI_CONFIG],
                replaces: ["postgresql.service"],
                // Patroni re-reads its local config on SIGHUP; the cluster-wide (dynamic) part is not in this file's reach.
                // PostgreSQL reloads when Patroni's config changed; a renewed certificate alone takes its own reload.
                apply: { kind: "reload", after: `python3 ${PASSFILE_MENDER} && ${RELOAD_POSTGRES}` },
                startsWithoutWaiting: true,
                // No secret in it: it reads the local config.
                leave: ["python3", LEAVE_SCRIPT],
                // New PostgreSQL and Patroni binaries take a restart of the member: a leader hands over first (the same script).
                update: {
                    generation: plan.packages.update,
                    packages: [`postgresql-${plan.versions.postgres}`, `postgresql-client-${plan.versions.postgres}`, "patroni", "python3-etcd"],
                    then: { kind: "run", command: `python3 ${LEAVE_SCRIPT} --restart` },
                },
            },
        ],
        packages: ["patroni", "python3-etcd", `postgresql-${plan.versions.postgres}`],
    };
}
