/**
 * rejoin(S): the old primary site S becomes a standby cluster following the active site of a
 * two-site deployment. Patroni rewinds S's old primary with pg_rewind (docs/runbooks/two-site.md
 * has the fresh clone for when that fails), and the Gluster quorum is restored once the
 * bricks have healed.
 */
import { DeploymentPlan, hostByName, PatroniClusterPlan, standbySlot } from "../plan/plan";
import { PATRONI_CONFIG } from "../render/patroni";
import { restoreGlusterQuorum } from "./gluster";
import {
    changing,
    checkTwoSite,
    clusterOfSite,
    Member,
    membersOf,
    MoveOptions,
    poll,
    RejoinReport,
    running,
    SiteMoveError,
    SiteTransport,
    standbyClusterConfig,
} from "./siteMove";

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
