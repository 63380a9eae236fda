/**
 * Moving the primary between the two sites of a two-site deployment: what an operator
 * would do by hand, as one guarded command each.
 *
 * - promote(T): T's standby cluster becomes the primary. Refuses while another site still
 *   answers, unless the operator confirms that site is fenced (two sites cannot tell a dead
 *   peer from a cut link), or asks for a planned move, which first demotes the other site
 *   and waits for T to replay everything it wrote (no loss). Lifts the Gluster quorum that
 *   T's bricks lack on their own, and prints the DNS change.
 * - rejoin(S): the old primary site S becomes a standby cluster following the active site.
 *   Patroni rewinds S's old primary with pg_rewind (docs/runbooks/two-site.md has the fresh
 *   clone for when that fails) and restores the Gluster quorum once the bricks have healed.
 *
 * Everything goes through a SiteTransport, so the same steps run against the VMs (HTTP and
 * SSH: ops/remote.ts) and in the lab (lab/siteOps.ts). No Pulumi here.
 */
import { VOLUME_OPTIONS } from "../render/gluster";
import { PATRONI_CONFIG, renderStandbyCluster } from "../render/patroni";
import { formatEndpoint } from "../plan/addresses";
import { DeploymentPlan, hostByName, HostPlan, hostsOf, PatroniClusterPlan, siteByName, standbySlot } from "../plan/plan";
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
async function changing<T>(done: string[], next: string, steps: () => Promise<T>): Promise<T> {
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

interface Member {
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

/** Server quorum first (glusterd exempts it from its own quorum check), the count before the type. */
const GLUSTER_LIFT: [string, string][] = [
    ["cluster.server-quorum-type", "none"],
    ["cluster.quorum-count", "1"],
    ["cluster.quorum-type", "fixed"],
];

function clusterOfSite(plan: DeploymentPlan, site: string): PatroniClusterPlan {
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
async function membersOf(plan: DeploymentPlan, t: SiteTransport, cluster: PatroniClusterPlan): Promise<{ asked: HostPlan; members: Member[] } | undefined> {
    for (const name of cluster.members) {
        const host = hostByName(plan, name);
        const r = await t.patroni(host, "GET", "/cluster");
        if (r?.status === 200) return { asked: host, members: (JSON.parse(r.body).members ?? []) as Member[] };
    }
    return undefined;
}

const running = (m: Member[], role: string) => m.find((x) => x.role === role && ["running", "streaming"].includes(x.state));

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

async function poll<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
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

/** The bricks (`host:path` as Gluster names them) that `gluster volume status` shows online. */
export function bricksOnline(statusText: string): string[] {
    // Long brick paths wrap onto a second line: join each "Brick" entry with its status line.
    const lines = statusText.split("\n");
    const entries = lines.flatMap((l, i) =>
        l.startsWith("Brick ") ? [/\s[YN]\s+\S+\s*$/.test(l) ? l : `${l.trimEnd()}${(lines[i + 1] ?? "").trimStart()}`] : [],
    );
    return entries.filter((e) => /\sY\s+\d+\s*$/.test(e)).map((e) => e.slice("Brick ".length).split(/\s+/)[0]);
}

async function gluster(t: SiteTransport, host: HostPlan, args: string[]): Promise<string> {
    const r = await t.run(host, ["gluster", "--mode=script", ...args], { timeoutMs: 60000 });
    if (r.status !== 0) throw new SiteMoveError(`gluster ${args.join(" ")} on ${host.name} failed: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
}

function siteBricks(plan: DeploymentPlan, site: string) {
    return (plan.gluster?.bricks ?? []).map((b) => ({ ...b, host: hostByName(plan, b.host) })).filter((b) => b.host.site === site);
}

/** Promotes `site`'s standby cluster to the primary of the deployment. */
export async function promote(plan: DeploymentPlan, t: SiteTransport, site: string, opts: MoveOptions = {}): Promise<PromoteReport> {
    const say = opts.say ?? (() => undefined);
    const waitMs = opts.waitMs ?? 120000;
    checkTwoSite(plan, site);
    const other = plan.sites.find((s) => s.name !== site)!.name;
    const cluster = clusterOfSite(plan, site);
    const view = await membersOf(plan, t, cluster);
    if (!view)
        throw new SiteMoveError(
            `no Patroni member of ${site} answers (${cluster.members.join(", ")} on port ${plan.ports.patroniRest}); ${site} cannot take over until its cluster runs`,
        );
    const report: PromoteReport = { site, alreadyPrimary: false, otherSiteAnswering: [], glusterQuorumLifted: false };
    const primary = running(view.members, "leader");
    const standbyLeader = running(view.members, "standby_leader");
    if (primary) {
        report.alreadyPrimary = true;
        report.leader = primary.name;
        say(`${site}: ${primary.name} is the primary already; nothing to change in Patroni`);
    } else if (!standbyLeader) {
        throw new SiteMoveError(
            `${site}'s cluster has no running standby leader (${view.members.map((m) => `${m.name} ${m.role}/${m.state}`).join(", ") || "no members"}); wait until \`patronictl list\` on ${view.asked.name} shows one, then run again`,
        );
    }

    report.otherSiteAnswering = await answering(plan, t, other);
    const otherView = report.otherSiteAnswering.length > 0 ? await membersOf(plan, t, clusterOfSite(plan, other)) : undefined;
    const otherPrimary = otherView && running(otherView.members, "leader");
    const fenced = (opts.confirmFenced ?? []).includes(other);
    const planned = opts.planned === true && !report.alreadyPrimary;
    if (planned) {
        if (!otherPrimary) {
            throw new SiteMoveError(
                `--planned moves the primary away from a healthy ${other}, but ${other} runs no primary (${otherView?.members.map((m) => `${m.name} ${m.role}/${m.state}`).join(", ") ?? "its Patroni does not answer"}); if ${other} is lost, fence it and run: npm run promote -- ${site} --confirm-fenced ${other}`,
            );
        }
        say(
            `${other}: answers (${report.otherSiteAnswering.join(", ")}); planned move: ${other} is demoted first, then ${site} is promoted once it has replayed everything`,
        );
    } else if (!report.alreadyPrimary && !fenced) {
        const majority = siteBricks(plan, other).length * 2 > (plan.gluster?.bricks.length ?? 0) ? ` and the Gluster majority` : "";
        throw new SiteMoveError(
            report.otherSiteAnswering.length > 0
                ? `${other} still answers: ${report.otherSiteAnswering.join(", ")}. Promoting ${site} now could leave two primaries taking writes. ` +
                      `If ${other} is healthy, move the primary without loss: npm run promote -- ${site} --planned. ` +
                      `If ${other} is broken, fence it (runbook: docs/runbooks/two-site.md), then run again with --confirm-fenced ${other}`
                : `nothing of ${other} answers from here, but a cut link between the sites looks the same: ${other} keeps its own etcd quorum${majority} and stays writable for every client that still reaches it. ` +
                      `Fence ${other} (power off all its VMs and turn off their start at boot, or cut it off from its clients and from ${site}), then run again with --confirm-fenced ${other}`,
        );
    } else if (fenced && !report.alreadyPrimary) {
        say(
            `${other}: you confirmed it is fenced; ${report.otherSiteAnswering.length > 0 ? `it still answers here (${report.otherSiteAnswering.join(", ")})` : "nothing of it answers here"}. Keep it fenced until it rejoins as a standby (npm run rejoin -- ${other})`,
        );
    }

    const leaderHost = hostByName(plan, report.leader ?? standbyLeader!.name);
    const promotion = { standby_cluster: null, slots: { [standbySlot(other)]: { type: "physical" } } };
    const done: string[] = [];
    const again = `npm run promote -- ${site}${planned ? " --planned" : fenced ? ` --confirm-fenced ${other}` : ""}`;
    const next = `To finish, run ${again} again (it skips what is done); to go back, make ${site} follow ${other} again once ${other} runs a primary: npm run rejoin -- ${site}`;
    await changing(done, next, async () => {
        if (!report.alreadyPrimary) {
            if (opts.dryRun) {
                const first = planned
                    ? `demote ${other} (standby_cluster -> ${site}), wait for ${leaderHost.name} to replay its last write, then `
                    : otherPrimary
                      ? `make ${other}'s primary a standby (it answers), then `
                      : "";
                say(`dry run: would ${first}PATCH ${leaderHost.name}'s /config with ${JSON.stringify(promotion)}`);
            } else {
                if (planned) await demoteForPlannedMove(plan, t, other, site, otherView!.asked, leaderHost, waitMs, say, done);
                else if (otherPrimary) {
                    // Fenced from its clients, but its Patroni still listens: make it a standby too, so
                    // it is not a primary when the fence comes down.
                    const r = await t.patroni(otherView!.asked, "PATCH", "/config", { standby_cluster: standbyClusterConfig(plan, other, site) });
                    if (r?.status === 200) done.push(`${other}'s cluster made a standby of ${site}`);
                    say(
                        r?.status === 200
                            ? `${other}: ${otherPrimary.name} told to step down and follow ${site}`
                            : `${other}: could not make ${otherPrimary.name} step down (${r ? r.status : "no answer"}); it stays a primary behind your fence: rejoin ${other} before lifting the fence`,
                    );
                }
                const status = await t.patroni(leaderHost, "GET", "/patroni");
                if (status?.status === 200) {
                    const x = JSON.parse(status.body).xlog ?? {};
                    report.replayedUntil = x.replayed_timestamp ?? undefined;
                    if (!planned)
                        say(
                            `${leaderHost.name} has replayed ${other}'s WAL up to ${x.replayed_timestamp ?? "an unknown time"}; writes ${other} acknowledged after that are not in ${site}`,
                        );
                }
                const r = await t.patroni(leaderHost, "PATCH", "/config", promotion);
                if (r?.status !== 200)
                    throw new SiteMoveError(`Patroni on ${leaderHost.name} refused the promotion (${r ? `${r.status}: ${r.body.trim()}` : "no answer"})`);
                done.push(`standby_cluster removed from ${cluster.scope}'s config (${site} promoted)`);
                say(`${site}: standby_cluster removed from ${cluster.scope}'s config; slot ${standbySlot(other)} kept for ${other} to rejoin`);
                report.leader = await poll(`${site}'s cluster to have a primary`, waitMs, async () => {
                    const v = await membersOf(plan, t, cluster);
                    return v && running(v.members, "leader")?.name;
                });
                say(`${site}: ${report.leader} is the primary and accepts writes (through ${formatEndpoint(siteByName(plan, site).database!.readWrite)})`);
            }
        }

        report.glusterQuorumLifted = planned ? false : await liftGlusterQuorum(plan, t, site, other, opts, say, done);
    });
    const addresses = siteByName(plan, site).publicAddresses;
    if (addresses.length > 0) {
        report.dns = { name: plan.nextcloud.domain, type: "A", values: addresses };
        say(
            `DNS: replace the A records of ${plan.nextcloud.domain} with ${addresses.join(", ")} (${site}'s ${siteByName(plan, site).vip ? "VIP" : "NGINX"}); drop ${siteByName(plan, other).publicAddresses.join(", ") || `${other}'s`}`,
        );
    } else {
        say(`DNS: the plan has no NGINX; point the application at ${site}'s HAProxy ${formatEndpoint(siteByName(plan, site).database!.readWrite)}`);
    }
    say(
        `Record the move: set activeSite: ${site} in Pulumi.yaml and commit it, so rebuilt VMs and the stacks' dnsRecords follow ${site}. Then ${opts.planned ? `check that ${other} streams and restore the Gluster quorum` : `bring ${other} back as a standby`}: npm run rejoin -- ${other}`,
    );
    return report;
}

/** Bytes of WAL a planned move lets the target lag behind before it demotes anything. */
export const PLANNED_MAX_LAG = 16 * 1024 * 1024;

async function xlogOf(t: SiteTransport, host: HostPlan): Promise<{ location?: number; replayed_location?: number; received_location?: number } | undefined> {
    const s = await t.patroni(host, "GET", "/patroni");
    return s?.status === 200 ? (JSON.parse(s.body).xlog ?? {}) : undefined;
}

/**
 * Planned move, first half: the old primary site becomes a standby of `site`, and `site`
 * replays its last write. Refuses to start unless `site` streams and is close behind; puts
 * the old site back as the primary (nothing was written meanwhile) if `site` never catches up.
 */
async function demoteForPlannedMove(
    plan: DeploymentPlan,
    t: SiteTransport,
    other: string,
    site: string,
    asked: HostPlan,
    target: HostPlan,
    waitMs: number,
    say: (l: string) => void,
    done: string[],
): Promise<void> {
    const cluster = clusterOfSite(plan, other);
    const before = await membersOf(plan, t, cluster);
    const primary = before && running(before.members, "leader");
    const head = primary && (await xlogOf(t, hostByName(plan, primary.name)))?.location;
    const behind = (await t.patroni(target, "GET", "/patroni").then((s) => (s?.status === 200 ? JSON.parse(s.body) : undefined))) as
        { replication_state?: string; xlog?: { replayed_location?: number } } | undefined;
    if (behind?.replication_state !== "streaming" || head === undefined || head - (behind.xlog?.replayed_location ?? 0) > PLANNED_MAX_LAG) {
        throw new SiteMoveError(
            `${target.name} is not streaming close behind ${other} (${behind?.replication_state ?? "no answer"}, ${head === undefined ? "?" : head - (behind?.xlog?.replayed_location ?? 0)} bytes behind, at most ${PLANNED_MAX_LAG} allowed); nothing was changed. Check ${site}'s replication from ${other} (patronictl list on ${target.name}) and run again`,
        );
    }
    const r = await t.patroni(asked, "PATCH", "/config", { standby_cluster: standbyClusterConfig(plan, other, site) });
    if (r?.status !== 200)
        throw new SiteMoveError(
            `Patroni on ${asked.name} refused to make ${other} a standby (${r ? `${r.status}: ${r.body.trim()}` : "no answer"}); nothing was changed`,
        );
    done.push(`${other}'s cluster made a standby of ${site} (planned move)`);
    try {
        const last = await poll(`${other}'s primary to step down`, waitMs, async () => {
            const v = await membersOf(plan, t, cluster);
            const sl = v && !running(v.members, "leader") ? running(v.members, "standby_leader") : undefined;
            const x = sl && (await xlogOf(t, hostByName(plan, sl.name)));
            return x?.replayed_location ?? x?.received_location;
        });
        say(`${other}: demoted; no site takes writes now. Its last WAL position is ${last}; waiting for ${target.name} to replay it`);
        await poll(`${target.name} to replay ${other}'s last write`, waitMs, async () => {
            const x = await xlogOf(t, target);
            return x?.replayed_location !== undefined && x.replayed_location >= last ? true : undefined;
        });
    } catch (e) {
        const back = await t.patroni(asked, "PATCH", "/config", { standby_cluster: null });
        if (back?.status === 200) done.push(`${other} made the primary again`);
        throw new PartialMoveError(
            done,
            (e as Error).message,
            back?.status === 200
                ? `${other} is the primary again and nothing was written while it was a standby, so nothing is lost: check ${site}'s replication and run again`
                : `Putting ${other} back failed too: make it the primary again with npm run promote -- ${other} --confirm-fenced ${site}`,
        );
    }
}

/** Lifts the volume's quorum when the site's bricks alone are no majority (two-site: the arbiter is in the other site). */
async function liftGlusterQuorum(
    plan: DeploymentPlan,
    t: SiteTransport,
    site: string,
    other: string,
    opts: MoveOptions,
    say: (l: string) => void,
    done: string[],
): Promise<boolean> {
    const g = plan.gluster;
    if (!g) return false;
    const here = siteBricks(plan, site);
    if (here.length * 2 > g.bricks.length) {
        say(`gluster: ${site} holds ${here.length} of ${g.bricks.length} bricks, a majority; the quorum stays`);
        return false;
    }
    if (here.length === 0) throw new SiteMoveError(`${site} holds no brick of volume ${g.volume}; it cannot serve the files alone`);
    const status = await t.run(here[0].host, ["gluster", "volume", "status", g.volume], { timeoutMs: 30000 });
    const theirs = siteBricks(plan, other).map((b) => `${b.host.address}:${b.path}`);
    const stillOnline = bricksOnline(status.stdout).filter((b) => theirs.includes(b));
    if (stillOnline.length > 0) {
        say(`gluster: ${other}'s bricks still online (${stillOnline.join(", ")}): the quorum holds with them, so it stays; run promote again if they go`);
        return false;
    }
    const host = here[0].host;
    if (opts.dryRun) {
        say(`dry run: would run on ${host.name}: ${GLUSTER_LIFT.map(([k, v]) => `gluster volume set ${g.volume} ${k} ${v}`).join("; ")}`);
        return false;
    }
    for (const [k, v] of GLUSTER_LIFT) {
        await gluster(t, host, ["volume", "set", g.volume, k, v]);
        done.push(`gluster volume set ${g.volume} ${k} ${v}`);
    }
    const want = here.map((b) => `${b.host.address}:${b.path}`);
    await poll(`${site}'s bricks to come online`, opts.waitMs ?? 120000, async () => {
        const online = bricksOnline((await t.run(host, ["gluster", "volume", "status", g.volume], { timeoutMs: 30000 })).stdout);
        return want.every((b) => online.includes(b)) ? true : undefined;
    });
    say(
        `gluster: quorum lifted on ${g.volume} (${GLUSTER_LIFT.map(([k, v]) => `${k}=${v}`).join(", ")}); ${site}'s bricks (${here.map((b) => b.host.name).join(", ")}) serve alone. Until rejoin restores it, a cut link would let both sides write files`,
    );
    return true;
}

/** Makes `site`'s cluster a standby of the active site; Patroni rewinds its old primary. */
export async function rejoin(plan: DeploymentPlan, t: SiteTransport, site: string, opts: MoveOptions = {}): Promise<RejoinReport> {
    const say = opts.say ?? (() => undefined);
    const waitMs = opts.waitMs ?? 120000;
    checkTwoSite(plan, site);
    const active = plan.sites.find((s) => s.name !== site)!.name;
    const activeView = await membersOf(plan, t, clusterOfSite(plan, active));
    const activePrimary = activeView && running(activeView.members, "leader");
    if (!activePrimary) {
        throw new SiteMoveError(
            `${active} runs no primary (${activeView?.members.map((m) => `${m.name} ${m.role}/${m.state}`).join(", ") ?? "its Patroni does not answer"}); ${site} can only follow a primary: promote ${active} first (npm run promote -- ${active})`,
        );
    }
    const cluster = clusterOfSite(plan, site);
    const view = await membersOf(plan, t, cluster);
    const stale = view ? running(view.members, "leader") : await primaryOnHosts(plan, t, cluster);
    if (stale && !(opts.confirmFenced ?? []).includes(site)) {
        throw new SiteMoveError(
            `${stale.name} in ${site} runs as a primary again. Rejoining rewinds it onto ${active}'s timeline and discards whatever ${site} accepted since ${active} was promoted. ` +
                `If ${site} was fenced from its clients all along, run again with --confirm-fenced ${site}`,
        );
    }
    const config = { standby_cluster: standbyClusterConfig(plan, site, active) };
    const report: RejoinReport = {
        site,
        following: active,
        via: view ? "rest" : "patronictl",
        streaming: false,
        glusterQuorum: plan.gluster ? "was not lifted" : "no volume",
    };
    if (opts.dryRun) {
        say(
            `dry run: would set ${JSON.stringify(config)} in ${cluster.scope}'s config through ${view ? `${view.asked.name}'s REST API` : "patronictl edit-config"}`,
        );
        return report;
    }
    if (view) {
        const r = await t.patroni(view.asked, "PATCH", "/config", config);
        if (r?.status !== 200)
            throw new SiteMoveError(`Patroni on ${view.asked.name} refused the standby config (${r ? `${r.status}: ${r.body.trim()}` : "no answer"})`);
    } else {
        await applyWithPatronictl(plan, t, cluster, config);
    }
    const done = [`${cluster.scope}'s config follows ${active} (standby_cluster)`];
    const next = `${site} stays a standby of ${active}, which is safe; to finish, run npm run rejoin -- ${site} again once its members run`;
    return changing(done, next, async () => {
        say(
            `${site}: ${cluster.scope} now follows ${active} (standby_cluster -> ${(config.standby_cluster as { host: string }).host}:${plan.ports.haproxyPrimary}, slot ${standbySlot(site)})`,
        );
        if (view || (await membersOf(plan, t, cluster))) {
            await waitStandby(plan, t, site, waitMs);
            report.streaming = true;
            say(`${site}: every member streams from ${active}`);
        } else {
            say(
                `${site}: Patroni is not running there; start it on ${cluster.members.join(", ")} (systemctl start patroni): each member rewinds onto ${active}'s timeline with pg_rewind and follows it`,
            );
        }
        if (plan.gluster) report.glusterQuorum = await restoreGlusterQuorum(plan, t, active, waitMs, say);
        return report;
    });
}

/**
 * A member whose PostgreSQL runs as a primary, asked on the hosts themselves (for when
 * Patroni's REST API does not answer: that alone does not prove PostgreSQL is down).
 */
async function primaryOnHosts(plan: DeploymentPlan, t: SiteTransport, cluster: PatroniClusterPlan): Promise<Member | undefined> {
    for (const name of cluster.members) {
        const r = await t.run(hostByName(plan, name), ["psql", "-XAtc", "SELECT pg_is_in_recovery()"], { user: "postgres", timeoutMs: 15000 });
        if (r.status === 0 && r.stdout.trim() === "f") return { name, role: "leader", state: "running" };
    }
    return undefined;
}

/** Writes the standby config into a site's DCS while its Patroni is stopped (patronictl talks to etcd directly). */
async function applyWithPatronictl(plan: DeploymentPlan, t: SiteTransport, cluster: PatroniClusterPlan, config: Record<string, unknown>): Promise<void> {
    const yaml = JSON.stringify(config); // JSON is YAML
    const tried: string[] = [];
    for (const name of cluster.members) {
        const r = await t.run(hostByName(plan, name), ["patronictl", "-c", PATRONI_CONFIG, "edit-config", "--apply", "-", "--force"], {
            user: "postgres",
            stdin: yaml,
            timeoutMs: 30000,
        });
        if (r.status === 0) return;
        tried.push(`${name}: ${(r.stderr || r.stdout).trim().split("\n").pop()}`);
    }
    throw new SiteMoveError(
        `neither Patroni's REST API nor patronictl could change ${cluster.scope}'s config (${tried.join("; ")}); start the site's etcd members and run again`,
    );
}

/** Waits until a site's cluster is a standby cluster whose members all stream. */
export async function waitStandby(plan: DeploymentPlan, t: SiteTransport, site: string, waitMs: number): Promise<void> {
    const cluster = clusterOfSite(plan, site);
    await poll(`${site}'s members to stream as a standby cluster`, waitMs, async () => {
        const v = await membersOf(plan, t, cluster);
        if (!v || v.members.length < cluster.members.length || running(v.members, "leader")) return undefined;
        const sl = v.members.find((m) => m.role === "standby_leader" && m.state === "streaming");
        return sl && v.members.every((m) => m === sl || m.state === "streaming") ? true : undefined;
    });
}

/** Puts the rendered quorum options back once every brick is online and nothing is left to heal. */
async function restoreGlusterQuorum(
    plan: DeploymentPlan,
    t: SiteTransport,
    active: string,
    waitMs: number,
    say: (l: string) => void,
): Promise<RejoinReport["glusterQuorum"]> {
    const g = plan.gluster!;
    const host = siteBricks(plan, active)[0]?.host ?? hostByName(plan, g.bricks[0].host);
    const current = await gluster(t, host, ["volume", "get", g.volume, "cluster.server-quorum-type"]);
    if (!/\bnone\b/.test(current)) return "was not lifted";
    const all = g.bricks.map((b) => `${hostByName(plan, b.host).address}:${b.path}`);
    try {
        await poll(`every brick of ${g.volume} online with nothing left to heal`, waitMs, async () => {
            const online = bricksOnline((await t.run(host, ["gluster", "volume", "status", g.volume], { timeoutMs: 30000 })).stdout);
            if (!all.every((b) => online.includes(b))) return undefined;
            const heal = await t.run(host, ["gluster", "volume", "heal", g.volume, "info"], { timeoutMs: 30000 });
            const counts = [...heal.stdout.matchAll(/Number of entries: (\d+)/g)].map((m) => Number(m[1]));
            return heal.status === 0 && counts.length === all.length && counts.every((n) => n === 0) ? true : undefined;
        });
    } catch (e) {
        say(
            `gluster: quorum left lifted on ${g.volume}: ${(e as Error).message}; run rejoin again once \`gluster volume heal ${g.volume} info\` lists no entries (if it never empties, both sides wrote the same files while cut off: \`gluster volume heal ${g.volume} info split-brain\` lists them)`,
        );
        return "left lifted";
    }
    const rendered = Object.fromEntries(VOLUME_OPTIONS);
    for (const k of ["cluster.quorum-type", "cluster.server-quorum-type"]) await gluster(t, host, ["volume", "set", g.volume, k, rendered[k]]);
    await gluster(t, host, ["volume", "reset", g.volume, "cluster.quorum-count"]);
    say(
        `gluster: every brick online and healed; quorum restored on ${g.volume} (cluster.quorum-type=${rendered["cluster.quorum-type"]}, cluster.server-quorum-type=${rendered["cluster.server-quorum-type"]})`,
    );
    return "restored";
}
