/**
 * Renders the GlusterFS side of the plan: glusterd on brick hosts, the idempotent script
 * that probes the peers and creates the `replica 2 arbiter 1` volume with the options the
 * Gluster docs give for quorum and small-file web workloads, and the FUSE mount unit with
 * backup volfile servers for the app hosts. Pure.
 */
import { DeploymentPlan, GlusterPlan, HostPlan, hostByName, VOLUME_CLIENT_ROLES } from "../plan/plan";
import { ApplyRule, RenderedHost, TlsIdentity } from "./rendered";

/** Volume options: client and server quorum, then the metadata-cache/nl-cache small-file tuning. */
export const VOLUME_OPTIONS: [string, string][] = [
    ["cluster.quorum-type", "auto"],
    ["cluster.server-quorum-type", "server"],
    ["group", "metadata-cache"],
    ["group", "nl-cache"],
    ["performance.readdir-ahead", "on"],
    ["performance.parallel-readdir", "on"],
    ["network.inode-lru-limit", "200000"],
];

function requireGluster(plan: DeploymentPlan): GlusterPlan {
    if (!plan.gluster) throw new Error("the plan has no Gluster volume");
    return plan.gluster;
}

/** `address:path` of every brick, in volume order (data bricks, then the arbiter). */
export function brickSpecs(plan: DeploymentPlan): string[] {
    return requireGluster(plan).bricks.map((b) => `${hostByName(plan, b.host).address}:${b.path}`);
}

/**
 * Who may connect to the volume's bricks: the brick hosts (their self-heal daemons, `heal info`)
 * and the app hosts that mount it; no other VM of any site. By address (`auth.allow`) and by
 * their certificates' common names (`auth.ssl-allow`, the host names: render/host.ts
 * certificateNames).
 */
export function volumeClients(plan: DeploymentPlan): HostPlan[] {
    const g = requireGluster(plan);
    const names = [...g.bricks.map((b) => b.host), ...plan.hosts.filter((h) => h.roles.some((r) => VOLUME_CLIENT_ROLES.includes(r))).map((h) => h.name)];
    return [...new Set(names)].map((n) => hostByName(plan, n));
}

/** True when the host speaks to the volume: a brick host or an app host (its TLS files, render/host.ts). */
export function usesVolume(plan: DeploymentPlan, host: HostPlan): boolean {
    return plan.gluster !== undefined && volumeClients(plan).some((h) => h.name === host.name);
}

/** Where GlusterFS 11 reads its TLS identity and trusted CAs (fixed paths), and the file that turns on TLS for glusterd's management port. */
export const GLUSTER_TLS = {
    cert: "/etc/ssl/glusterfs.pem",
    key: "/etc/ssl/glusterfs.key",
    ca: "/etc/ssl/glusterfs.ca",
    secureAccess: "/var/lib/glusterd/secure-access",
};

/**
 * The host's identity where GlusterFS looks for it, and management TLS on (`secure-access`,
 * on servers and clients alike: a client fetches its volfile from glusterd). Read when a
 * connection starts (I/O) and when glusterd or the mount starts (management): a renewed
 * certificate is taken at the next reconnect, nothing restarts for it. The volume's I/O TLS is
 * its options (the volume script).
 */
export function renderGlusterTls(plan: DeploymentPlan, host: HostPlan, tls: TlsIdentity): RenderedHost {
    const service = requireGluster(plan).bricks.some((b) => b.host === host.name) ? "glusterd" : "gluster-mount";
    return {
        files: [
            { path: GLUSTER_TLS.cert, content: tls.cert, mode: "0644", owner: "root:root", service },
            { path: GLUSTER_TLS.key, content: tls.key, mode: "0600", owner: "root:root", service },
            { path: GLUSTER_TLS.ca, content: tls.caCert, mode: "0644", owner: "root:root", service },
            // The deployment CA signs each host's certificate directly: a chain of one.
            { path: GLUSTER_TLS.secureAccess, content: "option transport.socket.ssl-cert-depth 1\n", mode: "0644", owner: "root:root", service },
        ],
        services: [],
        packages: [],
    };
}

/**
 * The script that creates the volume, run on the volume's creator. Idempotent:
 * waits (bounded) for every peer, probes only missing peers, creates and starts the
 * volume only when absent, and sets options every time (setting an option is idempotent).
 */
export function renderVolumeScript(plan: DeploymentPlan, runsOn: HostPlan): string {
    const g = requireGluster(plan);
    const peers = g.bricks.map((b) => hostByName(plan, b.host)).filter((h) => h.name !== runsOn.name);
    const clients = volumeClients(plan);
    return [
        "#!/bin/sh",
        `# Creates GlusterFS volume ${g.volume} (replica 2 arbiter 1) once every peer is up; safe to re-run.`,
        "set -eu",
        ...peers.flatMap((p) => [
            `i=0; until gluster peer probe ${p.address} >/dev/null 2>&1; do`,
            `  i=$((i+1)); [ "$i" -lt 120 ] || { echo "peer ${p.name} (${p.address}) not reachable after 10 minutes" >&2; exit 1; }; sleep 5`,
            "done",
        ]),
        `i=0; until [ "$(gluster pool list | grep -c Connected)" -ge ${g.bricks.length} ]; do i=$((i+1)); [ "$i" -lt 60 ] || { gluster pool list >&2; exit 1; }; sleep 2; done`,
        `if ! gluster volume info ${g.volume} >/dev/null 2>&1; then`,
        `  gluster --mode=script volume create ${g.volume} replica 2 arbiter 1 ${brickSpecs(plan).join(" ")}`,
        "fi",
        ...[
            ...VOLUME_OPTIONS,
            ["auth.allow", clients.map((h) => h.address).join(",")],
            // I/O over TLS both ways, and only these hosts' certificates (their common names).
            ["client.ssl", "on"],
            ["server.ssl", "on"],
            ["auth.ssl-allow", clients.map((h) => h.name).join(",")],
        ].map(([k, v]) => `gluster --mode=script volume set ${g.volume} ${k} ${v}`),
        `gluster volume info ${g.volume} | grep -q '^Status: Started' || gluster --mode=script volume start ${g.volume}`,
        `gluster volume info ${g.volume}`,
        "",
    ].join("\n");
}

/**
 * What takes new GlusterFS binaries into use on a brick host, as Gluster's rolling upgrade does:
 * glusterd, this host's brick process and self-heal daemon stopped (only this host's: `pkill
 * --ns` keeps to its network namespace, which on a VM is all of it, and the app's FUSE mount is
 * another process), glusterd started (it starts the brick and the daemon again), then every
 * brick connected and nothing left to heal before the next brick host's step. The volume keeps
 * serving from the other data brick and the arbiter meanwhile.
 */
function brickRestart(volume: string): ApplyRule {
    const mine = (pattern: string) => `pkill --ns $$ --nslist net -TERM -f '${pattern}'`;
    return {
        kind: "run",
        // One command a line: the converge script's `set -e` stops at the first that fails.
        command: [
            "systemctl stop glusterd.service",
            `${mine("^/usr/sbin/glusterfsd ")} || true`,
            `${mine(`volfile-id shd/${volume} `)} || true`,
            // Bounded: the brick flushes and exits within seconds; one still running would keep the old binary.
            `i=0; while pgrep --ns $$ --nslist net -f '^/usr/sbin/glusterfsd ' >/dev/null && [ "$i" -lt 30 ]; do i=$((i+1)); sleep 1; done`,
            `! pgrep --ns $$ --nslist net -f '^/usr/sbin/glusterfsd ' >/dev/null || { echo 'glusterfsd still runs 30 s after SIGTERM; glusterd stays stopped' >&2; exit 1; }`,
            "systemctl start glusterd.service",
        ].join("\n"),
        // Every brick connected, no entry left to heal.
        healthy: `out=$(gluster volume heal ${volume} info) && ! echo "$out" | grep -q '^Status: [^C]' && ! echo "$out" | grep '^Number of entries:' | grep -vq ': 0$'`,
    };
}

/** glusterd on a brick host, with its brick directory (the volume script goes to the creator with the command that runs it). */
export function renderGlusterBrick(plan: DeploymentPlan, host: HostPlan): RenderedHost {
    const g = requireGluster(plan);
    const brick = g.bricks.find((b) => b.host === host.name);
    if (!brick) throw new Error(`${host.name} holds no brick of ${g.volume}`);
    return {
        files: [
            // Beside the brick, not in it (glusterd creates the brick directory itself).
            {
                path: `${g.brickMount}/${g.volume}/README.nextcloud-ha`,
                content: `${brick.path}: ${brick.arbiter ? "arbiter" : "data"} brick of volume ${g.volume} on ${host.name}\n`,
                mode: "0644",
                owner: "root:root",
            },
        ],
        services: [
            {
                name: "glusterd",
                unit: "glusterd.service",
                user: "root",
                command: ["/usr/sbin/glusterd", "-N", "-p", "/run/glusterd.pid", "--log-level", "INFO"],
                apply: { kind: "none" },
                update: { generation: plan.packages.update, packages: ["glusterfs-server"], then: brickRestart(g.volume) },
            },
        ],
        packages: ["glusterfs-server", "xfsprogs"],
    };
}

const DATA_DIR_UNIT = "nextcloud-ha-data-dir.service";

/** Nextcloud's data directory on the volume, owned by www-data (uid 33 on Debian and in the image). */
function dataDirCommand(g: GlusterPlan): string[] {
    return ["/usr/bin/install", "-d", "-o", "33", "-g", "33", "-m", "0770", `${g.mountPoint}/data`];
}

/** The FUSE mount of the volume on an app host, falling back to the other bricks' servers. */
export function renderGlusterMount(plan: DeploymentPlan): RenderedHost {
    const g = requireGluster(plan);
    const servers = g.bricks.map((b) => hostByName(plan, b.host).address);
    const unit = g.mountPoint.replace(/^\//, "").replace(/\//g, "-") + ".mount";
    return {
        files: [
            {
                path: `/etc/systemd/system/${unit}`,
                content: [
                    "[Unit]",
                    `Description=GlusterFS volume ${g.volume} (nextcloud-ha)`,
                    "Wants=network-online.target",
                    "After=network-online.target",
                    "",
                    "[Mount]",
                    `What=${servers[0]}:/${g.volume}`,
                    `Where=${g.mountPoint}`,
                    "Type=glusterfs",
                    `Options=defaults,_netdev,backup-volfile-servers=${servers.slice(1).join(":")}`,
                    "",
                    "[Install]",
                    "WantedBy=remote-fs.target",
                    "",
                ].join("\n"),
                mode: "0644",
                owner: "root:root",
            },
            {
                path: `/etc/systemd/system/${DATA_DIR_UNIT}`,
                service: "gluster-data-dir",
                content: [
                    "[Unit]",
                    "Description=Nextcloud's data directory on the Gluster volume (nextcloud-ha)",
                    `Requires=${unit}`,
                    `After=${unit}`,
                    "",
                    "[Service]",
                    "Type=oneshot",
                    `ExecStart=${dataDirCommand(g).join(" ")}`,
                    "RemainAfterExit=yes",
                    "",
                    "[Install]",
                    "WantedBy=multi-user.target",
                    "",
                ].join("\n"),
                mode: "0644",
                owner: "root:root",
            },
        ],
        services: [
            {
                name: "gluster-mount",
                unit,
                user: "root",
                // What the mount unit does: systemd creates Where= first.
                command: [
                    "/bin/sh",
                    "-c",
                    `mkdir -p ${g.mountPoint} && exec /usr/sbin/mount.glusterfs ${servers[0]}:/${g.volume} ${g.mountPoint} -o backup-volfile-servers=${servers.slice(1).join(":")}`,
                ],
                // Remounting would cut the app off its files: a changed unit takes effect at the next boot.
                apply: { kind: "none" },
                oneshot: true,
                // The volume may not exist yet (the last brick site's stack creates it): the step then fails and runs again at the next `pulumi up`.
                startFailure: `Gluster volume ${g.volume} is not there yet: deploy ${hostByName(plan, g.creator).site}'s stack (it creates the volume), then this stack again`,
            },
            { name: "gluster-data-dir", unit: DATA_DIR_UNIT, user: "root", command: dataDirCommand(g), apply: { kind: "none" }, oneshot: true },
        ],
        packages: ["glusterfs-client"],
    };
}
