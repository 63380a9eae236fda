/**
 * The lab's files and app tier: what the lab adds so the app-tier roles run here. Nextcloud
 * and Docker cannot run offline, so on app hosts a probe app (probes/probe_app.py) stands in
 * for the Nextcloud container; everything else (glusterd, the volume script, the Gluster
 * mount, NGINX, keepalived) runs exactly as rendered. Services start in phases, each
 * waiting for what the next one needs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { RenderedFile, ServiceSpec } from "../render/rendered";
import { renderVolumeScript } from "../render/gluster";
import { APP_DATABASE } from "../render/patroni";
import { NextcloudSecrets } from "../render/secrets";
import { DeploymentPlan, hostByName, HostPlan, siteByName } from "../plan/plan";
import { execInHost } from "./hosts";

const PROBE_APP = "/usr/local/lib/nextcloud-ha/probe_app.py";
const PROBE_CONFIG = "/etc/nextcloud-ha/lab-probe.json";

/** Start order: each phase waits for the one before (lab/services.ts). */
export const PHASES: string[][] = [
    ["etcd"],
    ["glusterd"],
    ["patroni", "haproxy"],
    ["gluster-mount"],
    ["gluster-data-dir"],
    ["probe-app"],
    ["nginx", "keepalived"],
];

/** The services the lab runs for a host: the rendered ones, with the probe app in Docker's place. */
export function labServices(host: HostPlan, specs: ServiceSpec[]): ServiceSpec[] {
    return specs.map((s) =>
        s.name === "docker"
            ? { name: "probe-app", unit: "(lab only)", user: "root", command: ["/usr/bin/python3", "-u", PROBE_APP, PROBE_CONFIG], apply: { kind: "none" } }
            : s,
    );
}

/** Files only the lab adds: the probe app and its config on app hosts. */
export function labExtraFiles(plan: DeploymentPlan, host: HostPlan, secrets: NextcloudSecrets): RenderedFile[] {
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
        datadir: `${plan.gluster!.mountPoint}/data`,
    };
    return [
        { path: PROBE_APP, content: fs.readFileSync(path.join(__dirname, "probes", "probe_app.py"), "utf8"), mode: "0755", owner: "root:root" },
        { path: PROBE_CONFIG, content: JSON.stringify(config, null, 2), mode: "0600", owner: "root:root" },
    ];
}

/** Runs the rendered volume script on the volume's creator (it waits for its peers). */
export function createVolume(plan: DeploymentPlan, holders: Record<string, number>): string {
    const g = plan.gluster!;
    const creator = hostByName(plan, g.creator);
    // On stdin, as the Pulumi program runs it: the script as rendered now, never a stale copy on the host.
    const r = execInHost(holders[creator.name], creator.name, ["sh", "-s"], 600000, { input: renderVolumeScript(plan, creator) });
    if (r.status !== 0)
        throw new Error(`creating Gluster volume ${g.volume} on ${creator.name} failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
    return creator.name;
}

/** True when the Gluster volume is mounted on the app host. */
export function mounted(plan: DeploymentPlan, holderPid: number, host: string): boolean {
    return execInHost(holderPid, host, ["mountpoint", "-q", plan.gluster!.mountPoint], 10000).status === 0;
}
