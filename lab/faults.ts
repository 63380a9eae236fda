/**
 * Faults and healing: kill a host, a site or PostgreSQL, isolate a host or a site, slow the
 * WAN; `heal` undoes every fault in force and restarts what a killed host ran.
 */
import { hostByName, HostPlan, siteByName } from "../plan/plan";
import { leaderOf, patroniMembers } from "./cluster";
import { bootHost, killHost, killProcesses } from "./hosts";
import { setHostLink, setSiteCut, setWanDelay } from "./net";
import { restartServices } from "./services";
import { LabError, requireRoot } from "./sh";
import { LabState, requireState, saveState } from "./state";

export const FAULTS = ["kill-postgres", "kill-host", "kill-site", "isolate-host", "isolate-site", "slow-wan"] as const;
export type FaultKind = (typeof FAULTS)[number];

/** Resolves `primary` to the current leader; checks the target exists in the plan. */
export async function resolveTarget(state: LabState, target: string, kind: "host" | "site"): Promise<string> {
    const plan = state.plan;
    if (target === "primary") {
        const leader = leaderOf(await patroniMembers(plan));
        if (!leader) throw new LabError("there is no Patroni leader right now to target as `primary`");
        return kind === "site" ? hostByName(plan, leader).site : leader;
    }
    if (kind === "site") {
        if (!plan.sites.some((s) => s.name === target))
            throw new LabError(`no site ${target} in the plan (sites: ${plan.sites.map((s) => s.name).join(", ")})`);
    } else if (!plan.hosts.some((h) => h.name === target)) {
        throw new LabError(`no host ${target} in the plan (hosts: ${plan.hosts.map((h) => h.name).join(", ")}, or primary)`);
    }
    return target;
}

export async function fault(kind: string, target: string | undefined): Promise<string> {
    requireRoot();
    const state = requireState();
    if (!FAULTS.includes(kind as FaultKind)) throw new LabError(`unknown fault ${kind}; the faults are ${FAULTS.join(", ")}`);
    if (target === undefined)
        throw new LabError(
            `fault ${kind} needs a target: ${kind === "slow-wan" ? "the delay in ms" : kind.endsWith("-site") ? "a site, or primary" : "a host, or primary"}`,
        );
    const plan = state.plan;
    switch (kind as FaultKind) {
        case "kill-postgres": {
            const host = await resolveTarget(state, target, "host");
            if (!hostByName(plan, host).roles.includes("patroni")) throw new LabError(`${host} runs no PostgreSQL`);
            const n = killProcesses(host, "postgres");
            return `killed ${n} postgres processes on ${host}`;
        }
        case "kill-host": {
            const host = await resolveTarget(state, target, "host");
            await killHost(host);
            state.faults.killed = [...new Set([...state.faults.killed, host])];
            saveState(state);
            return `killed every process on ${host}`;
        }
        case "kill-site": {
            // A power cut: every host of the site at once.
            const site = await resolveTarget(state, target, "site");
            const hosts = siteByName(plan, site).hosts;
            await Promise.all(hosts.map((h) => killHost(h)));
            state.faults.killed = [...new Set([...state.faults.killed, ...hosts])];
            saveState(state);
            return `killed every process on ${hosts.join(", ")} (site ${site})`;
        }
        case "isolate-host": {
            const host = await resolveTarget(state, target, "host");
            setHostLink(plan, host, false);
            state.faults.isolatedHosts = [...new Set([...state.faults.isolatedHosts, host])];
            saveState(state);
            return `isolated ${host}`;
        }
        case "isolate-site": {
            const site = await resolveTarget(state, target, "site");
            if (!state.faults.isolatedSites.includes(site)) setSiteCut(plan, site, true);
            state.faults.isolatedSites = [...new Set([...state.faults.isolatedSites, site])];
            saveState(state);
            return `cut site ${site} off from the other sites`;
        }
        case "slow-wan": {
            const ms = Number(target);
            if (!Number.isInteger(ms) || ms < 0 || ms > 10000) throw new LabError(`slow-wan takes a delay in ms from 0 to 10000, got ${target}`);
            setWanDelay(plan, ms);
            state.faults.wanDelayMs = ms;
            saveState(state);
            return `WAN delay ${ms} ms`;
        }
    }
}

/** Undoes every fault: reboots killed hosts with their services (but the `hold` ones), restores links. */
export async function heal(hold: string[] = []): Promise<string> {
    requireRoot();
    const state = requireState();
    const done: string[] = [];
    for (const site of state.faults.isolatedSites) {
        setSiteCut(state.plan, site, false);
        done.push(`site ${site} reconnected`);
    }
    for (const host of state.faults.isolatedHosts) {
        setHostLink(state.plan, host, true);
        done.push(`${host} reconnected`);
    }
    const rebooted: HostPlan[] = [];
    for (const name of state.faults.killed) {
        const host = hostByName(state.plan, name);
        state.holders[name] = await bootHost(host);
        rebooted.push(host);
        done.push(`${name} rebooted${hold.length ? ` (${hold.join(", ")} held)` : ""}`);
    }
    saveState(state);
    await restartServices(state, rebooted, hold);
    if (state.faults.wanDelayMs) {
        setWanDelay(state.plan, state.wanDelayMs ?? 0);
        done.push(`WAN delay back to ${state.wanDelayMs ?? 0} ms`);
    }
    // A crashed PostgreSQL is restarted by its Patroni; nothing to do for kill-postgres.
    state.faults = { killed: [], isolatedHosts: [], isolatedSites: [] };
    saveState(state);
    return done.length > 0 ? done.join(", ") : "nothing to heal";
}
