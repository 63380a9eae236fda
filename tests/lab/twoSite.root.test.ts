/**
 * Integration, two-site: boots examples/two-site (each site its own etcd and Patroni
 * cluster, dc2 a standby cluster following dc1), checks the promotion's guard through the
 * CLI, then runs the dc-promotion drill: dc1 lost, `promote dc2`, dc1 back fenced and
 * rejoined as a standby, the planned move back. Tears the lab down even when a step fails.
 * Needs root; about two minutes.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { drill } from "../../lab/drill";
import { down, up } from "../../lab/lifecycle";
import { status } from "../../lab/status";
import { existingNamespaces } from "../../lab/net";
import { loadState, ROUTER_NS } from "../../lab/state";

const MINUTE = 60000;
const ROOT = path.join(__dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");
let hosts: string[] = [];
let started = false;

function site(...args: string[]): { status: number; stdout: string; stderr: string } {
    const r = spawnSync(TSX, [path.join(ROOT, "scripts", "site.ts"), ...args], { encoding: "utf8", timeout: 2 * MINUTE });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
    if (loadState()) throw new Error("a lab is already running here; run `npm run lab -- down` before the tests");
    started = true;
    await up({ topology: "two-site" });
    hosts = loadState()!.plan.hosts.map((h) => h.name);
}, 5 * MINUTE);

afterAll(async () => {
    if (!started) return;
    await down({ quiet: true });
    expect(existingNamespaces().filter((ns) => ns === ROUTER_NS || hosts.includes(ns))).toEqual([]);
}, 2 * MINUTE);

test(
    "two clusters: dc1's primary, dc2's standby leader following it; nothing in dc2 takes writes",
    async () => {
        const s = await status();
        expect(s.patroni.leader).toMatch(/^dc1-db/);
        const dc2 = s.patroni.members.filter((m) => m.cluster === "nextcloud-dc2");
        expect(dc2.map((m) => m.role).sort()).toEqual(["replica", "standby_leader"]);
        expect(dc2.every((m) => m.state === "streaming")).toBe(true);
        expect(s.haproxy["dc1-lb1"]!.upPrimary).toEqual([s.patroni.leader]);
        expect(s.haproxy["dc2-lb1"]!.upPrimary).toEqual([]);
        expect(s.gluster).toEqual({ volume: "nextcloud", bricksOnline: 3, bricks: 3 });
    },
    MINUTE,
);

test(
    "etcd's auth in each site's etcd: each Patroni cluster's user reads its own keys, not the other cluster's",
    async () => {
        const { requireState } = await import("../../lab/state");
        const { checkEtcdAuth } = await import("../../lab/drill");
        const seen = checkEtcdAuth(requireState()).join("\n");
        expect(seen).toMatch(/^patroni-nextcloud, \/service\/nextcloud\/leader: ok: dc1-db\d/m);
        expect(seen).toMatch(/^patroni-nextcloud-dc2, \/service\/nextcloud-dc2\/leader: ok: dc2-db\d/m);
        expect(seen).toMatch(/^patroni-nextcloud-dc2, a write under another cluster's prefix: error: .*permission denied/m);
    },
    MINUTE,
);

test(
    "promote refuses while dc1 answers, with one line and exit 2, and changes nothing",
    async () => {
        const r = site("promote", "dc2", "--lab");
        expect(r.status).toBe(2);
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
        expect(r.stderr).toMatch(/^promote: dc1 still answers: .*--confirm-fenced dc1/);
        const s = await status();
        expect(s.patroni.leader).toMatch(/^dc1-db/);
        expect(s.haproxy["dc2-lb1"]!.upPrimary).toEqual([]);
    },
    2 * MINUTE,
);

test(
    "dc-promotion: dc2 takes writes after the command, dc1 rejoins as a standby, nothing lost after the promotion",
    async () => {
        const r = await drill("dc-promotion", { trials: 1, say: () => undefined });
        const t = r.trials[0];
        expect(t.problems).toEqual([]);
        expect(t.target).toBe("dc1");
        expect(t.newLeader).toMatch(/^dc2-db/);
        expect(t.acknowledged).toBeGreaterThan(100);
        expect(t.missing).toBe(0);
        expect(t.splitBrainMoments).toBe(0);
        expect(Number.isFinite(t.outage)).toBe(true);
        expect(t.extra!.rejoinSeconds).toBeGreaterThan(0);
        // The planned move put the primary back in dc1, and dc2 follows it again.
        const s = await status();
        expect(s.patroni.leader).toMatch(/^dc1-db/);
        expect(s.patroni.members.filter((m) => m.cluster === "nextcloud-dc2" && m.state === "streaming")).toHaveLength(2);
    },
    8 * MINUTE,
);
