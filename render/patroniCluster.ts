/**
 * The cluster step of a Patroni cluster: what `pulumi up` runs on the cluster's `configuredBy`
 * member (`sudo -u postgres python3 -`, the script on stdin) after its converge steps: the
 * cluster-wide config set to the plan's (one PATCH of what differs), then the restarts it needs,
 * rolled one member at a time, replicas first, the primary through a switchover behind lag and
 * long-transaction gates (render/patroni_cluster.py). Its triggers are the settings themselves,
 * so a preview shows `postgresql.parameters.max_connections: 200` changing, on which member.
 * Pure but for reading the script beside it.
 */
import { shortHash } from "./hash";
import * as fs from "node:fs";
import * as path from "node:path";
import { PasswordRole } from "../plan/config";
import { DeploymentPlan, hostByName, HostPlan, PatroniClusterPlan } from "../plan/plan";
import { APP_DATABASE, DB_USERS, dynamicConfig, PATRONI_CONFIG } from "./patroni";
import { DatabaseSecrets, ROTATED_SECRET } from "./secrets";

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

/** A step's script: its settings, then what the steps share, then its own part (files beside this one). */
function pythonScript(settings: Record<string, unknown>, part: string): string {
    const read = (file: string) => fs.readFileSync(path.join(__dirname, file), "utf8");
    return `import json\nSETTINGS = json.loads(${JSON.stringify(JSON.stringify(settings))})\n` + read("patroni_common.py") + read(part);
}

export function renderClusterStep(plan: DeploymentPlan, cluster: PatroniClusterPlan): ClusterStep {
    const dynamic = dynamicConfig(plan, cluster);
    const settings = {
        scope: cluster.scope,
        step: "cluster step",
        members: cluster.members,
        config: PATRONI_CONFIG,
        port: plan.ports.postgres,
        maxLagBytes: plan.patroni.maximumLagOnFailover,
        ...ROLLING,
        dynamic,
    };
    const script = pythonScript(settings, "patroni_cluster.py");
    return {
        host: hostByName(plan, cluster.configuredBy),
        command: "sudo -u postgres python3 -",
        script,
        triggers: [...flatten(dynamic), `rolling: ${JSON.stringify(ROLLING)}`, `script sha256:${shortHash(script)}`],
    };
}

/** The roles step's name among a host's steps (`<host>-converge-patroni-roles`), and in the lab's. */
export const ROLES_STEP = "patroni-roles";

/** The database roles whose passwords the plan rotates (`passwords.rotation`), with the secret behind each; the REST password is no role. */
const ROLE_OF: Partial<Record<PasswordRole, string>> = {
    superuser: DB_USERS.superuser,
    replication: DB_USERS.replication,
    rewind: DB_USERS.rewind,
    app: APP_DATABASE.role,
};

/**
 * The roles step of a Patroni cluster: what `pulumi up` runs on the cluster's `configuredBy`
 * member BEFORE the converge steps of its members and of the app (render/patroni_roles.py): each
 * role's password set on the primary to the plan's, where it differs. Its triggers are the
 * rotation generations (`passwords.rotation.replication: 1`), never a password or a hash of one.
 */
export function renderRolesStep(plan: DeploymentPlan, cluster: PatroniClusterPlan, secrets: DatabaseSecrets): ClusterStep {
    const roles = (Object.entries(ROLE_OF) as [PasswordRole, string][]).map(([name, role]) => ({ name, role }));
    const settingsWith = (password: (name: PasswordRole) => string) => ({
        scope: cluster.scope,
        step: "roles step",
        config: PATRONI_CONFIG,
        port: plan.ports.postgres,
        memberSeconds: ROLLING.memberSeconds,
        gateSeconds: ROLLING.gateSeconds,
        standby: cluster.standbyOf !== undefined,
        roles: roles.map((r) => ({ role: r.role, password: password(r.name) })),
    });
    const script = pythonScript(
        settingsWith((name) => secrets[ROTATED_SECRET[name] as keyof DatabaseSecrets]),
        "patroni_roles.py",
    );
    return {
        host: hostByName(plan, cluster.configuredBy),
        command: "sudo -u postgres python3 -",
        script,
        triggers: [
            ...roles.map((r) => `passwords.rotation.${r.name}: ${plan.passwords.rotation[r.name]}`),
            // The code's hash, without the passwords.
            `script sha256:${shortHash(
                pythonScript(
                    settingsWith(() => ""),
                    "patroni_roles.py",
                ),
            )}`,
        ],
    };
}
