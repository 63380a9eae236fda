/**
 * Integration: boots the three-site lab from the stack files, breaks it, and checks that a
 * new leader takes over with no acknowledged write lost and never two writable primaries.
 * Tears the lab down even when a step fails. Needs root; takes about three minutes.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { drill } from "../../lab/drill";
import { down, status, up } from "../../lab/lab";
import { existingNamespaces } from "../../lab/net";
import { loadState, ROUTER_NS } from "../../lab/state";

const MINUTE = 60000;
const CLI = path.join(__dirname, "..", "..", "lab", "cli.ts");
const TSX = path.join(__dirname, "..", "..", "node_modules", ".bin", "tsx");
let hosts: string[] = [];
let started = false;

function cli(...args: string[]): { status: number; stderr: string } {
    const r = spawnSync(TSX, [CLI, ...args], { encoding: "utf8", timeout: MINUTE });
    return { status: r.status ?? -1, stderr: r.stderr };
}

beforeAll(async () => {
    if (loadState()) throw new Error("a lab is already running here; run `npm run lab -- down` before the tests");
    started = true; // from here on, whatever up() leaves behind is this test's to remove
    await up({});
    hosts = loadState()!.plan.hosts.map((h) => h.name);
}, 5 * MINUTE);

afterAll(async () => {
    if (!started) return; // never tear down a lab this test did not start
    await down({ quiet: true });
    const left = existingNamespaces().filter((ns) => ns === ROUTER_NS || hosts.includes(ns));
    expect(left).toEqual([]);
}, 2 * MINUTE);

test("status: every host up, one leader, a streaming replica, etcd healthy, HAProxy routing to the leader", async () => {
    const s = await status();
    expect(s.hosts.map((h) => h.name).sort()).toEqual(["dc1-db1", "dc1-etcd1", "dc1-lb1", "dc2-db1", "dc2-etcd1", "dc2-lb1", "dc3-etcd1"]);
    expect(s.hosts.every((h) => h.up && Object.values(h.services).every((v) => v === "running"))).toBe(true);
    expect(s.patroni.leader).toBeDefined();
    expect(s.patroni.members.filter((m) => m.state === "streaming")).toHaveLength(1);
    expect(Object.values(s.etcd).every(Boolean)).toBe(true);
    for (const lb of Object.values(s.haproxy)) expect(lb!.upPrimary).toEqual([s.patroni.leader]);
});

test("bad input gets one line and a non-zero exit, and leaves nothing behind", () => {
    const before = existingNamespaces().sort();
    for (const [args, message] of [
        [["drill", "meteor-strike"], /^lab: unknown scenario meteor-strike; the scenarios are /],
        [["fault", "kill-host", "dc9-db1"], /^lab: no host dc9-db1 in the plan/],
        [["up"], /^lab: a lab is already running/],
        [["fault", "slow-wan", "fast"], /^lab: slow-wan takes a delay in ms/],
        [["drill", "dc-promotion"], /^lab: dc-promotion needs the two-site lab/],
        [["fault", "kill-site", "dc9"], /^lab: no site dc9 in the plan/],
    ] as [string[], RegExp][]) {
        const r = cli(...args);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(message);
        expect(r.stderr.trim().split("\n").filter((l) => !l.startsWith("npm warn"))).toHaveLength(1);
    }
    expect(existingNamespaces().sort()).toEqual(before);
}, 2 * MINUTE);

test.each(["primary-host-loss", "primary-isolation", "site-loss"])(
    "%s: a new leader, no acknowledged write lost, no split-brain moment",
    async (scenario) => {
        const r = await drill(scenario, { trials: 1, say: () => undefined });
        const t = r.trials[0];
        expect(t.problems).toEqual([]);
        expect(t.newLeader).toBeDefined();
        expect(t.newLeader).not.toBe(t.oldLeader);
        expect(t.acknowledged).toBeGreaterThan(100);
        expect(t.missing).toBe(0);
        expect(t.splitBrainMoments).toBe(0);
    },
    5 * MINUTE,
);
