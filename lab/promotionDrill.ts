/**
 * The dc-promotion drill (two-site): the active site is lost, the operator runs the
 * promotion, the lost site comes back fenced and rejoins as a standby, and a planned move
 * puts the primary back. It runs the same promote/rejoin code as `npm run promote`.
 *
 * Measured: the promotion (from the command to the first write accepted in the other
 * site), the writes the lost site had acknowledged that the promoted site never received
 * (asynchronous replication between sites: the price of two-site), the rejoin, and the
 * planned move back. Checked: the guard refuses while the active site answers and, without
 * the fence confirmation, after it is lost; no moment with two writable primaries; no write
 * acknowledged after the promotion lost.
 */
import { promote } from "../ops/promote";
import { rejoin, waitStandby } from "../ops/rejoin";
import { SiteMoveError } from "../ops/siteMove";
import { hostByName, hostsOf, siteByName } from "../plan/plan";
import { fault, heal } from "./faults";
import { membersOf, probeOnce, PROBE_SECONDS, runProbe, watchMember, WRITER_CONNECTIONS } from "./probe";
import { assessTrial, TrialResult, trialResult, WriteEvent } from "./recorder";
import { controlService, waitHealthy } from "./services";
import { LabError, sleep, waitFor } from "./sh";
import { labTransport } from "./converge";
import { requireState } from "./state";

/** How long the operator takes to decide, in the drill; not part of any figure. */
const DECISION_MS = 3000;

const round = (x: number) => Math.round(x * 1000) / 1000;

export async function promotionTrial(n: number, say: (m: string) => void): Promise<TrialResult> {
    let state = requireState();
    const plan = state.plan;
    if (plan.topology !== "two-site") throw new LabError("dc-promotion needs the two-site lab: npm run lab -- up --topology two-site");
    const leader = await waitHealthy(state, 180000, () => undefined);
    const lost = hostByName(plan, leader).site;
    const survivor = plan.sites.find((s) => s.name !== lost)!.name;
    const lostLb = siteByName(plan, lost).database!.via;
    const survivorLb = siteByName(plan, survivor).database!.via;
    const port = String(plan.ports.haproxyPrimary);
    const problems: string[] = [];
    const transport = labTransport(state);

    // The guard: while the active site answers, the promotion must refuse.
    try {
        await promote(plan, transport, survivor);
        problems.push(`promote ${survivor} went ahead while ${lost} answered`);
    } catch (e) {
        if (!(e instanceof SiteMoveError)) throw e;
    }

    await probeOnce(state, lostLb, ["setup", "--port", port]);
    const id = `dc-promotion-${Date.now()}`;
    const members = membersOf(state);
    const started = Date.now() / 1000;
    const watchers = members.map((m) => watchMember(state, m));
    const write = (host: string, trial: string) =>
        runProbe<WriteEvent>(state, host, [
            "write",
            "--port",
            port,
            "--conns",
            String(WRITER_CONNECTIONS),
            "--duration",
            String(PROBE_SECONDS),
            "--trial",
            trial,
        ]);
    const before = write(lostLb, `${id}-before`);
    // Clients already pointed at the survivor (DNS changed): refused until the promotion.
    const after = write(survivorLb, `${id}-after`);
    try {
        await waitFor("the writer's first acknowledged writes", 30000, () => (before.events.filter((e) => e.ok).length >= 20 ? true : undefined), 100);
        await sleep(2000 + Math.random() * 3000);
        say(`trial ${n}: site ${lost} lost (every host killed); ${survivor}'s standby cluster keeps its data`);
        const lostAt = Date.now() / 1000;
        await fault("kill-site", lost);
        // Silence is no proof of death (a cut link looks the same): without the fence
        // confirmation the command must still refuse.
        try {
            await promote(plan, transport, survivor);
            problems.push(`promote ${survivor} went ahead without --confirm-fenced ${lost}`);
        } catch (e) {
            if (!(e instanceof SiteMoveError)) throw e;
        }
        await sleep(DECISION_MS);

        // The operator has fenced the lost site (here: it is powered off) and says so.
        const commandAt = Date.now() / 1000;
        const report = await promote(plan, transport, survivor, { confirmFenced: [lost], say: (l) => say(`trial ${n}: promote: ${l}`) });
        const commandDone = Date.now() / 1000;
        await waitFor(`a write accepted in ${survivor}`, 60000, () => after.events.find((e) => e.ok && e.t >= commandAt), 100);
        say(`trial ${n}: ${survivor} accepts writes (the command itself took ${(commandDone - commandAt).toFixed(2)} s)`);

        // What the lost site acknowledged but never shipped: asynchronous replication's window,
        // counted by the same recorder as any loss (here it is the price of two-site, not a fault).
        await before.stop();
        const kept = await probeOnce<{ ids: string[] }>(state, survivorLb, ["count", "--port", port, "--trial", `${id}-before`]);
        const shipped = assessTrial({ faultAt: lostAt, writes: before.events, stored: kept.ids, watches: [], members: [], observeWindows: [] });
        await sleep(2000);

        // The lost site comes back fenced: its hosts boot with Patroni held, rejoin writes the
        // standby config into its DCS, then Patroni starts, rewinds and follows.
        const rejoinAt = Date.now() / 1000;
        say(`trial ${n}: ${lost} back with Patroni held: ${await heal(["patroni"])}`);
        state = requireState();
        const back = labTransport(state);
        const r = await rejoin(plan, back, lost, { say: (l) => say(`trial ${n}: rejoin: ${l}`) });
        if (r.via !== "patronictl") problems.push(`rejoin reached ${lost} through ${r.via}, though its Patroni was held`);
        controlService(state, hostsOf(plan, { site: lost, role: "patroni" }), "patroni", "start");
        members.forEach((m, i) => {
            if (watchers[i].exited()) watchers.push(watchMember(state, m));
        });
        await waitStandby(plan, back, lost, 180000);
        const rejoinSeconds = Date.now() / 1000 - rejoinAt;
        say(`trial ${n}: ${lost} streams from ${survivor} as a standby cluster, ${rejoinSeconds.toFixed(1)} s after it came back`);
        const rejoinedAt = Date.now() / 1000;
        await rejoin(plan, back, lost, { say: (l) => say(`trial ${n}: rejoin: ${l}`) }); // restores the Gluster quorum once healed

        await sleep(3000);
        await after.stop();
        await Promise.all(watchers.map((w) => w.stop()));
        const ended = Date.now() / 1000;
        const stored = await probeOnce<{ ids: string[] }>(state, survivorLb, ["count", "--port", port, "--trial", `${id}-after`]);
        // The writes acknowledged after the promotion must all be there; the outage runs from the command.
        const findings = assessTrial({
            faultAt: commandAt,
            writes: after.events,
            stored: stored.ids,
            watches: watchers.flatMap((w) => w.events),
            members,
            observeWindows: [
                { from: started, to: lostAt, what: "before the site was lost" },
                { from: rejoinedAt, to: ended, what: `after ${lost} rejoined` },
            ],
        });
        if (!report.leader) problems.push(`${survivor} has no leader after the promotion`);

        // Put the primary back where the next trial expects it, with the planned (lossless) move.
        const movedAt = Date.now() / 1000;
        await promote(plan, back, lost, { planned: true, say: (l) => say(`trial ${n}: move back: ${l}`) });
        const plannedMove = Date.now() / 1000 - movedAt;
        // Back to where the trial began: both clusters healthy, the other site streaming again.
        const newLeader = await waitHealthy(requireState(), 180000, () => undefined);
        const result = trialResult(
            {
                scenario: "dc-promotion",
                trial: n,
                oldLeader: leader,
                newLeader: report.leader,
                target: lost,
                extra: {
                    unshippedWrites: shipped.missing.length,
                    acknowledgedBeforeLoss: shipped.acknowledged,
                    rejoinSeconds: round(rejoinSeconds),
                    plannedMoveBackSeconds: round(plannedMove),
                },
            },
            findings,
            problems,
        );
        say(
            `trial ${n}: promotion ${result.outage.toFixed(2)} s; ${shipped.missing.length} of ${shipped.acknowledged} writes ${lost} acknowledged never reached ${survivor}; ` +
                `${result.missing} of ${result.acknowledged} later writes lost; ${result.splitBrainMoments} split-brain samples; rejoin ${rejoinSeconds.toFixed(1)} s; planned move back ${plannedMove.toFixed(2)} s (leader now ${newLeader})`,
        );
        return result;
    } finally {
        await Promise.all([before.stop(), after.stop(), ...watchers.map((w) => w.stop())]);
    }
}

/**
 * After a trial that failed half-way: the killed site comes back with Patroni held; if the
 * other site was promoted, the killed one rejoins as its standby before Patroni starts,
 * else it simply starts again as the primary it was.
 */
export async function recoverTwoSite(say: (m: string) => void): Promise<string> {
    const killed = requireState().faults.killed;
    const healed = await heal(["patroni"]);
    const state = requireState();
    const plan = state.plan;
    const sites = [...new Set(killed.map((h) => hostByName(plan, h).site))];
    for (const site of sites) {
        try {
            await rejoin(plan, labTransport(state), site, { confirmFenced: [site], say });
        } catch (e) {
            if (!(e instanceof SiteMoveError)) throw e;
            say(`${site} was not replaced (${e.message}); it starts as it was`);
        }
        controlService(
            state,
            hostsOf(plan, { site, role: "patroni" }).filter((h) => killed.includes(h.name)),
            "patroni",
            "start",
        );
    }
    return `${healed}; Patroni started on ${sites.join(", ")}`;
}
