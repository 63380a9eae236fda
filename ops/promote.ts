/**
 * promote(T): T's standby cluster becomes the primary of a two-site deployment. Refuses
 * while the other site still answers, unless the operator confirms that site is fenced (two
 * sites cannot tell a dead peer from a cut link), or asks for a planned move, which first
 * demotes the other site and waits for T to replay everything it wrote (no loss). Lifts the
 * Gluster quorum that T's bricks lack on their own, and prints the DNS change.
 */
import { formatEndpoint } from "../plan/addresses";
import { DeploymentPlan, hostByName, HostPlan, siteByName, standbySlot } from "../plan/plan";
import { liftGlusterQuorum, siteBricks } from "./gluster";
import {
    answering,
    changing,
    checkTwoSite,
    clusterOfSite,
    membersOf,
    MoveOptions,
    PartialMoveError,
    poll,
    PromoteReport,
    running,
    SiteMoveError,
    SiteTransport,
    standbyClusterConfig,
} from "./siteMove";

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
