/** A bad config stops the program before it declares a single resource. */
import { deploySite } from "../../program";
import { readStackConfig } from "../../plan/stackFiles";
import { settled, setupMocks } from "../helpers/mocks";

test("an even etcd quorum fails with the key's name and no resource is declared", async () => {
    const sites = readStackConfig("dc1").sites as any;
    sites.dc2.hosts.push({ name: "dc2-etcd2", vmId: 2212, address: "10.10.2.12", roles: ["etcd"] });
    const run = setupMocks("dc1", { sites });
    expect(() => deploySite()).toThrow(/^nextcloud-ha:sites: the three-site etcd cluster has 4 etcd members/);
    await settled(run, 200, 2000);
    expect(run.resources).toEqual([]);
});
