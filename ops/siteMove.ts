/**
 * Moving the primary between the two sites of a two-site deployment: what an operator would
 * do by hand, as one guarded command each (ops/promote.ts, ops/rejoin.ts, the Gluster steps in
 * ops/gluster.ts). This file holds what they share: the transport every step goes through (the
 * VMs' HTTP and SSH, ops/remote.ts, or the lab's, lab/siteOps.ts), the errors and their exit
 * codes, the reports, and the reads of each site's Patroni cluster. No Pulumi here.
 */
import { DeploymentPlan, hostByName, HostPlan, hostsOf, PatroniClusterPlan, siteByName, standbySlot } from "../plan/plan";
import { renderStandbyCluster } from "../render/patroni";
import { HttpAnswer } from "./http";

export interface CommandResult {
    status: number;
    stdout: string;
    stderr: string;
}

export interface SiteTransport {
    /** Patroni's REST API on a member; undefined when it does not answer. PATCH carries the REST password. */
    patroni(host: HostPlan, method: "GET" | "PATCH", path: string, body?: unknown): Promise<HttpAnswer | undefined>;
    /** True when something accepts a TCP connection there. */
    tcpOpen(address: string, port: number): Promise<boolean>;
    /** Runs a command on a host (as root unless a user is given); a non-zero exit is a result, not an error. */
    run(host: HostPlan, argv: string[], opts?: { user?: string; stdin?: string; timeoutMs?: number }): Promise<CommandResult>;
}

/** A refusal, or a step that failed before anything was changed; the message says what to do. The CLI exits 2. */
export class SiteMoveError extends Error {}

/**
 * A step that failed after others had changed the deployment: the message says what was
 * already done, and how to finish or undo it. The CLI exits 3.
 */
export class PartialMoveError extends Error {
    constructor(
        readonly done: string[],
        failure: string,
        next: string,
    ) {
        super(`${failure}; already done: ${done.join("; ")}. ${next}`);
    }
}

/** Runs the steps that change the deployment; a failure once one of them has changed something is a PartialMoveError. */
export async function changing<T>(done: string[], next: string, steps: () => Promise<T>): Promise<T> {
    try {
        return await steps();
    } catch (e) {
        if (done.length === 0 || e instanceof PartialMoveError) throw e;
        throw new PartialMoveError(done, (e as Error).message.replace(/\.$/, ""), next);
    }
}

export interface MoveOptions {
    /** Sites the operator confirms are fenced: they cannot reach clients or the other site's data. */
    confirmFenced?: string[];
    /** promote only: the other site is healthy; demote it first and lose nothing. */
    planned?: boolean;
    /** Say what would be done, change nothing. */
    dryRun?: boolean;
    /** Bound of each wait (default 120 s). */
    waitMs?: number;
    say?: (line: string) => void;
}

export interface Member {
    name: string;
    role: string;
    state: string;
}

export interface PromoteReport {
    site: string;
    /** The site's cluster was the primary already; nothing was changed in Patroni. */
    alreadyPrimary: boolean;
    /** What still answered on the other site (empty when it was silent). */
    otherSiteAnswering: string[];
    /** The new primary member. */
    leader?: string;
    /** How far the standby had replayed when it was promoted (Patroni's replayed_timestamp). */
    replayedUntil?: string;
    glusterQuorumLifted: boolean;
    dns?: { name: string; type: "A"; values: string[] };
}

export interface RejoinReport {
    site: string;
    following: string;
    /** How the config reached the site's DCS: Patroni's REST API, or patronictl while Patroni is stopped. */
    via: "rest" | "patronictl";
    /** True once the site's members stream from the active site (false when Patroni is not running there yet). */
    streaming: boolean;
    glusterQuorum: "restored" | "left lifted" | "was not lifted" | "no volume";
}

export function clusterOfSite(plan: DeploymentPlan, site: string): PatroniClusterPlan {
    const c = plan.patroniClusters.find((x) => x.sites.length === 1 && x.sites[0] === site);
    if (!c) throw new SiteMoveError(`site ${site} has no Patroni cluster of its own in the plan`);
    return c;
}

/** Refuses a plan without two sites to move between, or a site not in it. */
export function checkTwoSite(plan: DeploymentPlan, site: string): void {
    if (plan.topology !== "two-site") {
        throw new SiteMoveError(
            `the plan is ${plan.topology}: its one Patroni cluster fails over between sites by itself, so there is nothing to promote; for a planned move use a Patroni switchover (patronictl switchover)`,
        );
    }
    if (!plan.sites.some((s) => s.name === site)) throw new SiteMoveError(`no site ${site} in the plan (sites: ${plan.sites.map((s) => s.name).join(", ")})`);
}

/** A cluster's members as Patroni reports them, asked of the first member that answers. */
export async function membersOf(
    plan: DeploymentPlan,
    t: SiteTransport,
    cluster: PatroniClusterPlan,
): Promise<{ asked: HostPlan; members: Member[] } | undefined> {
    for (const name of cluster.members) {
        const host = hostByName(plan, name);
        const r = await t.patroni(host, "GET", "/cluster");
        if (r?.status === 200) return { asked: host, members: (JSON.parse(r.body).members ?? []) as Member[] };
    }
    return undefined;
}

export const running = (m: Member[], role: string) => m.find((x) => x.role === role && ["running", "streaming"].includes(x.state));

/** What of a site answers: Patroni REST on its members, HAProxy's read-write port, NGINX's https. */
export async function answering(plan: DeploymentPlan, t: SiteTransport, site: string): Promise<string[]> {
    const found: string[] = [];
    for (const h of hostsOf(plan, { site })) {
        if (h.roles.includes("patroni") && (await t.patroni(h, "GET", "/patroni")) !== undefined)
            found.push(`${h.name} (Patroni REST ${plan.ports.patroniRest})`);
        if (h.roles.includes("haproxy") && (await t.tcpOpen(h.address, plan.ports.haproxyPrimary)))
            found.push(`${h.name} (HAProxy ${plan.ports.haproxyPrimary})`);
        if (h.roles.includes("nginx") && (await t.tcpOpen(h.address, plan.ports.https))) found.push(`${h.name} (NGINX ${plan.ports.https})`);
    }
    return found;
}

export async function poll<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
    const until = Date.now() + ms;
    for (;;) {
        const v = await probe();
        if (v !== undefined) return v;
        if (Date.now() > until) throw new SiteMoveError(`gave up after ${Math.round(ms / 1000)} s waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 500));
    }
}

/** The standby_cluster section that makes `site`'s cluster follow `source`'s read-write endpoint. */
export function standbyClusterConfig(plan: DeploymentPlan, site: string, source: string): Record<string, unknown> {
    const db = siteByName(plan, source).database;
    if (!db) throw new SiteMoveError(`site ${source} has no HAProxy host for ${site} to follow`);
    return renderStandbyCluster(db.readWrite, standbySlot(site));
}
