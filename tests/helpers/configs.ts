/** Variants of the committed stack config that the tests share. */
import { loadPlan } from "../../plan/load";
import { parse } from "yaml";
import { readStackConfig, REPO_ROOT } from "../../plan/stackFiles";
import { ConfigError, RawConfig } from "../../plan/config";
import { Captured } from "./mocks";

/** dc1's config turned two-site: dc3 dropped, three etcd members in each of dc1 and dc2. */
export function twoSiteConfig(): RawConfig {
    const raw: any = JSON.parse(JSON.stringify(readStackConfig("dc1", REPO_ROOT)));
    raw.topology = "two-site";
    delete raw.sites.dc3;
    for (const s of ["dc1", "dc2"]) {
        for (const n of [2, 3])
            raw.sites[s].hosts.push({
                name: `${s}-etcd${n}`,
                vmId: 2010 + 100 * Number(s.slice(2)) + n,
                address: `10.10.${s.slice(2)}.1${n}`,
                roles: ["etcd"],
            });
    }
    return raw;
}

/** The cloud-init user data a snippet resource received, parsed (unwrapped from its secret marker). */
export function userDataOf(snippet: Captured): Record<string, any> {
    const raw = snippet.inputs.sourceRaw as Record<string, any>;
    const data = raw.data?.value ?? raw.value?.data ?? raw.data;
    if (typeof data !== "string" || !data.startsWith("#cloud-config\n")) throw new Error(`${snippet.name} holds no cloud-config`);
    return parse(data);
}

/** The committed plan plus the app tier: Gluster bricks in dc1 and dc2, the arbiter on dc3's witness, NGINX and app nodes. */
export function appTierConfig(): RawConfig {
    const raw: any = JSON.parse(JSON.stringify(readStackConfig("dc1", REPO_ROOT)));
    const add = (site: string, host: object) => raw.sites[site].hosts.push(host);
    add("dc1", { name: "dc1-gfs1", vmId: 2141, address: "10.10.1.41", roles: ["gluster"] });
    add("dc2", { name: "dc2-gfs1", vmId: 2241, address: "10.10.2.41", roles: ["gluster"] });
    raw.sites.dc3.hosts[0].roles = ["etcd", "gluster-arbiter"];
    for (const s of ["dc1", "dc2"]) {
        raw.sites[s].hosts.find((h: any) => h.roles.includes("haproxy")).roles = ["haproxy", "nginx"];
        add(s, { name: `${s}-app1`, vmId: 2051 + 100 * Number(s.slice(2)), address: `10.10.${s.slice(2)}.51`, roles: ["nextcloud"] });
    }
    add("dc1", { name: "dc1-app2", vmId: 2152, address: "10.10.1.52", roles: ["nextcloud"] });
    raw.nextcloud = { domain: "cloud.example.org", trustedDomains: ["files.example.org"] };
    return raw;
}

/** The files tier alone: the Gluster bricks and arbiter of appTierConfig, no app nodes or NGINX. */
export function filesTierConfig(): RawConfig {
    const raw: any = appTierConfig();
    for (const site of Object.values<any>(raw.sites)) {
        site.hosts = site.hosts.filter((h: any) => !h.roles.includes("nextcloud"));
        for (const h of site.hosts) h.roles = h.roles.filter((r: string) => r !== "nginx");
    }
    return raw;
}

/** The ConfigError a bad config raises; fails the test when the config is accepted. */
export function configFailure(raw: RawConfig): ConfigError {
    try {
        loadPlan(raw);
    } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        return e;
    }
    throw new Error("expected the config to be rejected");
}

/** Writes a stack dir (Pulumi.yaml and the three stack files) whose plan is `raw`'s, for the CLI tools and the lab. */
export function writeStackDir(dir: string, raw: RawConfig): void {
    const fs = require("node:fs") as typeof import("node:fs");
    const path = require("node:path") as typeof import("node:path");
    const { parse: parseYaml, stringify } = require("yaml") as typeof import("yaml");
    const root = path.join(__dirname, "..", "..");
    fs.mkdirSync(dir, { recursive: true });
    const project = parseYaml(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8"));
    const r = raw as Record<string, unknown>;
    for (const key of ["topology", "sites", "gluster", "nextcloud", "patroni", "haproxy", "etcd"]) {
        if (r[key] !== undefined) project.config[key] = typeof r[key] === "object" ? { value: r[key] } : r[key];
    }
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), stringify(project));
    for (const f of fs.readdirSync(root).filter((x) => /^Pulumi\.dc\d+\.yaml$/.test(x))) fs.copyFileSync(path.join(root, f), path.join(dir, f));
}
