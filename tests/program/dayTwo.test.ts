/**
 * Day two under mocks: a change of the config changes the triggers of exactly the converge
 * steps whose files change, on exactly the hosts that receive them, and the changed trigger
 * names the file (a preview's diff says which host and file, never the content).
 */
import { readStackConfig } from "../../plan/stackFiles";
import { MockRun, runProgram } from "../helpers/mocks";

/** Every converge step's triggers, by step name. */
function triggers(run: MockRun): Record<string, string[]> {
    return Object.fromEntries(
        run
            .byType("command:remote:Command")
            .filter((c) => c.name.includes("-converge-"))
            .map((c) => [c.name, c.inputs.triggers as string[]]),
    );
}

let before: Record<string, string[]>;

beforeAll(async () => {
    before = triggers((await runProgram("dc1")).run);
});

/** The steps whose triggers a config change changes, each with the trigger lines that differ. */
async function changed(edit: (raw: any) => void): Promise<Record<string, string[]>> {
    const raw: any = JSON.parse(JSON.stringify(readStackConfig("dc1")));
    edit(raw);
    const after = triggers((await runProgram("dc1", { patroni: raw.patroni, haproxy: raw.haproxy, etcd: raw.etcd })).run);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    return Object.fromEntries(
        Object.entries(after)
            .map(([step, t]) => [step, t.filter((x) => !before[step].includes(x))] as [string, string[]])
            .filter(([, diff]) => diff.length > 0),
    );
}

test("the steps are the hosts' services, each triggered by its files, its script and its VM (a replaced VM gets its config again)", () => {
    expect(Object.keys(before).sort()).toEqual(["dc1-db1-converge-patroni", "dc1-etcd1-converge-etcd", "dc1-lb1-converge-haproxy"]);
    expect(before["dc1-etcd1-converge-etcd"].map((t) => t.split(" ")[0])).toEqual([
        "/etc/default/etcd",
        "/etc/etcd/etcdctl.env",
        "/etc/etcd/pki/ca.crt",
        "/etc/etcd/pki/member.crt",
        "/etc/etcd/pki/member.key",
        "script",
        "vm",
    ]);
});

test("an HAProxy timing changes HAProxy's config on the load balancer, and nothing else", async () => {
    const diff = await changed((raw) => (raw.haproxy = { checkIntervalMs: 2000 }));
    expect(Object.keys(diff)).toEqual(["dc1-lb1-converge-haproxy"]);
    expect(diff["dc1-lb1-converge-haproxy"]).toEqual([expect.stringMatching(/^\/etc\/haproxy\/haproxy.cfg 0644 root:root sha256:/)]);
});

test("an etcd timing changes the etcd member's environment file, and nothing else", async () => {
    const diff = await changed((raw) => (raw.etcd = { heartbeatMs: 150, electionTimeoutMs: 1500 }));
    expect(Object.keys(diff)).toEqual(["dc1-etcd1-converge-etcd"]);
    expect(diff["dc1-etcd1-converge-etcd"].map((t) => t.split(" ")[0])).toEqual(["/etc/default/etcd"]);
});

test("a Patroni setting changes Patroni's config on the database host, and nothing else", async () => {
    const diff = await changed((raw) => (raw.patroni = { ...raw.patroni, maximumLagOnFailover: 2097152 }));
    expect(Object.keys(diff)).toEqual(["dc1-db1-converge-patroni"]);
    expect(diff["dc1-db1-converge-patroni"].map((t) => t.split(" ")[0])).toEqual(["/etc/patroni/config.yml"]);
});
