/** The files tier's rules: replica 2 always with an arbiter, placed where it breaks a tie. */
import { loadPlan } from "../../plan/load";

import { appTierConfig, configFailure } from "../helpers/configs";

const failure = configFailure;

test("the volume: data bricks in dc1 and dc2, the arbiter last on dc3's witness, created by dc3's stack", () => {
    const plan = loadPlan(appTierConfig()).plan;
    expect(plan.gluster).toEqual({
        volume: "nextcloud",
        bricks: [
            { host: "dc1-gfs1", path: "/data/glusterfs/nextcloud/brick", arbiter: false },
            { host: "dc2-gfs1", path: "/data/glusterfs/nextcloud/brick", arbiter: false },
            { host: "dc3-etcd1", path: "/data/glusterfs/nextcloud/arbiter", arbiter: true },
        ],
        brickMount: "/data/glusterfs",
        mountPoint: "/srv/nextcloud",
        creator: "dc3-etcd1",
    });
    const gfs = plan.hosts.find((h) => h.name === "dc1-gfs1")!;
    expect(gfs.dataDisk).toEqual({
        sizeGb: 500,
        mountPoint: "/data/glusterfs",
        filesystem: "xfs",
        device: "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi1",
    });
    expect([gfs.stateful, plan.hosts.find((h) => h.name === "dc1-lb1")!.stateful]).toEqual([true, false]);
    expect(plan.hosts.find((h) => h.name === "dc3-etcd1")!.dataDisk!.sizeGb).toBe(20);
    expect(plan.nextcloud.trustedDomains).toEqual(["cloud.example.org", "files.example.org"]);
});

test("replica 2 without an arbiter is refused, and the message says why", () => {
    const raw: any = appTierConfig();
    raw.sites.dc3.hosts[0].roles = ["etcd"];
    const e = failure(raw);
    expect(e.key).toBe("sites");
    expect(e.message).toContain("without an arbiter");
    expect(e.message).toContain("split-brain");
    expect(e.message).toContain("in the witness site");
});

test("three-site: the arbiter beside a data brick is refused", () => {
    const raw: any = appTierConfig();
    raw.sites.dc3.hosts[0].roles = ["etcd"];
    raw.sites.dc1.hosts.push({ name: "dc1-arb1", vmId: 2142, address: "10.10.1.42", roles: ["gluster-arbiter"] });
    expect(failure(raw).message).toContain("belongs in the witness site, not in dc1");
});

test("both data bricks in one site are refused", () => {
    const raw: any = appTierConfig();
    raw.sites.dc2.hosts = raw.sites.dc2.hosts.filter((h: any) => h.name !== "dc2-gfs1");
    raw.sites.dc1.hosts.push({ name: "dc1-gfs2", vmId: 2143, address: "10.10.1.43", roles: ["gluster"] });
    expect(failure(raw).message).toContain("both Gluster data bricks are in dc1");
});

test("an unpinned image is refused", () => {
    const raw: any = appTierConfig();
    raw.nextcloud.image = "nextcloud:latest";
    const e = failure(raw);
    expect(e.key).toBe("nextcloud.image");
    expect(e.message).toContain("not a pinned image");
});

test("deploy order with the app tier: the primary, dc2, dc3 (which creates the volume), then dc1 and dc2 again to mount it", () => {
    const plan = loadPlan(appTierConfig()).plan;
    expect(plan.deployOrder.map((s) => `${s.site}${s.pass === 2 ? " again" : ""}: ${s.after.map((a) => a.site).join(",")}`)).toEqual([
        "dc1: ",
        "dc2: dc1",
        "dc3: dc1,dc2",
        "dc1 again: dc3",
        "dc2 again: dc3",
    ]);
    expect(plan.deployOrder[3].after[0].why).toBe("dc1's app nodes mount the Gluster volume dc3 creates");
});
