/** Variants of the committed stack config that the tests share. */
import { parse } from "yaml";
import { readStackConfig } from "../../local/stackFiles";
import { RawConfig } from "../../plan/config";
import { Captured } from "./mocks";

/** dc1's config turned two-site: dc3 dropped, three etcd members in each of dc1 and dc2. */
export function twoSiteConfig(): RawConfig {
    const raw: any = JSON.parse(JSON.stringify(readStackConfig("dc1")));
    raw.topology = "two-site";
    delete raw.sites.dc3;
    for (const s of ["dc1", "dc2"]) {
        for (const n of [2, 3]) raw.sites[s].hosts.push({ name: `${s}-etcd${n}`, address: `10.10.${s.slice(2)}.1${n}`, roles: ["etcd"] });
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
