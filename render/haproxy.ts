/**
 * Renders HAProxy in front of a Patroni cluster: port 5000 goes to the one member whose
 * Patroni REST API answers 200 on /primary, port 5001 round-robins over the members that
 * answer 200 on /replica (within the lag limit), each checked over TLS (the member's certificate verified), and a member marked down has its sessions
 * cut so no client keeps writing to a demoted primary. Stats listen on the management
 * address only, over TLS (the host's certificate from the deployment CA) and behind a
 * password. Pure.
 */
import { DeploymentPlan, HostPlan, hostByName, patroniClusterOf } from "../plan/plan";
import { RenderedHost, TlsIdentity } from "./rendered";
import { HaproxySecrets } from "./secrets";

export const HAPROXY_CONFIG = "/etc/haproxy/haproxy.cfg";
/** The deployment CAs HAProxy's checks trust (Patroni's REST API certificates). */
export const HAPROXY_CA = "/etc/haproxy/pki/ca.crt";
/** The admin socket (root only) and the file a reload saves the servers' state to. */
const ADMIN_SOCKET = "/run/haproxy-admin.sock";
/** The host's certificate and key in one file, as HAProxy's `crt` takes them (the stats page's TLS). */
export const HAPROXY_CRT = "/etc/haproxy/pki/haproxy.pem";
/** The stats page's user; its password is the bundle's `haproxy.statsPassword`. */
export const STATS_USER = "stats";
const SERVER_STATE = "/var/lib/haproxy/server-state";

export function renderHaproxyConfig(plan: DeploymentPlan, host: HostPlan, secrets: HaproxySecrets): string {
    const cluster = patroniClusterOf(plan, host.name);
    const hp = plan.haproxy;
    const p = plan.ports;
    const servers = cluster.members
        .map((m) => hostByName(plan, m))
        // The checks over TLS to Patroni's REST API: its certificate from a deployment CA, naming the member.
        .map(
            (m) =>
                `    server ${m.name} ${m.address}:${p.postgres} maxconn 1000 check port ${p.patroniRest} check-ssl verify required ca-file ${HAPROXY_CA} verifyhost ${m.name}`,
        );
    const checks = `    default-server inter ${hp.checkIntervalMs}ms fastinter ${hp.fastCheckIntervalMs}ms downinter ${hp.fastCheckIntervalMs}ms fall ${hp.fall} rise ${hp.rise} on-marked-down shutdown-sessions`;
    return [
        `# HAProxy ${host.name} (site ${host.site}) for Patroni cluster ${cluster.scope}; rendered by nextcloud-ha`,
        "global",
        "    log stdout format raw local0 notice",
        "    maxconn 4096",
        "    user haproxy",
        "    group haproxy",
        "    chroot /var/lib/haproxy",
        // A reload's new workers start from the servers' last known state (saved just before
        // it), not with every server up until its first check: a replica never gets writes.
        `    stats socket ${ADMIN_SOCKET} mode 600 level admin`,
        `    server-state-file ${SERVER_STATE}`,
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    load-server-state-from-file global",
        "    option tcplog",
        // No retry of a refused connect: each backend has the one server that can answer (a retry
        // only delays the client's error), and HAProxy 3.0.11 (Debian 13) leaves the client hanging
        // until `timeout client` when `on-marked-down shutdown-sessions` hits a stream waiting to
        // retry (a connect refused just before the server is marked down: at HAProxy's start, or
        // at a failover). docs/TIMINGS.md "HAProxy"; tests/validation/debian13.root.test.ts.
        "    retries 0",
        "    timeout connect 4s",
        "    timeout client 30m",
        "    timeout server 30m",
        "    timeout check 2s",
        "",
        "listen stats",
        "    mode http",
        `    bind ${host.managementAddress}:${p.haproxyStats} ssl crt ${HAPROXY_CRT}`,
        "    stats enable",
        `    stats auth ${STATS_USER}:${secrets.statsPassword}`,
        '    stats realm "HAProxy stats"',
        "    stats uri /",
        "    stats refresh 5s",
        "    stats hide-version",
        "",
        "listen primary",
        `    bind *:${p.haproxyPrimary}`,
        "    option httpchk OPTIONS /primary",
        "    http-check expect status 200",
        checks,
        ...servers,
        "",
        "listen replicas",
        `    bind *:${p.haproxyReplicas}`,
        "    balance roundrobin",
        `    option httpchk OPTIONS /replica?lag=${hp.replicaMaxLag}`,
        "    http-check expect status 200",
        checks,
        ...servers,
        "",
    ].join("\n");
}

/** The files, service and packages of one HAProxy load balancer. */
export function renderHaproxy(plan: DeploymentPlan, host: HostPlan, tls: TlsIdentity, secrets: HaproxySecrets): RenderedHost {
    return {
        files: [
            // It holds the stats password; HAProxy's master reads it as root.
            { path: HAPROXY_CONFIG, content: renderHaproxyConfig(plan, host, secrets), mode: "0600", owner: "root:root" },
            // Read at start and at each reload (a CA rotation's new bundle, a renewed certificate).
            { path: HAPROXY_CA, content: tls.caCert, mode: "0644", owner: "root:root" },
            { path: HAPROXY_CRT, content: tls.cert + tls.key, mode: "0600", owner: "root:root" },
        ],
        services: [
            {
                name: "haproxy",
                unit: "haproxy.service",
                user: "root",
                command: ["/usr/sbin/haproxy", "-W", "-db", "-f", HAPROXY_CONFIG],
                // Hitless: the master starts new workers; old ones finish their sessions.
                apply: {
                    kind: "reload",
                    check: `haproxy -c -f ${HAPROXY_CONFIG}`,
                    prepare: `echo 'show servers state' | socat stdio unix-connect:${ADMIN_SOCKET} > ${SERVER_STATE}`,
                },
                // Debian's unit: master-worker mode reloads on USR2.
                reloadSignal: "USR2",
                // The reload re-executes the master, which loads the new binary: an update is hitless too.
                update: { generation: plan.packages.update, packages: ["haproxy"], then: { kind: "reload" } },
            },
        ],
        packages: ["haproxy", "socat"],
    };
}
