/**
 * Two-site under mocks: dc2's standby cluster follows the read-write endpoint dc1's stack
 * exports (read through the StackReference dc2 already holds), dc1 reads no other stack, and
 * after a promotion (activeSite dc2) the plan names the endpoint, with no new reference.
 */
import * as path from "node:path";
import { parse } from "yaml";
import { parseEndpoint } from "../../plan/addresses";
import { readStackConfig } from "../../plan/stackFiles";
import { twoSiteConfig } from "../helpers/configs";
import { hostFile, MockRun, primaryStackOutputs, runProgram, valueOf } from "../helpers/mocks";

async function runStack(stack: string, extra: Record<string, unknown> = {}, primaryOutputs?: Record<string, unknown>) {
    const two: any = twoSiteConfig();
    const overrides = { topology: "two-site", sites: two.sites, ...extra, ...(stack === "dc1" ? {} : { primaryStack: readStackConfig(stack).primaryStack }) };
    return runProgram(stack, overrides, primaryOutputs);
}

const patroniConfigOf = (run: MockRun, host: string) => parse(hostFile(run, host, "/etc/patroni/config.yml"));

test("dc1 is the primary cluster, keeps a slot for dc2, and reads no other stack", async () => {
    const { run, program } = await runStack("dc1");
    expect(run.byType("pulumi:pulumi:StackReference")).toHaveLength(0);
    const dcs = patroniConfigOf(run, "dc1-db1").bootstrap.dcs;
    expect(dcs.standby_cluster).toBeUndefined();
    expect(dcs.slots).toEqual({ standby_dc2: { type: "physical" } });
    expect(await valueOf(program.primaryEndpoints!)).toEqual(["10.10.1.31:5000"]);
});

test("dc2's standby cluster follows the endpoint dc1's stack exports", async () => {
    const outputs = { ...primaryStackOutputs(twoSiteConfig().sites), primaryEndpoints: ["10.10.1.77:5433"] };
    const { run } = await runStack("dc2", {}, outputs);
    expect(run.byType("pulumi:pulumi:StackReference")).toHaveLength(1);
    const config = patroniConfigOf(run, "dc2-db1");
    expect(config.scope).toBe("nextcloud-dc2");
    expect(config.bootstrap.dcs.standby_cluster).toEqual({
        host: "10.10.1.77",
        port: 5433,
        primary_slot_name: "standby_dc2",
        create_replica_methods: ["basebackup"],
    });
    expect(config.bootstrap.post_bootstrap).toBeUndefined(); // a standby copies dc1's databases
});

test("an exported endpoint that is not address:port is refused by name", () => {
    expect(parseEndpoint("10.10.1.31:5000")).toEqual({ host: "10.10.1.31", port: 5000 });
    for (const bad of ["not-an-endpoint", "10.10.1.31:99999", "", "10.10.1.31:"])
        expect(() => parseEndpoint(bad)).toThrow(`${JSON.stringify(bad)} is not an address:port endpoint`);
});

test("after a promotion (activeSite dc2): dc1's rebuilt members follow dc2 as the plan names it", async () => {
    const { run } = await runStack("dc1", { activeSite: "dc2" });
    expect(run.byType("pulumi:pulumi:StackReference")).toHaveLength(0);
    const config = patroniConfigOf(run, "dc1-db1");
    expect(config.scope).toBe("nextcloud");
    expect(config.bootstrap.dcs.standby_cluster).toEqual({
        host: "10.10.2.31",
        port: 5000,
        primary_slot_name: "standby_dc1",
        create_replica_methods: ["basebackup"],
    });
    const dc2 = patroniConfigOf((await runStack("dc2", { activeSite: "dc2" })).run, "dc2-db1");
    expect(dc2.bootstrap.dcs.standby_cluster).toBeUndefined();
    expect(dc2.bootstrap.dcs.slots).toEqual({ standby_dc1: { type: "physical" } });
});

test("each site's cluster has its cluster step in its own stack, also where its members are EtcdQuorum's hosts; only the primary cluster has a roles step", async () => {
    const steps = (run: MockRun) =>
        run
            .byType("command:remote:Command")
            .map((c) => c.name)
            .filter((n) => n.endsWith("-cluster-config") || n.endsWith("-roles"))
            .sort();
    const dc1 = await runStack("dc1");
    expect(steps(dc1.run)).toEqual(["dc1-db1-converge-patroni-roles", "nextcloud-cluster-config"]);
    expect(dc1.waitsFor("nextcloud-cluster-config")).toContain("dc1-db1-converge-patroni");
    const dc2 = await runStack("dc2", {}, primaryStackOutputs(twoSiteConfig().sites));
    expect(steps(dc2.run)).toEqual(["nextcloud-dc2-cluster-config"]);
});

test("etcd's auth step runs before any Patroni step: three-site in the etcd component Patroni waits for, two-site in the configuring member's own chain", async () => {
    // Three-site: the step is in the etcd component, which every Patroni step waits for (a component dependency waits for its children).
    const three = await runProgram("dc1");
    expect(three.waitsFor("dc1-etcd1-converge-etcd-auth")).toContain("dc1-etcd");
    for (const step of ["dc1-db1-converge-patroni", "dc1-db1-converge-patroni-roles", "nextcloud-cluster-config"])
        expect([step, three.waitsFor(step)]).toEqual([step, expect.arrayContaining(["dc1-etcd"])]);
    // The two-site example: etcd and Patroni on the same hosts, so the step is in the configuring member's own chain.
    const example = readStackConfig("dc1", path.join(__dirname, "..", "..", "examples", "two-site"));
    const two = await runProgram("dc1", { topology: "two-site", sites: example.sites });
    expect(two.waitsFor("dc1-db1-converge-etcd-auth")).toContain("dc1-db1-converge-etcd");
    expect(two.waitsFor("dc1-db1-converge-patroni")).toContain("dc1-db1-converge-etcd-auth");
    expect(two.waitsFor("dc1-db2-converge-patroni")).toContain("dc1-db1-converge-etcd-auth");
    // Not before the cluster's other members: they start beside it while it waits for the quorum.
    expect(two.waitsFor("dc1-db2-converge-etcd")).not.toContain("dc1-db1-converge-etcd-auth");
});
