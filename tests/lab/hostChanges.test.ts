/** Which hosts a new plan adds and removes in the running lab, and what it refuses. Pure. */
import { hostChanges } from "../../lab/lifecycle";
import { loadPlan } from "../../plan/load";
import { readStackConfig } from "../../plan/stackFiles";

const plan = (edit: (raw: any) => void = () => undefined) => {
    const raw: any = JSON.parse(JSON.stringify(readStackConfig("dc1")));
    edit(raw);
    return loadPlan(raw).plan;
};
const addMember = (raw: any) => raw.sites.dc1.hosts.push({ name: "dc1-db9", vmId: 1199, address: "10.10.1.29", roles: ["patroni"] });

test("a Patroni member added or removed is named; nothing else changes", () => {
    expect(hostChanges(plan(), plan())).toEqual({ added: [], removed: [] });
    const grown = hostChanges(plan(), plan(addMember));
    expect([grown.added.map((h) => h.name), grown.removed]).toEqual([["dc1-db9"], []]);
    const shrunk = hostChanges(plan(addMember), plan());
    expect([shrunk.added, shrunk.removed.map((h) => h.name)]).toEqual([[], ["dc1-db9"]]);
});

test("an etcd member replaced (one out, one in, in one plan) is named on both sides", () => {
    const replaced = hostChanges(
        plan(),
        plan((raw) => {
            const hosts = raw.sites.dc1.hosts;
            hosts.splice(
                hosts.findIndex((h: any) => h.name === "dc1-etcd1"),
                1,
                { name: "dc1-etcd9", vmId: 1197, address: "10.10.1.19", roles: ["etcd"] },
            );
        }),
    );
    expect([replaced.added.map((h) => h.name), replaced.removed.map((h) => h.name)]).toEqual([["dc1-etcd9"], ["dc1-etcd1"]]);
});

test("a host that moves, or one of another role coming or going, is refused with its name and what to do", () => {
    expect(() =>
        hostChanges(
            plan(),
            plan((raw) => (raw.sites.dc1.hosts.find((h: any) => h.name === "dc1-lb1").address = "10.10.1.39")),
        ),
    ).toThrow(/dc1-lb1 changes from 10\.10\.1\.31 \[haproxy\] to 10\.10\.1\.39 \[haproxy\]/);
    expect(() =>
        hostChanges(
            plan(),
            plan((raw) => raw.sites.dc1.hosts.push({ name: "dc1-lb2", vmId: 1198, address: "10.10.1.32", roles: ["haproxy"] })),
        ),
    ).toThrow(/dc1-lb2 \[haproxy\] comes: the lab adds and removes Patroni and etcd members only/);
});
