/** The failure matrix: if X fails, what survives, read from the plan alone. */
import * as path from "node:path";
import { DATA_ROLES, failureGaps, FailureMatrix, failureMatrix, FailureRole, FailureRow, formatMatrix, SERVICE_ROLES } from "../../plan/failureDomains";
import { loadPlan } from "../../plan/load";
import { readStackConfig, REPO_ROOT } from "../../plan/stackFiles";
import { appTierConfig, filesTierConfig, twoSiteConfig } from "../helpers/configs";

const matrixOf = (raw: unknown) => failureMatrix(loadPlan(raw as Parameters<typeof loadPlan>[0]).plan);
const committed = () => readStackConfig("dc1", REPO_ROOT);
const twoSiteExample = () => readStackConfig("dc1", path.join(REPO_ROOT, "examples", "two-site"));
const row = (m: FailureMatrix, id: string): FailureRow => {
    const r = m.rows.find((x) => x.failure.id === id);
    if (!r) throw new Error(`no row ${id}; rows: ${m.rows.map((x) => x.failure.id).join(", ")}`);
    return r;
};
const ALL_ROLES: readonly FailureRole[] = [...DATA_ROLES, ...SERVICE_ROLES];
const gapsOf = (m: FailureMatrix, roles = ALL_ROLES) => failureGaps(m, roles).map((g) => `${g.failure}: ${g.role}`);

describe("the committed three-site stacks", () => {
    const m = matrixOf(committed());

    test("every host, Proxmox node and site: promised and automatic, no gap", () => {
        expect(m.topology).toBe("three-site");
        expect(m.roles).toEqual(["etcd", "patroni", "haproxy"]);
        expect(m.rows.map((r) => r.failure.id)).toEqual([
            "host dc1-etcd1",
            "host dc1-db1",
            "host dc1-lb1",
            "host dc2-etcd1",
            "host dc2-db1",
            "host dc2-lb1",
            "host dc3-etcd1",
            "node dc1/pve-dc1",
            "node dc2/pve-dc2",
            "node dc3/pve-dc3",
            "site dc1",
            "site dc2",
            "site dc3",
        ]);
        for (const r of m.rows) {
            expect([r.failure.id, r.promised, r.recovery, r.command]).toEqual([r.failure.id, true, "automatic", undefined]);
        }
        expect(failureGaps(m, DATA_ROLES)).toEqual([]);
        expect(failureGaps(m, SERVICE_ROLES)).toEqual([]);
        expect(m.rows.some((r) => r.failure.kind === "link")).toBe(false);
    });

    test("the rows name their hosts, survivors and drills", () => {
        expect(row(m, "node dc1/pve-dc1").failure).toEqual({ id: "node dc1/pve-dc1", kind: "node", hosts: ["dc1-etcd1", "dc1-db1", "dc1-lb1"] });
        const site = row(m, "site dc1");
        expect(site.drill).toBe("site-loss");
        expect(site.roles.etcd).toEqual({ survives: true, note: "2 of 3 up (dc2-etcd1, dc3-etcd1), quorum 2" });
        // Without the leader keeper, the same loss may take etcd's leader with the primary: the slower path.
        const off = failureMatrix(loadPlan({ ...readStackConfig("dc1"), etcd: { keepLeader: false } }).plan);
        expect(row(off, "site dc1").roles.etcd?.note).toMatch(
            /quorum 2; etcd's leader may go with the primary \(no leader keeper: etcd.keepLeader\): a slower failover$/,
        );
        expect(row(off, "host dc3-etcd1").roles.etcd?.note).toBe("2 of 3 up (dc1-etcd1, dc2-etcd1), quorum 2");
        expect(site.roles.patroni!.note).toMatch(/^dc2-db1 up/);
        expect(site.roles.haproxy!.note).toBe("dc2-lb1 routes to nextcloud's primary");
        expect(row(m, "host dc1-db1").drill).toBe("primary-host-loss");
        expect(row(m, "host dc3-etcd1").drill).toBe("witness-loss");
        expect(row(m, "site dc3").drill).toBe("witness-loss");
        expect(row(m, "host dc1-lb1").drill).toBeUndefined();
    });
});

describe("three-site with the app tier", () => {
    const m = matrixOf(appTierConfig());

    test("evaluates the files and app roles; no data gap", () => {
        expect(m.roles).toEqual(["etcd", "patroni", "haproxy", "gluster", "nginx", "redis", "cron", "app"]);
        expect(failureGaps(m, DATA_ROLES)).toEqual([]);
        expect(row(m, "site dc1").roles.gluster).toEqual({ survives: true, note: "2 of 3 bricks up (dc2-gfs1, dc3-etcd1 arbiter)" });
        expect(row(m, "host dc1-gfs1").drill).toBe("storage-host-loss");
        expect(row(m, "host dc1-app2")).toMatchObject({ recovery: "automatic", drill: "app-host-loss" });
    });

    test("the known gap: Redis and cron live on dc1-app1 alone", () => {
        const gaps = gapsOf(m, SERVICE_ROLES);
        expect(gaps).toEqual(expect.arrayContaining(["host dc1-app1: redis", "host dc1-app1: cron", "site dc1: redis", "site dc1: cron"]));
        expect(gaps).not.toContain("host dc1-app2: redis");
        const cron = failureGaps(m, ["cron"]).find((g) => g.failure === "host dc1-app1")!;
        expect(cron.message).toMatch(/^losing host dc1-app1 leaves no cron: dc1-app1 is down/);
        expect(cron.message).toContain("the three-site topology promises to survive it automatically");
        expect(cron.message).toContain("not highly available yet");
        expect(cron.message).not.toContain("\n");
        const rebuild = expect.stringContaining("pulumi up --stack dc1 (rebuilds dc1-app1)");
        expect(row(m, "host dc1-app1")).toMatchObject({ recovery: "one command", command: rebuild });
    });

    test("losing dc1 loses the front door DNS points at: publishing dc2's records is the one command", () => {
        const r = row(m, "site dc1");
        expect(r.roles.nginx!.survives).toBe(false);
        expect(r.roles.nginx!.note).toContain("no NGINX left in dc1, where DNS points");
        expect(r.roles.app!.survives).toBe(false);
        expect(r.recovery).toBe("one command");
        expect(r.command).toBe("publish dc2's dnsRecords (the A records of cloud.example.org)");
        expect(row(m, "site dc2")).toMatchObject({ recovery: "automatic" });
    });
});

test("the files tier alone: gluster evaluated, the app roles not", () => {
    const m = matrixOf(filesTierConfig());
    expect(m.roles).toEqual(["etcd", "patroni", "haproxy", "gluster"]);
    expect(Object.keys(row(m, "site dc1").roles)).toEqual(["etcd", "patroni", "haproxy", "gluster"]);
    expect(gapsOf(m)).toEqual([]);
});

describe("examples/two-site", () => {
    const m = matrixOf(twoSiteExample());

    test("promises host and node failures inside a site, not a site or the link", () => {
        expect(m.topology).toBe("two-site");
        for (const r of m.rows) expect([r.failure.id, r.promised]).toEqual([r.failure.id, r.failure.kind === "host" || r.failure.kind === "node"]);
        expect(failureGaps(m, DATA_ROLES)).toEqual([]);
        expect(row(m, "host dc1-db2").roles.patroni!.note).toBe(
            "dc1-db1 in dc1; asynchronous: up to 1048576 bytes (maximumLagOnFailover) may be lost if the primary was dc1-db2",
        );
        expect(row(m, "host dc2-db1").drill).toBeUndefined();
    });

    test("losing the active site takes the promotion command", () => {
        const r = row(m, "site dc1");
        expect(r.promised).toBe(false);
        expect(r.roles.patroni!.survives).toBe(false);
        expect(r.roles.gluster!.survives).toBe(false);
        expect(r.recovery).toBe("one command");
        expect(r.command).toBe("npm run promote -- dc2 --confirm-fenced dc1");
        expect(r.drill).toBe("dc-promotion");
        expect(row(m, "site dc2")).toMatchObject({ recovery: "automatic", promised: false });
    });

    test("a cut link: dc1 keeps its etcd, Patroni and the volume (it holds the arbiter)", () => {
        const r = row(m, "link dc1-dc2");
        expect(r.failure).toEqual({ id: "link dc1-dc2", kind: "link", hosts: [] });
        expect(r.promised).toBe(false);
        for (const role of DATA_ROLES) expect([role, r.roles[role]!.survives]).toEqual([role, true]);
        expect(r.roles.gluster!.note).toBe("2 of 3 bricks up in dc1 (dc1-gfs1, dc1-etcd3 arbiter)");
        expect(r.roles.patroni!.note).toContain("dc2's standby cluster falls behind until the link returns");
        expect(r.recovery).toBe("automatic");
    });

    test("dc1's one HAProxy shares Proxmox node pve-dc1a with dc1-db1: a service gap, not a data gap", () => {
        expect(gapsOf(m)).toEqual(["host dc1-lb1: haproxy", "node dc1/pve-dc1a: haproxy"]);
        expect(failureGaps(m, ["haproxy"])[1].message).toBe(
            "losing node dc1/pve-dc1a leaves no haproxy: no HAProxy left in dc1: dc1-lb1 down; the two-site topology promises to survive it automatically; " +
                "add a second HAProxy host in dc1 on another Proxmox node",
        );
    });

    test("after a promotion (activeSite dc2), a cut link leaves dc2 without the arbiter: the volume is read-only there", () => {
        const raw: any = twoSiteExample();
        raw.activeSite = "dc2";
        const moved = matrixOf(raw);
        const link = row(moved, "link dc1-dc2");
        expect(link.roles.gluster).toMatchObject({ survives: false, note: "1 of 3 bricks up in dc2 (dc2-gfs1): no quorum, the volume turns read-only" });
        expect(link.roles.patroni!.survives).toBe(true);
        expect(row(moved, "site dc2").command).toBe("npm run promote -- dc1 --confirm-fenced dc2");
        // dc1 (the primary site) holds the arbiter: losing it now leaves dc2's volume read-only.
        expect(row(moved, "site dc1").roles.gluster!.survives).toBe(false);
        expect(row(moved, "site dc1").roles.patroni!.survives).toBe(true);
    });
});

test("two-site with one Patroni member per site and one Proxmox node is refused: losing dc1-db1 leaves dc1 without one", () => {
    const m = matrixOf(twoSiteConfig());
    const gaps = failureGaps(m, DATA_ROLES);
    expect(gaps.map((g) => `${g.failure}: ${g.role}`)).toEqual(["host dc1-db1: patroni", "node dc1/pve-dc1: etcd", "node dc1/pve-dc1: patroni"]);
    expect(gaps[1].message).toContain("no quorum; the two-site topology promises");
    expect(gaps[1].message).toContain("spread nextcloud-dc1-etcd's members over the Proxmox nodes of the site");
    expect(gaps[0].message).toMatch(/^losing host dc1-db1 leaves no patroni: /);
    expect(gaps[0].message).toContain("give dc1 a second Patroni member on another Proxmox node");
    expect(row(m, "host dc1-db1").command).toBe("npm run promote -- dc2 --confirm-fenced dc1");
});

test("three-site with two Patroni members in dc1: losing dc1 may take the primary and its sync standby", () => {
    const raw: any = committed();
    raw.sites.dc1.hosts.push({ name: "dc1-db2", vmId: 2122, address: "10.10.1.22", roles: ["patroni"] });
    const m = matrixOf(raw);
    const gaps = failureGaps(m, DATA_ROLES);
    expect(gaps.map((g) => `${g.failure}: ${g.role}`)).toEqual(["node dc1/pve-dc1: patroni", "site dc1: patroni"]);
    expect(gaps[1].message).toMatch(/^losing site dc1 leaves no patroni: 2 of 3 members lost \(dc1-db1, dc1-db2\)/);
    expect(gaps[1].message).toContain("one failure takes at most one of them");
    expect(row(m, "host dc1-db2").roles.patroni!.survives).toBe(true);
    expect(row(m, "site dc1").command).toBe(
        "patronictl -c /etc/patroni/config.yml failover nextcloud --candidate dc2-db1 --force (if Patroni did not promote by itself)",
    );
});

test("no Patroni member left anywhere: the data comes back from backups", () => {
    const plan = loadPlan(committed()).plan;
    plan.patroniClusters[0].members = ["dc1-db1"];
    const r = row(failureMatrix(plan), "host dc1-db1");
    expect(r.recovery).toBe("restore");
    expect(r.command).toBeUndefined();
});

test("formatMatrix: a header, a separator and one line per failure", () => {
    const m = matrixOf(twoSiteExample());
    const lines = formatMatrix(m).split("\n");
    expect(lines[0]).toBe("| failure | etcd | patroni | haproxy | gluster | recovery | promised | drill |");
    expect(lines[1]).toBe("|---|---|---|---|---|---|---|---|");
    expect(lines).toHaveLength(m.rows.length + 2);
    expect(lines).toContain("| site dc1 | ✗ | ✗ | ✗ | ✗ | one command: npm run promote -- dc2 --confirm-fenced dc1 | no | dc-promotion |");
    expect(lines).toContain("| host dc1-gfs1 | ✓ | ✓ | ✓ | ✓ | automatic | yes | storage-host-loss |");
});

test("the app reaches the database through its site's endpoint only: a second HAProxy beside it does not save the app", () => {
    const raw: any = appTierConfig();
    raw.sites.dc1.hosts.push({ name: "dc1-lb2", vmId: 2132, address: "10.10.1.32", roles: ["haproxy"] });
    const r = row(matrixOf(raw), "host dc1-lb1");
    expect(r.roles.haproxy!.survives).toBe(true); // dc1-lb2 still routes to the primary, for other clients
    expect(r.roles.app).toMatchObject({ survives: false, note: expect.stringContaining("its database endpoint (dc1-lb1)") });
});
