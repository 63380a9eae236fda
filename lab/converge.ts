/**
 * The lab runs what `pulumi up` runs: each host's converge steps (render/converge.ts) over SSH
 * as the stacks' sshUser with sudo, the script on stdin, a service across its hosts one host at
 * a time; the Gluster volume script on its creator likewise. It keeps each step's triggers, as
 * Pulumi keeps them in its state, so `lab apply` runs only the steps whose triggers changed and
 * `lab apply --dry-run` shows them as a preview does: the host, the step, the file.
 */
import { shortHash } from "../render/hash";
import { remoteTransport } from "../ops/remote";
import { SiteTransport } from "../ops/siteMove";
import { DeploymentPlan, hostByName, HostPlan } from "../plan/plan";
import { renderConverge } from "../render/converge";
import { ETCD_AUTH_STEP, renderEtcdAuthStep } from "../render/etcd";
import { renderVolumeScript } from "../render/gluster";
import { ClusterStep, renderClusterStep, renderRolesStep, ROLES_STEP } from "../render/patroniCluster";
import { certificateNames, needsTls, renderHost } from "../render/host";
import { RenderedHost } from "../render/rendered";
import { asLabHost, PHASES } from "./appTier";
import { sshOptions } from "./bootstrap";
import { issueIdentity, labCertificate } from "./pki";
import { labSecrets } from "./secrets";
import { LabError, progress } from "./sh";
import { LabState, PKI_DIR, saveState } from "./state";

/** The site commands' transport (ops/remote.ts) with the lab's key and pinned host keys: Patroni's REST API, commands over SSH. */
export function labTransport(state: LabState): SiteTransport {
    return remoteTransport(state.sshUser, sshOptions());
}

/** A host's files and services as the lab deploys them: the renderers' output with the lab's secrets and certificates. */
export function labHost(plan: DeploymentPlan, host: HostPlan): RenderedHost {
    const secrets = labSecrets();
    const tls = needsTls(host) ? issueIdentity(PKI_DIR, certificateNames(plan, host), plan.certificates) : undefined;
    const certificate = host.roles.includes("nginx") ? labCertificate(PKI_DIR, plan.nextcloud.domain) : undefined;
    return asLabHost(plan, host, renderHost(plan, host, { secrets, tls, certificate }), secrets.nextcloud);
}

/** One remote step: its key (`host/service`, or `volume`), where it runs, its script and its triggers. */
export interface Step {
    key: string;
    host: HostPlan;
    service: string;
    script: string;
    triggers: string[];
    /** What runs the script (default `sudo sh -s`): the cluster step is `sudo -u postgres python3 -`. */
    user?: string;
    argv?: string[];
}

/** The pseudo-service of a Patroni cluster's step (render/patroniCluster.ts). */
export const CLUSTER_STEP = "patroni-cluster";

/** The Gluster volume step: its script on the creator, run again when the script changes (it sets the options idempotently). */
function volumeStep(plan: DeploymentPlan): Step {
    const creator = hostByName(plan, plan.gluster!.creator);
    const script = renderVolumeScript(plan, creator);
    return { key: "volume", host: creator, service: "volume", script, triggers: [`script sha256:${shortHash(script)}`] };
}

/** A Patroni cluster's step (`sudo -u postgres python3 -`, as the program runs it). */
function pythonStep(key: string, service: string, s: ClusterStep): Step {
    return { key, host: s.host, service, script: s.script, triggers: s.triggers, user: "postgres", argv: ["python3", "-"] };
}

/** The steps of the given services on the given hosts, in the order `pulumi up` runs them: phase by phase, a service across its hosts in turn. */
export function stepsOf(plan: DeploymentPlan, hosts: HostPlan[] = plan.hosts, services?: string[]): Step[] {
    const units = hosts.flatMap((h) => renderConverge(h, labHost(plan, h)).map((u) => ({ ...u, host: h })));
    const steps: Step[] = [];
    for (const phase of PHASES)
        for (const service of phase) {
            // A password changes on the primary before any file holding it: the roles step goes first (on day one it finds nothing to do).
            if (service === "patroni" && (!services || services.includes("patroni") || services.includes(ROLES_STEP)))
                for (const c of plan.patroniClusters.filter((x) => !x.standbyOf && hosts.some((h) => h.name === x.configuredBy)))
                    steps.push(pythonStep(`roles/${c.scope}`, ROLES_STEP, renderRolesStep(plan, c, labSecrets().database)));
            if (!services || services.includes(service))
                for (const u of units.filter((x) => x.service === service))
                    steps.push({ key: `${u.host.name}/${service}`, host: u.host, service, script: u.script, triggers: u.triggers });
            // etcd's users and auth (etcd.auth), after its members, before any Patroni member.
            if (service === "etcd" && plan.etcd.auth && (!services || services.includes(ETCD_AUTH_STEP)))
                for (const c of plan.etcdClusters.filter((x) => hosts.some((h) => h.name === x.configuredBy))) {
                    const { etcd, database } = labSecrets();
                    const s = renderEtcdAuthStep(plan, c, { root: etcd, database });
                    steps.push({
                        key: `${ETCD_AUTH_STEP}/${c.name}`,
                        host: s.host,
                        service: ETCD_AUTH_STEP,
                        script: s.script,
                        triggers: s.triggers,
                        argv: ["python3", "-"],
                    });
                }
            if (service === "glusterd" && plan.gluster && (!services || services.includes("volume"))) steps.push(volumeStep(plan));
            if (service === "patroni" && (!services || services.includes(CLUSTER_STEP)))
                for (const c of plan.patroniClusters.filter((x) => hosts.some((h) => h.name === x.configuredBy)))
                    steps.push(pythonStep(`cluster/${c.scope}`, CLUSTER_STEP, renderClusterStep(plan, c)));
        }
    return steps;
}

/** Runs steps in order over SSH; the first that fails stops the rollout with what was applied and what was not. */
export async function runSteps(state: LabState, steps: Step[], say = progress): Promise<void> {
    const t = labTransport(state);
    const done: string[] = [];
    for (const [i, step] of steps.entries()) {
        const r = await t.run(step.host, step.argv ?? ["sh", "-s"], { stdin: step.script, timeoutMs: 900000, user: step.user });
        if (r.status !== 0) {
            // What it left behind is unknown now (Pulumi keeps a failed step pending): the next apply runs it whatever the triggers.
            delete state.applied[step.key];
            saveState(state);
            const why = (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ");
            const untouched = steps.slice(i + 1).map((s) => s.key);
            throw new LabError(
                `step ${step.key} failed (exit ${r.status}): ${why}; applied before it: ${done.join(", ") || "nothing"}; not run: ${untouched.join(", ") || "nothing"}`,
            );
        }
        state.applied[step.key] = step.triggers;
        saveState(state);
        done.push(step.key);
        // What the step said, as Pulumi shows a command's output: its lines but the per-file ones, counted instead.
        const lines = r.stdout
            .trim()
            .split("\n")
            .filter((l) => l.trim());
        const changed = lines.filter((l) => l.startsWith("changed ")).length;
        const told = lines.filter((l) => !l.startsWith("changed "));
        for (const [j, l] of (told.length ? told : ["done"]).entries())
            say(`${step.key}: ${l}${j === told.length - 1 && changed ? ` (${changed} files)` : ""}`);
    }
}

/** What a step would change, as a preview shows it: `+`/`-` trigger lines (a file's path, mode, owner and hash; never its content). */
export function diffOf(before: string[] | undefined, after: string[]): string[] {
    if (!before) return after.map((l) => `+ ${l}`);
    return [...before.filter((l) => !after.includes(l)).map((l) => `- ${l}`), ...after.filter((l) => !before.includes(l)).map((l) => `+ ${l}`)];
}

/** The steps whose triggers differ from what was last applied. */
export function pendingSteps(state: LabState, plan: DeploymentPlan): Step[] {
    return stepsOf(plan).filter((s) => diffOf(state.applied[s.key], s.triggers).length > 0);
}

/** Starts what a step list's first run starts (`lab up`): the same steps, recorded as applied. */
export async function converge(state: LabState, hosts: HostPlan[], services: string[], say = progress): Promise<void> {
    await runSteps(state, stepsOf(state.plan, hosts, services), say);
}
