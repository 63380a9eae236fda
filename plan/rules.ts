/**
 * The rules that span several config keys, checked over the plan's hosts and sites: quorum
 * sizes and spread, members per site, the Gluster arbiter's place, what the files and app
 * tiers need. Pure; every refusal is a ConfigError naming the key, the value and the fix.
 */
import { ConfigError, ProjectConfig, Role, showValue } from "./config";
import { hostsOf } from "./lookup";
import { HostPlan, SitePlan } from "./model";

/** What the rules read: the plan's hosts and sites before anything is derived from them. */
export interface BasePlan {
    hosts: HostPlan[];
    sites: Pick<SitePlan, "name" | "vip">[];
}

function checkQuorum(key: string, members: number, scope: string): void {
    if (members < 3 || members % 2 === 0) {
        throw new ConfigError(
            key,
            `${scope} has ${members} etcd member${members === 1 ? "" : "s"}; an etcd quorum needs an odd number of at least 3 (3 or 5), because an even member adds no fault tolerance and 2 cannot lose either; add or remove a host with the "etcd" role`,
        );
    }
}

/**
 * The Gluster volume is `replica 2 arbiter 1`: one data brick in each data site and an
 * arbiter where it can break a tie (the witness in three-site; the primary site in
 * two-site, so that site keeps quorum on a cut link). Two data bricks without an arbiter
 * would accept writes on both sides of a partition: split-brain.
 */
function checkGluster(p: ProjectConfig, base: BasePlan): void {
    const data = hostsOf(base, { role: "gluster" }).map((h) => ({ s: h.site, h }));
    const arbiters = hostsOf(base, { role: "gluster-arbiter" }).map((h) => ({ s: h.site, h }));
    if (data.length === 0 && arbiters.length === 0) return;
    if (data.length !== 2) {
        throw new ConfigError(
            "sites",
            `the Gluster volume is replica 2 arbiter 1 and needs exactly 2 hosts with the "gluster" role (one per data site), found ${data.length}`,
        );
    }
    if (data[0].s === data[1].s) {
        throw new ConfigError("sites", `both Gluster data bricks are in ${data[0].s}; put one in each data site so the files survive the loss of a site`);
    }
    if (arbiters.length !== 1) {
        throw new ConfigError(
            "sites",
            arbiters.length === 0
                ? `a replica 2 Gluster volume without an arbiter accepts writes on both sides of a cut link and ends in split-brain; give one host the "gluster-arbiter" role (${p.topology === "three-site" ? "in the witness site" : `in ${p.primarySite}`})`
                : `the Gluster volume takes exactly one arbiter, found ${arbiters.length}`,
        );
    }
    const arbiterSite = arbiters[0].s;
    if (p.topology === "three-site" && data.some((d) => d.s === arbiterSite)) {
        throw new ConfigError(
            "sites",
            `in three-site the Gluster arbiter belongs in the witness site, not in ${arbiterSite} beside a data brick: losing ${arbiterSite} would then take two of three bricks`,
        );
    }
    if (p.topology === "two-site" && arbiterSite !== p.primarySite) {
        throw new ConfigError(
            "sites",
            `in two-site the Gluster arbiter belongs in the primary site ${p.primarySite} (it keeps quorum when the link is cut), not in ${arbiterSite}`,
        );
    }
}

/**
 * Checks the rules that span keys (quorum sizes, members, sites, the files and app tiers)
 * over the plan's hosts and sites, before anything is derived from them. Throws a
 * ConfigError naming the key, the value and the fix.
 */
export function checkPlan(p: ProjectConfig, base: BasePlan): void {
    const siteNames = base.sites.map((s) => s.name);
    const count = (role: Role, site?: string) => hostsOf(base, { role, site }).length;
    if (!siteNames.includes(p.primarySite)) {
        throw new ConfigError("primarySite", `${showValue(p.primarySite)} is not a site of the plan (${siteNames.join(", ")}); name one of them`);
    }
    if (!siteNames.includes(p.activeSite)) {
        throw new ConfigError(
            "activeSite",
            `${showValue(p.activeSite)} is not a site of the plan (${siteNames.join(", ")}); name the site whose database is the primary`,
        );
    }
    if (p.topology === "three-site" && p.activeSite !== p.primarySite) {
        throw new ConfigError(
            "activeSite",
            `three-site runs one Patroni cluster that fails over between sites by itself, so there is no active site to set; remove activeSite`,
        );
    }
    switch (p.topology) {
        case "three-site": {
            if (siteNames.length !== 3) {
                throw new ConfigError(
                    "sites",
                    `three-site needs exactly 3 sites (two data sites and a witness), got ${siteNames.length} (${siteNames.join(", ")}); add or remove a site, or set topology to two-site`,
                );
            }
            checkQuorum("sites", count("etcd"), "the three-site etcd cluster");
            const total = count("etcd");
            for (const s of siteNames) {
                const here = count("etcd", s);
                if (here === 0) {
                    throw new ConfigError(
                        `sites.${s}.hosts`,
                        `three-site spreads etcd over all three sites, and ${s} has no host with the "etcd" role; give it one`,
                    );
                }
                if (total - here <= total / 2) {
                    throw new ConfigError(
                        `sites.${s}.hosts`,
                        `${s} holds ${here} of the ${total} etcd members, so losing ${s} would lose the quorum; spread the members so that no site holds half or more (e.g. 1+1+1 or 2+2+1)`,
                    );
                }
            }
            const dataSites = siteNames.filter((s) => count("patroni", s) > 0);
            if (dataSites.length < 2) {
                throw new ConfigError(
                    "sites",
                    `three-site needs Patroni members in at least two sites, found them in ${dataSites.length === 0 ? "none" : dataSites.join(", ")}; give a second site a host with the "patroni" role`,
                );
            }
            break;
        }
        case "two-site": {
            if (siteNames.length !== 2) {
                throw new ConfigError(
                    "sites",
                    `two-site needs exactly 2 sites, got ${siteNames.length} (${siteNames.join(", ")}); add or remove a site, or set topology to three-site`,
                );
            }
            for (const s of siteNames) {
                checkQuorum(`sites.${s}.hosts`, count("etcd", s), `site ${s}'s own etcd cluster`);
                if (count("patroni", s) === 0) {
                    throw new ConfigError(
                        `sites.${s}.hosts`,
                        `two-site runs a Patroni cluster in each site, and ${s} has no host with the "patroni" role; give it one`,
                    );
                }
            }
            break;
        }
        default: {
            const never: never = p.topology;
            throw new ConfigError("topology", `unknown topology ${showValue(never)}`);
        }
    }
    checkGluster(p, base);
    for (const s of siteNames) {
        const apps = count("nextcloud", s);
        const nginx = count("nginx", s);
        if (nginx > 0 && apps === 0)
            throw new ConfigError(
                `sites.${s}.hosts`,
                `${s} runs NGINX but no host with the "nextcloud" role for it to serve; add app nodes or drop the nginx role`,
            );
        if (nginx >= 2 && !base.sites.find((x) => x.name === s)!.vip)
            throw new ConfigError(
                `sites.${s}.vip`,
                `${s} has ${nginx} NGINX nodes; set a virtual address (vip) that keepalived moves between them, or DNS could point at a dead node`,
            );
        if (nginx < 2 && base.sites.find((x) => x.name === s)!.vip)
            throw new ConfigError(`sites.${s}.vip`, `a VIP needs two NGINX nodes to move between, ${s} has ${nginx}; remove vip or add an nginx host`);
        if (apps > 0 && count("haproxy", s) === 0)
            throw new ConfigError(`sites.${s}.hosts`, `${s} runs Nextcloud app nodes but no HAProxy for their database connection; add one`);
        if (apps > 0 && nginx === 0)
            throw new ConfigError(`sites.${s}.hosts`, `${s} runs Nextcloud app nodes but no host with the "nginx" role in front of them; add one`);
        if (apps > 0 && count("gluster") === 0)
            throw new ConfigError(
                `sites.${s}.hosts`,
                `${s} runs Nextcloud app nodes but the plan has no Gluster volume for their data directory; add gluster hosts`,
            );
        if (count("patroni", s) > 0 && count("haproxy", s) === 0) {
            throw new ConfigError(`sites.${s}.hosts`, `${s} runs Patroni members but no host with the "haproxy" role routes to them; add one`);
        }
        if (apps > 0 && count("nextcloud", p.primarySite) === 0 && s !== p.primarySite) {
            throw new ConfigError(
                `sites.${p.primarySite}.hosts`,
                `${s} runs Nextcloud app nodes but the primary site ${p.primarySite} has none; Nextcloud is installed once, from the primary site's first app node: give ${p.primarySite} one`,
            );
        }
    }
}
