/**
 * The site commands' steps against a simulated two-site deployment: what they refuse, what
 * they change and in which order. The same steps run for real in the two-site lab
 * (tests/lab/twoSite.test.ts).
 */
import { loadPlan } from "../../plan/load";
import * as fs from "node:fs";
import * as path from "node:path";
import { HttpAnswer } from "../../ops/http";
import { shellQuote } from "../../ops/remote";
import { bricksOnline } from "../../ops/gluster";
import { promote } from "../../ops/promote";
import { rejoin } from "../../ops/rejoin";
import { CommandResult, PartialMoveError, SiteMoveError, SiteTransport, standbyClusterConfig } from "../../ops/siteMove";

import { HostPlan } from "../../plan/plan";
import { readStackConfig, REPO_ROOT } from "../../plan/stackFiles";

const EXAMPLE = path.join(REPO_ROOT, "examples", "two-site");
const plan = loadPlan(readStackConfig("dc1", EXAMPLE)).plan;
const STATUS = fs.readFileSync(path.join(__dirname, "fixtures", "gluster-volume-status.txt"), "utf8");

interface Member {
    name: string;
    role: string;
    state: string;
}

/** Two sites of Patroni members as their REST APIs would report them; PATCH /config acts like Patroni. */
class Sites implements SiteTransport {
    members: Record<string, Member[]> = {
        dc1: [
            { name: "dc1-db1", role: "leader", state: "running" },
            { name: "dc1-db2", role: "replica", state: "streaming" },
        ],
        dc2: [
            { name: "dc2-db1", role: "standby_leader", state: "streaming" },
            { name: "dc2-db2", role: "replica", state: "streaming" },
        ],
    };
    down = new Set<string>();
    patches: { host: string; body: any }[] = [];
    runs: { host: string; argv: string[]; user?: string; stdin?: string }[] = [];
    quorum = "server";
    healEntries = 0;
    /** Hosts whose PostgreSQL answers `SELECT pg_is_in_recovery()` with f. */
    primaryOnHost = new Set<string>();
    lsn = 1000;
    replayed: Record<string, number> = {};

    siteOf(host: string): string {
        return host.slice(0, 3);
    }
    async patroni(host: HostPlan, method: "GET" | "PATCH", p: string, body?: any): Promise<HttpAnswer | undefined> {
        const site = this.siteOf(host.name);
        if (this.down.has(site)) return undefined;
        const ms = this.members[site];
        if (method === "PATCH") {
            this.patches.push({ host: host.name, body });
            const leader = ms.find((m) => m.role === "leader" || m.role === "standby_leader")!;
            if (body.standby_cluster === null) leader.role = "leader";
            else if (body.standby_cluster) {
                leader.role = "standby_leader";
                leader.state = "streaming";
                this.lsn += 10;
            }
            return { status: 200, body: "{}" };
        }
        if (p === "/cluster") return { status: 200, body: JSON.stringify({ members: ms }) };
        const m = ms.find((x) => x.name === host.name)!;
        const replayed = this.replayed[host.name] ?? this.lsn;
        if (m.role === "leader") return { status: 200, body: JSON.stringify({ role: "primary", xlog: { location: this.lsn } }) };
        return {
            status: 200,
            body: JSON.stringify({
                role: m.role,
                replication_state: m.state === "streaming" ? "streaming" : undefined,
                xlog: { replayed_location: replayed, replayed_timestamp: "2026-11-23 10:00:00+00:00" },
            }),
        };
    }
    async tcpOpen(address: string): Promise<boolean> {
        const h = plan.hosts.find((x) => x.address === address)!;
        return !this.down.has(h.site);
    }
    async run(host: HostPlan, argv: string[], opts: { user?: string; stdin?: string } = {}): Promise<CommandResult> {
        this.runs.push({ host: host.name, argv, user: opts.user, stdin: opts.stdin });
        if (this.down.has(host.site)) return { status: 255, stdout: "", stderr: "ssh: connect to host: No route to host" };
        const a = argv.join(" ");
        if (a.includes("volume set") && a.includes("server-quorum-type")) this.quorum = argv[argv.length - 1];
        if (a.includes("volume get")) return { status: 0, stdout: `Option Value\ncluster.server-quorum-type ${this.quorum}\n`, stderr: "" };
        if (a.includes("volume status")) {
            const bricks = plan.gluster!.bricks.map((b) => {
                const h = plan.hosts.find((x) => x.name === b.host)!;
                return `Brick ${h.address}:${b.path}   ${this.down.has(h.site) ? "N/A       N/A        N       N/A" : "49152     0          Y       4242"}`;
            });
            return { status: 0, stdout: ["Status of volume: nextcloud", ...bricks].join("\n"), stderr: "" };
        }
        if (argv[0] === "psql") return { status: 0, stdout: this.primaryOnHost.has(host.name) ? "f\n" : "t\n", stderr: "" };
        if (a.includes("heal")) return { status: 0, stdout: [0, 1, 2].map(() => `Number of entries: ${this.healEntries}`).join("\n"), stderr: "" };
        return { status: 0, stdout: "", stderr: "" };
    }
}

const quick = { waitMs: 1500 };

describe("promote", () => {
    test("refuses while the other site answers, naming what answered and the two ways on", async () => {
        const t = new Sites();
        const e = await promote(plan, t, "dc2", quick).catch((x) => x);
        expect(e).toBeInstanceOf(SiteMoveError);
        expect(e.message).toMatch(/^dc1 still answers: dc1-db1 \(Patroni REST 8008\).*dc1-lb1 \(HAProxy 5000\)/);
        expect(e.message).toContain("--confirm-fenced dc1");
        expect(e.message).toContain("npm run promote -- dc2 --planned");
        expect(t.patches).toEqual([]);
        expect(t.runs).toEqual([]);
    });

    test("refuses when nothing of dc1 answers too: a cut link looks the same, and dc1 would stay writable", async () => {
        const t = new Sites();
        t.down.add("dc1");
        const e = await promote(plan, t, "dc2", quick).catch((x) => x);
        expect(e).toBeInstanceOf(SiteMoveError);
        expect(e.message).toMatch(
            /^nothing of dc1 answers from here, but a cut link between the sites looks the same: dc1 keeps its own etcd quorum and the Gluster majority/,
        );
        expect(e.message).toContain("--confirm-fenced dc1");
        expect(t.patches).toEqual([]);
        expect(t.runs).toEqual([]);
    });

    test("dc1 lost and fenced: promotes dc2's standby leader, keeps a slot for dc1, lifts the Gluster quorum dc2 lacks", async () => {
        const t = new Sites();
        t.down.add("dc1");
        const said: string[] = [];
        const r = await promote(plan, t, "dc2", { ...quick, confirmFenced: ["dc1"], say: (l) => said.push(l) });
        expect(t.patches).toEqual([{ host: "dc2-db1", body: { standby_cluster: null, slots: { standby_dc1: { type: "physical" } } } }]);
        expect(r).toMatchObject({
            site: "dc2",
            alreadyPrimary: false,
            leader: "dc2-db1",
            otherSiteAnswering: [],
            glusterQuorumLifted: true,
            replayedUntil: "2026-11-23 10:00:00+00:00",
        });
        const sets = t.runs.filter((x) => x.argv.includes("set")).map((x) => `${x.host}: ${x.argv.slice(-2).join("=")}`);
        expect(sets).toEqual(["dc2-gfs1: cluster.server-quorum-type=none", "dc2-gfs1: cluster.quorum-count=1", "dc2-gfs1: cluster.quorum-type=fixed"]);
        expect(said.join("\n")).toContain("set activeSite: dc2 in Pulumi.yaml");
        expect(said.join("\n")).toContain("npm run rejoin -- dc1");
    });

    test("--confirm-fenced goes ahead although dc1 answers, making dc1's primary a standby first; the Gluster quorum stays while dc1's bricks are up", async () => {
        const t = new Sites();
        const r = await promote(plan, t, "dc2", { ...quick, confirmFenced: ["dc1"] });
        expect(r.leader).toBe("dc2-db1");
        expect(r.otherSiteAnswering.length).toBeGreaterThan(0);
        expect(t.patches).toEqual([
            { host: "dc1-db1", body: { standby_cluster: standbyClusterConfig(plan, "dc1", "dc2") } },
            { host: "dc2-db1", body: { standby_cluster: null, slots: { standby_dc1: { type: "physical" } } } },
        ]);
        expect(r.glusterQuorumLifted).toBe(false);
        expect(t.runs.some((x) => x.argv.includes("set"))).toBe(false);
    });

    test("confirming the wrong site does not count", async () => {
        await expect(promote(plan, new Sites(), "dc2", { ...quick, confirmFenced: ["dc2"] })).rejects.toThrow(/dc1 still answers/);
    });

    test("--planned demotes dc1 first, waits for dc2 to replay its last write, then promotes dc2", async () => {
        const t = new Sites();
        t.replayed["dc2-db1"] = 0; // behind until it catches up
        setTimeout(() => (t.replayed["dc2-db1"] = 1_000_000), 600);
        const r = await promote(plan, t, "dc2", { ...quick, waitMs: 5000, planned: true });
        expect(t.patches.map((p) => p.host)).toEqual(["dc1-db1", "dc2-db1"]);
        expect(t.patches[0].body).toEqual({
            standby_cluster: { host: "10.10.2.31", port: 5000, primary_slot_name: "standby_dc1", create_replica_methods: ["basebackup"] },
        });
        expect(r.leader).toBe("dc2-db1");
    });

    test("--planned gives up when dc2 never catches up, and makes dc1 the primary again", async () => {
        const t = new Sites();
        t.replayed["dc2-db1"] = 0;
        const e = await promote(plan, t, "dc2", { ...quick, planned: true }).catch((x) => x);
        // Something was changed (and undone): not a refusal.
        expect(e).toBeInstanceOf(PartialMoveError);
        expect(e.message).toMatch(
            /^gave up after 2 s waiting for dc2-db1 to replay dc1's last write; already done: dc1's cluster made a standby of dc2 \(planned move\); dc1 made the primary again\. dc1 is the primary again and nothing was written/,
        );
        expect(t.patches).toEqual([
            { host: "dc1-db1", body: { standby_cluster: standbyClusterConfig(plan, "dc1", "dc2") } },
            { host: "dc1-db1", body: { standby_cluster: null } },
        ]);
        expect(t.members.dc1[0].role).toBe("leader");
        expect(t.members.dc2[0].role).toBe("standby_leader");
    });

    test("a promotion Patroni accepts but never carries out: the error says the config was changed, and how to finish or go back", async () => {
        const t = new Sites();
        t.down.add("dc1");
        // Patroni takes the PATCH but no member becomes the leader.
        const patch = t.patroni.bind(t);
        t.patroni = async (host, method, p, body) =>
            method === "PATCH" ? (t.patches.push({ host: host.name, body }), { status: 200, body: "{}" }) : patch(host, method, p, body);
        const e = await promote(plan, t, "dc2", { ...quick, confirmFenced: ["dc1"] }).catch((x) => x);
        expect(e).toBeInstanceOf(PartialMoveError);
        expect(e.done).toEqual(["standby_cluster removed from nextcloud-dc2's config (dc2 promoted)"]);
        expect(e.message).toMatch(/^gave up after 2 s waiting for dc2's cluster to have a primary; already done: standby_cluster removed/);
        expect(e.message).toContain("run npm run promote -- dc2 --confirm-fenced dc1 again");
        expect(e.message).toContain("npm run rejoin -- dc2");
        expect(t.runs.filter((r) => r.argv.includes("set"))).toEqual([]); // the Gluster step never ran
    });

    test("the Gluster step failing after the promotion is a partial failure that names the promotion", async () => {
        const t = new Sites();
        t.down.add("dc1");
        const run = t.run.bind(t);
        t.run = async (host, argv, opts) =>
            argv.includes("cluster.quorum-count") ? { status: 1, stdout: "", stderr: "volume set: failed: Quorum not met" } : run(host, argv, opts);
        const e = await promote(plan, t, "dc2", { ...quick, confirmFenced: ["dc1"] }).catch((x) => x);
        expect(e).toBeInstanceOf(PartialMoveError);
        expect(e.done).toEqual([
            "standby_cluster removed from nextcloud-dc2's config (dc2 promoted)",
            "gluster volume set nextcloud cluster.server-quorum-type none",
        ]);
        expect(e.message).toMatch(/^gluster volume set nextcloud cluster.quorum-count 1 on dc2-gfs1 failed: volume set: failed: Quorum not met; already done:/);
    });

    test("--planned changes nothing while dc2 is not streaming or lags too far", async () => {
        const t = new Sites();
        t.members.dc2[0].state = "running";
        await expect(promote(plan, t, "dc2", { ...quick, planned: true })).rejects.toThrow(/dc2-db1 is not streaming close behind dc1 .*nothing was changed/);
        const far = new Sites();
        far.replayed["dc2-db1"] = 1000 - 17 * 1024 * 1024;
        await expect(promote(plan, far, "dc2", { ...quick, planned: true })).rejects.toThrow(/bytes behind, at most 16777216 allowed/);
        expect([...t.patches, ...far.patches]).toEqual([]);
    });

    test("a dry run changes nothing", async () => {
        const t = new Sites();
        t.down.add("dc1");
        const said: string[] = [];
        await promote(plan, t, "dc2", { ...quick, dryRun: true, confirmFenced: ["dc1"], say: (l) => said.push(l) });
        expect(t.patches).toEqual([]);
        expect(t.runs.map((x) => x.argv.slice(1, 3).join(" "))).toEqual(["volume status"]); // reads only
        expect(said.filter((l) => l.startsWith("dry run:"))).toHaveLength(2);
    });

    test("is idempotent: an already promoted site is left alone", async () => {
        const t = new Sites();
        t.down.add("dc1");
        t.members.dc2[0].role = "leader";
        t.members.dc2[0].state = "running";
        const r = await promote(plan, t, "dc2", quick);
        expect(r.alreadyPrimary).toBe(true);
        expect(t.patches).toEqual([]);
    });

    test("refuses a site whose cluster has no standby leader, and a three-site plan", async () => {
        const t = new Sites();
        t.down.add("dc1");
        t.members.dc2 = [{ name: "dc2-db1", role: "replica", state: "stopped" }];
        await expect(promote(plan, t, "dc2", quick)).rejects.toThrow(/dc2's cluster has no running standby leader \(dc2-db1 replica\/stopped\)/);
        const three = loadPlan(readStackConfig("dc1", REPO_ROOT)).plan;
        await expect(promote(three, t, "dc2", quick)).rejects.toThrow(/the plan is three-site/);
        await expect(promote(plan, t, "dc9", quick)).rejects.toThrow(/no site dc9 in the plan \(sites: dc1, dc2\)/);
    });

    test("says so when dc2's Patroni does not answer at all", async () => {
        const t = new Sites();
        t.down.add("dc2");
        await expect(promote(plan, t, "dc2", quick)).rejects.toThrow(/no Patroni member of dc2 answers/);
    });
});

describe("rejoin", () => {
    function promoted(): Sites {
        const t = new Sites();
        t.members.dc2[0].role = "leader";
        t.members.dc2[0].state = "running";
        t.members.dc1 = t.members.dc1.map((m) => ({ ...m, role: m.role === "leader" ? "standby_leader" : m.role, state: "streaming" }));
        return t;
    }

    test("with dc1's Patroni stopped: writes the standby config into its DCS with patronictl, as postgres", async () => {
        const t = promoted();
        const live = t.patroni.bind(t);
        t.patroni = async (h, m, p, b) => (h.site === "dc1" ? undefined : live(h, m, p, b));
        const r = await rejoin(plan, t, "dc1", quick);
        expect(r).toMatchObject({ following: "dc2", via: "patronictl", streaming: false, glusterQuorum: "was not lifted" });
        const ctl = t.runs.find((x) => x.argv[0] === "patronictl")!;
        expect(ctl).toMatchObject({
            host: "dc1-db1",
            user: "postgres",
            argv: ["patronictl", "-c", "/etc/patroni/config.yml", "edit-config", "--apply", "-", "--force"],
        });
        expect(JSON.parse(ctl.stdin!)).toEqual({ standby_cluster: standbyClusterConfig(plan, "dc1", "dc2") });
        expect(standbyClusterConfig(plan, "dc1", "dc2")).toEqual({
            host: "10.10.2.31",
            port: 5000,
            primary_slot_name: "standby_dc1",
            create_replica_methods: ["basebackup"],
        });
    });

    test("with dc1's REST API silent but its PostgreSQL a primary on the host: refuses unless fenced", async () => {
        const t = promoted();
        const live = t.patroni.bind(t);
        t.patroni = async (h, m, p, b) => (h.site === "dc1" ? undefined : live(h, m, p, b));
        t.primaryOnHost.add("dc1-db2");
        await expect(rejoin(plan, t, "dc1", quick)).rejects.toThrow(/dc1-db2 in dc1 runs as a primary again/);
        expect(t.runs.some((x) => x.argv[0] === "patronictl")).toBe(false);
        expect((await rejoin(plan, t, "dc1", { ...quick, confirmFenced: ["dc1"] })).via).toBe("patronictl");
    });

    test("refuses while no other site is primary", async () => {
        await expect(rejoin(plan, new Sites(), "dc1", quick)).rejects.toThrow(/dc2 runs no primary .*promote dc2 first/);
    });

    test("refuses to rewind a site that came back as a primary unless it was fenced", async () => {
        const t = new Sites();
        t.members.dc2[0].role = "leader";
        t.members.dc2[0].state = "running";
        await expect(rejoin(plan, t, "dc1", quick)).rejects.toThrow(/dc1-db1 in dc1 runs as a primary again.*--confirm-fenced dc1/);
        expect(t.patches).toEqual([]);
        const r = await rejoin(plan, t, "dc1", { ...quick, confirmFenced: ["dc1"] });
        expect(r.via).toBe("rest");
        expect(t.patches).toEqual([{ host: "dc1-db1", body: { standby_cluster: standbyClusterConfig(plan, "dc1", "dc2") } }]);
    });

    test("restores the rendered Gluster quorum once every brick is online and healed, and not before", async () => {
        const t = promoted();
        t.quorum = "none";
        t.healEntries = 3;
        expect((await rejoin(plan, t, "dc1", quick)).glusterQuorum).toBe("left lifted");
        expect(t.quorum).toBe("none");
        t.healEntries = 0;
        expect((await rejoin(plan, t, "dc1", quick)).glusterQuorum).toBe("restored");
        expect(t.quorum).toBe("server");
        expect(t.runs.some((x) => x.argv.join(" ").endsWith("volume reset nextcloud cluster.quorum-count"))).toBe(true);
    });
});

describe("helpers", () => {
    test("bricksOnline reads gluster volume status, wrapped brick paths included", () => {
        expect(bricksOnline(STATUS)).toEqual([
            "198.18.1.41:/data/glusterfs/nextcloud/brick",
            "198.18.2.41:/data/glusterfs/nextcloud/brick",
            "198.18.1.13:/data/glusterfs/nextcloud/arbiter",
        ]);
        const oneDown = STATUS.replace(/(\/brick\s+)\d+(\s+0\s+)Y(\s+)\d+/, "$1N/A$2N$3N/A");
        expect(bricksOnline(oneDown)).toHaveLength(2);
    });

    test("shellQuote keeps words whole for the remote shell", () => {
        expect(shellQuote("volume")).toBe("volume");
        expect(shellQuote("a b")).toBe("'a b'");
        expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    });
});
