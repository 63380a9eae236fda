/**
 * The lab's files and app tier: what the lab adds so the app-tier roles run here. Nextcloud
 * and Docker cannot run offline, so on app hosts a probe app (probes/probe_app.py) stands in
 * for the Nextcloud container; everything else (glusterd, the volume script, the Gluster
 * mount, Redis, NGINX, keepalived) runs exactly as rendered. Services start in phases, each
 * waiting for what the next one needs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { RenderedFile, RenderedHost, ServiceSpec } from "../render/rendered";
import { APP_DATABASE, PG_CLIENT_TLS } from "../render/patroni";
import { APP_CA_FILE } from "../render/nextcloud";
import { ETCD_LEADER_SERVICE } from "../render/etcd";
import { NextcloudSecrets } from "../render/secrets";
import { DeploymentPlan, HostPlan, siteByName } from "../plan/plan";
import { unitFile } from "./bootstrap";
import { execInHost } from "./hosts";

const PROBE_APP = "/usr/local/lib/nextcloud-ha/probe_app.py";
const PROBE_CONFIG = "/etc/nextcloud-ha/lab-probe.json";

/** Start order: each phase waits for the one before (lab/services.ts). */
export const PHASES: string[][] = [
    // The leader keeper waits for every member itself (its hold-off).
    ["etcd", ETCD_LEADER_SERVICE],
    ["glusterd"],
    ["patroni", "haproxy"],
    ["gluster-mount"],
    ["gluster-data-dir"],
    ["redis"],
    ["probe-app"],
    ["nginx", "keepalived"],
];

const PROBE: ServiceSpec = {
    name: "probe-app",
    unit: "nextcloud-ha-probe-app.service",
    user: "root",
    command: ["/usr/bin/python3", "-u", PROBE_APP, PROBE_CONFIG],
    apply: { kind: "restart" },
};

/**
 * A host as the lab runs it: the rendered host with the probe app in Docker's place (its files
 * with it), and a unit file per service for the lab's systemctl; converged like every host.
 */
export function asLabHost(plan: DeploymentPlan, host: HostPlan, rendered: RenderedHost, secrets: NextcloudSecrets): RenderedHost {
    const services = rendered.services.map((s) => (s.name === "docker" ? PROBE : s));
    const files = rendered.files.map((f) => (f.service === "docker" ? { ...f, service: PROBE.name } : f));
    return { ...rendered, services, files: [...files, ...probeFiles(plan, host, secrets), ...services.map(unitFile)] };
}

/** The probe app and its config, on app hosts. */
function probeFiles(plan: DeploymentPlan, host: HostPlan, secrets: NextcloudSecrets): RenderedFile[] {
    if (!host.roles.includes("nextcloud")) return [];
    const db = siteByName(plan, host.site).database!.readWrite;
    const config = {
        host: host.name,
        port: plan.ports.nextcloud,
        dbhost: db.host,
        dbport: db.port,
        dbname: APP_DATABASE.name,
        dbuser: APP_DATABASE.role,
        dbpassword: secrets.databasePassword,
        // As Nextcloud's pgsql_ssl (render/nextcloud.ts), with the CA file the host receives.
        dbssl: { ...PG_CLIENT_TLS, sslrootcert: APP_CA_FILE },
        datadir: `${plan.gluster!.mountPoint}/data`,
    };
    return [
        {
            path: PROBE_APP,
            content: fs.readFileSync(path.join(__dirname, "probes", "probe_app.py"), "utf8"),
            mode: "0755",
            owner: "root:root",
            service: PROBE.name,
        },
        { path: PROBE_CONFIG, content: JSON.stringify(config, null, 2), mode: "0600", owner: "root:root", service: PROBE.name },
    ];
}

/** True when the Gluster volume is mounted on the app host. */
export function mounted(plan: DeploymentPlan, holderPid: number, host: string): boolean {
    return execInHost(holderPid, host, ["mountpoint", "-q", plan.gluster!.mountPoint], 10000).status === 0;
}
