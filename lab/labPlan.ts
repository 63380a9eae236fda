/**
 * The lab's view of the plan: the same plan, every site moved onto 198.18.<n>.0/24 (the
 * lab's own range), every host at the same offset inside it. Pure; the renderers then
 * produce the VMs' files unchanged but for addresses.
 */
import { formatIpv4, parseCidr, parseIpv4 } from "../plan/addresses";
import { DeploymentPlan } from "../plan/plan";

/** Root namespace <-> router link, so the lab's tools reach every host. */
export const MGMT = { cidr: "198.18.0.0/30", host: "198.18.0.1", router: "198.18.0.2", route: "198.18.0.0/15" };

export function siteCidr(index: number): string {
    return `198.18.${index + 1}.0/24`;
}

export function readdress(plan: DeploymentPlan): DeploymentPlan {
    if (plan.sites.length > 250) throw new Error("the lab maps each site onto its own /24 and supports at most 250 sites");
    const moved = new Map(plan.sites.map((s, i) => [s.name, { from: s.cidr, to: siteCidr(i) }]));
    const move = (address: string, site: string) => {
        const m = moved.get(site)!;
        const offset = parseIpv4(address)! - parseIpv4(parseCidr(m.from)!.network)!;
        if (offset < 1 || offset > 254) {
            throw new Error(`the lab maps site ${site} onto ${m.to}, and ${address} lies ${offset} addresses into ${m.from}; keep lab hosts within the first 254 addresses of their site`);
        }
        return formatIpv4(parseIpv4(parseCidr(m.to)!.network)! + offset);
    };
    return {
        ...plan,
        sites: plan.sites.map((s, i) => ({ ...s, cidr: siteCidr(i) })),
        networks: plan.sites.map((_, i) => siteCidr(i)),
        hosts: plan.hosts.map((h) => ({
            ...h,
            address: move(h.address, h.site),
            managementAddress: move(h.managementAddress, h.site),
            gateway: move(h.gateway, h.site),
            prefix: 24,
        })),
    };
}
