/**
 * The plan the lab runs: the stack files' plan, every site moved onto 198.18.<n>.0/24 (the
 * lab's own range), every host at the same offset inside it. The move is made on the config
 * and the plan is built from it by the same buildPlan, so every derived fact (endpoints, VIPs,
 * public addresses) moves with the addresses. Pure but for reading the stack files.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { formatIpv4, parseCidr, parseIpv4 } from "../plan/addresses";
import { ProjectConfig, StackConfig, TOPOLOGIES } from "../plan/config";
import { loadPlan } from "../plan/load";
import { buildPlan, DeploymentPlan } from "../plan/plan";
import { listStacks, readStackConfig, REPO_ROOT, STACK_DIR } from "../plan/stackFiles";
import { LabError } from "./sh";

/** Root namespace <-> router link, so the lab's tools reach every host. */
export const MGMT = { cidr: "198.18.0.0/30", host: "198.18.0.1", router: "198.18.0.2", route: "198.18.0.0/15" };

export function siteCidr(index: number): string {
    return `198.18.${index + 1}.0/24`;
}

/** The config with every site on its lab /24 and every address at the same offset. */
export function readdress(config: ProjectConfig): ProjectConfig {
    const names = Object.keys(config.sites);
    if (names.length > 250) throw new LabError("the lab maps each site onto its own /24 and supports at most 250 sites");
    const sites = Object.fromEntries(
        names.map((name, i) => {
            const site = config.sites[name];
            const from = parseIpv4(parseCidr(site.cidr)!.network)!;
            const to = parseIpv4(parseCidr(siteCidr(i))!.network)!;
            const move = (address: string) => {
                const offset = parseIpv4(address)! - from;
                if (offset < 1 || offset > 254) {
                    throw new LabError(
                        `the lab maps site ${name} onto ${siteCidr(i)}, and ${address} lies ${offset} addresses into ${site.cidr}; keep lab hosts within the first 254 addresses of their site`,
                    );
                }
                return formatIpv4(to + offset);
            };
            const hosts = site.hosts.map((h) => ({
                ...h,
                address: move(h.address),
                ...(h.managementAddress ? { managementAddress: move(h.managementAddress) } : {}),
            }));
            return [name, { ...site, cidr: siteCidr(i), gateway: move(site.gateway), hosts, ...(site.vip ? { vip: move(site.vip) } : {}) }];
        }),
    );
    return { ...config, sites };
}

/**
 * Where the stack files of a topology are: the project's own (STACK_DIR) when they describe
 * it or no topology is asked for, else the example of that topology in examples/<topology>/.
 */
export function stackDirFor(topology?: string): string {
    if (topology === undefined) return STACK_DIR;
    if (!(TOPOLOGIES as readonly string[]).includes(topology)) throw new LabError(`unknown topology ${topology}; the topologies are ${TOPOLOGIES.join(", ")}`);
    const own = listStacks(STACK_DIR)[0];
    if (own !== undefined && loadPlan(readStackConfig(own)).plan.topology === topology) return STACK_DIR;
    const example = path.join(REPO_ROOT, "examples", topology);
    if (!fs.existsSync(path.join(example, "Pulumi.yaml")))
        throw new LabError(`the stack files in ${STACK_DIR} are not ${topology}, and there is no example in ${example}`);
    return example;
}

/** The lab's plan of the stack files, every stack file checked, re-addressed into the lab's range. */
export function labPlan(topology?: string): DeploymentPlan {
    return labStack(topology).plan;
}

/**
 * The lab's plan and the stack files' sshUser (the user the hosts are reached as). `edit`
 * changes the config before the plan is built (a drill's config change, as a pull request would).
 */
export function labStack(topology?: string, edit?: (config: StackConfig) => StackConfig): { plan: DeploymentPlan; sshUser: string } {
    const dir = stackDirFor(topology);
    const stacks = listStacks(dir);
    if (stacks.length === 0) throw new LabError(`no Pulumi.<stack>.yaml files in ${dir}`);
    const loaded = stacks.map((s) => loadPlan(readStackConfig(s, dir)));
    const { config, plan } = loaded[0];
    if (topology !== undefined && topology !== plan.topology)
        throw new LabError(`the stack files in ${dir} describe a ${plan.topology} deployment, not ${topology}`);
    const missing = plan.sites.filter((s) => !loaded.some((l) => l.config.site === s.name));
    if (missing.length > 0)
        throw new LabError(`no stack file deploys site ${missing.map((s) => s.name).join(", ")}; add Pulumi.<stack>.yaml with nextcloud-ha:site set to it`);
    return { plan: buildPlan(readdress(edit ? edit(config) : config)), sshUser: loaded[0].config.sshUser };
}
