/** A mermaid diagram of the plan's topology, for `npm run check` and reviews. Pure. */
import { DeploymentPlan, hostsOf } from "../plan/plan";

export function renderMermaid(plan: DeploymentPlan): string {
    const id = (s: string) => s.replace(/[^A-Za-z0-9]/g, "_");
    const lines = ["graph TB"];
    for (const site of plan.sites) {
        lines.push(`    subgraph ${id(site.name)}["${site.name}${site.witness ? " (witness)" : ""} ${site.cidr}"]`);
        for (const h of hostsOf(plan, { site: site.name })) lines.push(`        ${id(h.name)}["${h.name}<br/>${h.roles.join(", ")}<br/>${h.address}"]`);
        lines.push("    end");
    }
    for (const c of plan.patroniClusters) {
        const [first, ...rest] = c.members;
        for (const m of rest) lines.push(`    ${id(first)} <-. "${c.synchronousMode ? "sync" : "async"} replication (${c.scope})" .-> ${id(m)}`);
        if (c.standbyOf) lines.push(`    %% ${c.scope} is a standby cluster of ${c.standbyOf.scope}`);
    }
    for (const lb of hostsOf(plan, { role: "haproxy" })) {
        const c = plan.patroniClusters.find((x) => x.sites.includes(lb.site));
        for (const m of c?.members ?? []) lines.push(`    ${id(lb.name)} -->|5000/5001| ${id(m)}`);
    }
    for (const e of plan.etcdClusters) {
        for (let i = 1; i < e.members.length; i++) lines.push(`    ${id(e.members[i - 1])} <-. raft .-> ${id(e.members[i])}`);
    }
    return lines.join("\n");
}
