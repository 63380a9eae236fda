/**
 * The cluster step of a Patroni cluster: what `pulumi up` runs on the cluster's `configuredBy`
 * member (`sudo -u postgres python3 -`, the script on stdin) after its converge steps: the
 * cluster-wide config set to the plan's (one PATCH of what differs), then the restarts it needs,
 * rolled one member at a time, replicas first, the primary through a switchover behind lag and
 * long-transaction gates (render/patroni_cluster.py). Its triggers are the settings themselves,
 * so a preview shows `postgresql.parameters.max_connections: 200` changing, on which member.
 * Pure but for reading the script beside it.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DeploymentPlan, hostByName, HostPlan, PatroniClusterPlan } from "../plan/plan";
import { dynamicConfig, PATRONI_CONFIG } from "./patroni";

/** How the rolling restart waits: a member back (s), a gate open (s), what a long transaction is (s). */
export const ROLLING = { memberSeconds: 300, gateSeconds: 120, longTransactionSeconds: 15 };

export interface ClusterStep {
    host: HostPlan;
    /** The command the step runs; the script goes on its stdin. */
    command: string;
    script: string;
    triggers: string[];
}

/** Dotted `key: value` lines of a nested object, sorted: what a preview shows. */
function flatten(value: Record<string, unknown>, prefix = ""): string[] {
    return Object.entries(value)
        .flatMap(([k, v]) =>
            v !== null && typeof v === "object" && !Array.isArray(v)
                ? flatten(v as Record<string, unknown>, `${prefix}${k}.`)
                : [`${prefix}${k}: ${JSON.stringify(v)}`],
        )
        .sort();
}

export function renderClusterStep(plan: DeploymentPlan, cluster: PatroniClusterPlan): ClusterStep {
    const dynamic = dynamicConfig(plan, cluster);
    const settings = {
        scope: cluster.scope,
        config: PATRONI_CONFIG,
        port: plan.ports.postgres,
        maxLagBytes: plan.patroni.maximumLagOnFailover,
        ...ROLLING,
        dynamic,
    };
    const script =
        `import json\nSETTINGS = json.loads(${JSON.stringify(JSON.stringify(settings))})\n` +
        fs.readFileSync(path.join(__dirname, "patroni_cluster.py"), "utf8");
    return {
        host: hostByName(plan, cluster.configuredBy),
        command: "sudo -u postgres python3 -",
        script,
        triggers: [
            ...flatten(dynamic),
            `rolling: ${JSON.stringify(ROLLING)}`,
            `script sha256:${createHash("sha256").update(script).digest("hex").slice(0, 16)}`,
        ],
    };
}
