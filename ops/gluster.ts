/**
 * The Gluster side of moving the primary between two sites: the volume's quorum, lifted when
 * the promoted site's bricks are no majority on their own, and put back once every brick is
 * online and healed. Through the same SiteTransport as the Patroni steps.
 */
import { DeploymentPlan, hostByName, HostPlan } from "../plan/plan";
import { VOLUME_OPTIONS } from "../render/gluster";
import { MoveOptions, poll, RejoinReport, SiteMoveError, SiteTransport } from "./siteMove";

/** Server quorum first (glusterd exempts it from its own quorum check), the count before the type. */
const GLUSTER_LIFT: [string, string][] = [
    ["cluster.server-quorum-type", "none"],
    ["cluster.quorum-count", "1"],
    ["cluster.quorum-type", "fixed"],
];

/** The bricks (`host:path` as Gluster names them) that `gluster volume status` shows online. */
export function bricksOnline(statusText: string): string[] {
    // Long brick paths wrap onto a second line: join each "Brick" entry with its status line.
    const lines = statusText.split("\n");
    const entries = lines.flatMap((l, i) =>
        l.startsWith("Brick ") ? [/\s[YN]\s+\S+\s*$/.test(l) ? l : `${l.trimEnd()}${(lines[i + 1] ?? "").trimStart()}`] : [],
    );
    return entries.filter((e) => /\sY\s+\d+\s*$/.test(e)).map((e) => e.slice("Brick ".length).split(/\s+/)[0]);
}

export async function gluster(t: SiteTransport, host: HostPlan, args: string[]): Promise<string> {
    const r = await t.run(host, ["gluster", "--mode=script", ...args], { timeoutMs: 60000 });
    if (r.status !== 0) throw new SiteMoveError(`gluster ${args.join(" ")} on ${host.name} failed: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
}

export function siteBricks(plan: DeploymentPlan, site: string) {
    return (plan.gluster?.bricks ?? []).map((b) => ({ ...b, host: hostByName(plan, b.host) })).filter((b) => b.host.site === site);
}

/** Lifts the volume's quorum when the site's bricks alone are no majority (two-site: the arbiter is in the other site). */
export async function liftGlusterQuorum(
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

/** Puts the rendered quorum options back once every brick is online and nothing is left to heal. */
export async function restoreGlusterQuorum(
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
