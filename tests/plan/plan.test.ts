/** The plan is pure and the same whichever stack computes it. */
import { loadPlan } from "../../plan/load";

import { readStackConfig } from "../../plan/stackFiles";
import { appTierConfig, twoSiteConfig } from "../helpers/configs";
import { certificateNames } from "../../render/host";

const planOf = (stack: string) => loadPlan(readStackConfig(stack)).plan;

test("every stack computes the same plan of all sites", () => {
    const dc1 = planOf("dc1");
    expect(planOf("dc2")).toEqual(dc1);
    expect(planOf("dc3")).toEqual(dc1);
});

test("three-site: one etcd cluster over all sites, one synchronous Patroni cluster over the data sites, dc3 a witness", () => {
    const p = planOf("dc1");
    // The witness's member holds etcd's leadership (the keeper): a data site's loss never takes it.
    // Its auth step (etcd.auth) runs in the primary site's stack.
    expect(p.etcdClusters).toEqual([
        { name: "nextcloud-etcd", members: ["dc1-etcd1", "dc2-etcd1", "dc3-etcd1"], leaders: ["dc3-etcd1"], configuredBy: "dc1-etcd1" },
    ]);
    expect(p.patroniClusters).toHaveLength(1);
    expect(p.patroniClusters[0]).toMatchObject({ scope: "nextcloud", members: ["dc1-db1", "dc2-db1"], synchronousMode: true });
    expect(p.sites.map((s) => [s.name, s.witness])).toEqual([
        ["dc1", false],
        ["dc2", false],
        ["dc3", true],
    ]);
    expect(p.hosts.map((h) => h.vmId)).toEqual([1101, 1102, 1103, 1201, 1202, 1203, 1301]);
    expect(p.networks).toEqual(["10.10.1.0/24", "10.10.2.0/24", "10.10.3.0/24"]);
});

test("two-site: an etcd cluster per site, dc2 a standby cluster with a permanent slot on dc1", () => {
    const p = loadPlan(twoSiteConfig()).plan;
    expect(p.etcdClusters.map((c) => c.members.length)).toEqual([3, 3]);
    const [primary, standby] = p.patroniClusters;
    expect(primary.permanentSlots).toEqual(["standby_dc2"]);
    expect(standby.standbyOf).toEqual({ scope: "nextcloud", site: "dc1", slot: "standby_dc2", viaStackOutput: true });
    expect(standby.scope).toBe("nextcloud-dc2");
});

test("two-site after a promotion (activeSite dc2): dc1 follows dc2, the clusters keep their names", () => {
    const raw: any = { ...twoSiteConfig(), activeSite: "dc2" };
    const p = loadPlan(raw).plan;
    const [dc1, dc2] = p.patroniClusters;
    expect([dc1.scope, dc2.scope]).toEqual(["nextcloud", "nextcloud-dc2"]);
    expect(dc2.standbyOf).toBeUndefined();
    expect(dc2.permanentSlots).toEqual(["standby_dc1"]);
    expect(dc1.standbyOf).toEqual({ scope: "nextcloud-dc2", site: "dc2", slot: "standby_dc1", viaStackOutput: false });
    expect(dc1.permanentSlots).toEqual([]);
    expect(p.primarySite).toBe("dc1"); // the shared secrets stay where they were created
});

test("the committed two-site example is the plan the lab and the runbook use", () => {
    const example = require("node:path").join(__dirname, "..", "..", "examples", "two-site");
    const dc1 = loadPlan(readStackConfig("dc1", example)).plan;
    expect(loadPlan(readStackConfig("dc2", example)).plan).toEqual(dc1);
    expect(dc1.topology).toBe("two-site");
    expect(dc1.etcdClusters.map((c) => c.members.length)).toEqual([3, 3]);
    expect(dc1.patroniClusters.map((c) => c.members)).toEqual([
        ["dc1-db1", "dc1-db2"],
        ["dc2-db1", "dc2-db2"],
    ]);
    expect(dc1.gluster!.bricks.map((b) => `${b.host}${b.arbiter ? " (arbiter)" : ""}`)).toEqual(["dc1-gfs1", "dc2-gfs1", "dc1-etcd3 (arbiter)"]);
});

test("etcd's leader keeper: on the one member outside the data sites; named where there are more; off on request; two-site has none", () => {
    const raw = () => JSON.parse(JSON.stringify(readStackConfig("dc1")));
    expect(loadPlan({ ...raw(), etcd: { keepLeader: false } }).plan.etcdClusters[0].leaders).toEqual([]);
    // A second member in the witness site: the plan must name who may lead.
    const two = raw();
    two.sites.dc3.hosts.push({ name: "dc3-etcd2", vmId: 1302, address: "10.10.3.12", roles: ["etcd"] });
    two.sites.dc1.hosts.push({ name: "dc1-etcd2", vmId: 1109, address: "10.10.1.12", roles: ["etcd"] });
    expect(() => loadPlan(two)).toThrow(
        "nextcloud-ha:etcd.leaders: the etcd members outside the data sites are dc3-etcd1, dc3-etcd2; name those that may hold etcd's leadership, e.g. [dc3-etcd1]",
    );
    expect(loadPlan({ ...two, etcd: { leaders: ["dc3-etcd2"] } }).plan.etcdClusters[0].leaders).toEqual(["dc3-etcd2"]);
    expect(() => loadPlan({ ...two, etcd: { leaders: ["dc1-etcd1"] } })).toThrow(
        /^nextcloud-ha:etcd\.leaders: "dc1-etcd1" is not an etcd member outside the data sites/,
    );
    expect(loadPlan(twoSiteConfig()).plan.etcdClusters.every((c) => c.leaders.length === 0)).toBe(true);
    // Names that nothing would use are refused, not ignored.
    expect(() => loadPlan({ ...raw(), etcd: { keepLeader: false, leaders: ["dc3-etcd1"] } })).toThrow(
        /^nextcloud-ha:etcd\.leaders: \["dc3-etcd1"\] is set but etcd\.keepLeader is false/,
    );
    expect(() => loadPlan({ ...twoSiteConfig(), etcd: { leaders: ["dc1-etcd1"] } })).toThrow(
        /^nextcloud-ha:etcd\.leaders: .*two-site keeps each site's etcd cluster within its site/,
    );
});

test("etcd.auth: a Patroni member that is also a Gluster or app host is refused (its certificate would need a common name for GlusterFS and none for etcd's gateway); with auth off it is taken", () => {
    const raw: any = appTierConfig();
    raw.sites.dc1.hosts = raw.sites.dc1.hosts.filter((h: any) => h.name !== "dc1-app2");
    raw.sites.dc1.hosts.find((h: any) => h.name === "dc1-db1").roles = ["patroni", "nextcloud"];
    raw.nextcloud = { ...raw.nextcloud };
    expect(() => loadPlan(raw)).toThrow(
        "nextcloud-ha:sites.dc1.hosts: dc1-db1 is a Patroni member and a nextcloud host: with etcd.auth its certificate must carry no common name (etcd's gateway refuses one) and GlusterFS admits hosts by theirs; give it its own VM, or set etcd.auth: false",
    );
    expect(() => loadPlan({ ...raw, etcd: { auth: false } })).not.toThrow();
    // Where auth is on, the hosts GlusterFS admits keep their common name; the others carry none.
    const { plan } = loadPlan(appTierConfig());
    expect(plan.hosts.filter((h) => certificateNames(plan, h).commonName).map((h) => h.name)).toEqual([
        "dc1-gfs1",
        "dc1-app1",
        "dc1-app2",
        "dc2-gfs1",
        "dc2-app1",
        "dc3-etcd1",
    ]);
});
