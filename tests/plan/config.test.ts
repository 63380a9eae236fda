/** Every bad input fails before any resource, with one message naming the key and the fix. */
import { loadPlan, loadStackConfig } from "../../plan/load";

import { readStackConfig } from "../../plan/stackFiles";
import { configFailure } from "../helpers/configs";

const base = (): any => JSON.parse(JSON.stringify(readStackConfig("dc1")));

const failure = configFailure;

test("the committed stack files are valid", () => {
    for (const stack of ["dc1", "dc2", "dc3"]) expect(loadStackConfig(readStackConfig(stack)).site).toBe(stack);
});

test("missing key: the stack's site", () => {
    const raw = base();
    delete raw.site;
    const e = failure(raw);
    expect(e.key).toBe("site");
    expect(e.message).toMatch(/^nextcloud-ha:site: expected a non-empty string, got nothing; set it with `pulumi config set nextcloud-ha:site <value>`/);
});

test("missing key: the site plan", () => {
    const raw = base();
    delete raw.sites;
    expect(failure(raw).message).toMatch(/^nextcloud-ha:sites: expected the site plan.*Pulumi.yaml/);
});

test("mistyped value: a timing that is not a number", () => {
    const raw = base();
    raw.patroni.ttl = "thirty";
    const e = failure(raw);
    expect(e.key).toBe("patroni.ttl");
    expect(e.message).toContain('"thirty"');
    expect(e.message).toContain("whole number from 20");
});

test("misspelled key inside a section", () => {
    const raw = base();
    raw.patroni.loop_wait = 5;
    const e = failure(raw);
    expect(e.key).toBe("patroni.loop_wait");
    expect(e.message).toContain("loopWait");
});

test("unknown topology", () => {
    const raw = base();
    raw.topology = "four-site";
    const e = failure(raw);
    expect(e.key).toBe("topology");
    expect(e.message).toContain('"four-site"');
    expect(e.message).toContain("three-site, two-site");
});

test("duplicate host name across sites", () => {
    const raw = base();
    raw.sites.dc2.hosts[1].name = "dc1-db1";
    const e = failure(raw);
    expect(e.key).toBe("sites.dc2.hosts[1].name");
    expect(e.message).toContain("already used by sites.dc1.hosts[1]");
});

test("duplicate address", () => {
    const raw = base();
    raw.sites.dc1.hosts[2].address = "10.10.1.21";
    const e = failure(raw);
    expect(e.key).toBe("sites.dc1.hosts[2].address");
    expect(e.message).toContain("10.10.1.21 is already used by sites.dc1.hosts[1]");
});

test("address outside its site's CIDR", () => {
    const raw = base();
    raw.sites.dc2.hosts[0].address = "10.10.1.99";
    const e = failure(raw);
    expect(e.key).toBe("sites.dc2.hosts[0].address");
    expect(e.message).toContain("10.10.1.99 is outside the site's cidr 10.10.2.0/24");
});

test("even etcd membership in three-site", () => {
    const raw = base();
    raw.sites.dc1.hosts.push({ name: "dc1-etcd2", vmId: 2112, address: "10.10.1.12", roles: ["etcd"] });
    const e = failure(raw);
    expect(e.key).toBe("sites");
    expect(e.message).toContain("4 etcd members");
    expect(e.message).toContain("odd number of at least 3");
});

test("three-site: an etcd layout that the loss of one site would break", () => {
    const raw = base();
    raw.sites.dc1.hosts.push(
        { name: "dc1-etcd2", vmId: 2112, address: "10.10.1.12", roles: ["etcd"] },
        { name: "dc1-etcd3", vmId: 2113, address: "10.10.1.13", roles: ["etcd"] },
    );
    const e = failure(raw);
    expect(e.key).toBe("sites.dc1.hosts");
    expect(e.message).toContain("dc1 holds 3 of the 5 etcd members, so losing dc1 would lose the quorum");
});

test("etcd membership smaller than 3 in two-site", () => {
    const raw = base();
    raw.topology = "two-site";
    delete raw.sites.dc3;
    const e = failure(raw);
    expect(e.key).toBe("sites.dc1.hosts");
    expect(e.message).toContain("1 etcd member;");
});

test("an activeSite that is not a site, or set in three-site", () => {
    const raw = base();
    raw.activeSite = "dc7";
    const e = failure(raw);
    expect(e.key).toBe("activeSite");
    expect(e.message).toContain('"dc7" is not a site of the plan (dc1, dc2, dc3)');
    raw.activeSite = "dc2";
    const three = failure(raw);
    expect(three.key).toBe("activeSite");
    expect(three.message).toContain("three-site runs one Patroni cluster that fails over between sites by itself");
});

test("Patroni timings that break loop_wait + 2*retry_timeout <= ttl", () => {
    const raw = base();
    raw.patroni = { ...raw.patroni, ttl: 20, loopWait: 10, retryTimeout: 10 };
    const e = failure(raw);
    expect(e.key).toBe("patroni");
    expect(e.message).toContain("loopWait 10 + 2 * retryTimeout 10 = 30 exceeds ttl 20");
});

test("a ttl Patroni 4 would silently raise", () => {
    const raw = base();
    raw.patroni = { ...raw.patroni, ttl: 10, loopWait: 2, retryTimeout: 3 };
    expect(failure(raw).key).toBe("patroni.ttl");
});

test("a site named by the stack but absent from the plan", () => {
    const raw = base();
    raw.site = "dc9";
    const e = failure(raw);
    expect(e.key).toBe("site");
    expect(e.message).toContain('"dc9" is not a site of the plan (dc1, dc2, dc3)');
});

test("a secondary site without the primary stack to read", () => {
    const raw = JSON.parse(JSON.stringify(readStackConfig("dc2")));
    delete raw.primaryStack;
    expect(failure(raw).key).toBe("primaryStack");
});

test("a role that does not exist", () => {
    const raw = base();
    raw.sites.dc1.hosts[0].roles = ["etc"];
    const e = failure(raw);
    expect(e.key).toBe("sites.dc1.hosts[0].roles");
    expect(e.message).toContain('unknown role "etc"');
});

test("defaults fill what the config leaves out", () => {
    const raw = base();
    delete raw.patroni;
    delete raw.haproxy;
    const c = loadStackConfig(raw);
    expect(c.patroni).toEqual({ scope: "nextcloud", ttl: 20, loopWait: 5, retryTimeout: 5, maximumLagOnFailover: 1048576, parameters: {} });
    expect(c.haproxy.checkIntervalMs).toBe(1000);
    expect(c.proxmox.datastore).toBe("local-lvm");
});

test("certificates: a renewal window over half the lifetime is refused (every up would renew), naming the key and the bound", () => {
    const raw = base();
    expect(loadStackConfig(raw).certificates).toEqual({ hostDays: 365, renewBeforeDays: 30, caSigning: 0, caTrusted: [0] });
    raw.certificates = { hostDays: 30, renewBeforeDays: 20 };
    const e = failure(raw);
    expect(e.key).toBe("certificates.renewBeforeDays");
    expect(e.message).toContain("use at most 15");
    expect(failure({ ...base(), certificates: { hostDays: 5 } }).key).toBe("certificates.hostDays");
});

test("certificates.caSigning and caTrusted: one CA or two consecutive ones trusted, the signing one among them; a rotation names both; anything else refused with the key and the way", () => {
    const ca = (c: object) => loadStackConfig({ ...base(), certificates: c }).certificates;
    expect(ca({ caTrusted: [0, 1] })).toMatchObject({ caSigning: 0, caTrusted: [0, 1] });
    expect(ca({ caSigning: 1, caTrusted: [1, 0] })).toMatchObject({ caSigning: 1, caTrusted: [0, 1] });
    expect(ca({ caSigning: 1, caTrusted: [1] })).toMatchObject({ caSigning: 1, caTrusted: [1] });
    const jump = failure({ ...base(), certificates: { caSigning: 1 } });
    expect([jump.key, jump.message]).toEqual(["certificates.caTrusted", expect.stringContaining("caTrusted: [0, 1]")]);
    expect(failure({ ...base(), certificates: { caSigning: 2, caTrusted: [0, 1] } }).key).toBe("certificates.caSigning");
    expect(failure({ ...base(), certificates: { caTrusted: [0, 2] } }).message).toContain("two consecutive ones");
    expect(failure({ ...base(), certificates: { caTrusted: [] } }).key).toBe("certificates.caTrusted");
    expect(failure({ ...base(), certificates: { caTrusted: "0,1" } }).key).toBe("certificates.caTrusted");
    expect(failure({ ...base(), certificates: { caTrusted: [0, -1] } }).key).toBe("certificates.caTrusted[1]");
});

test("packages.update: a generation, 0 by default; a negative one or another key refused with the key", () => {
    expect(loadStackConfig(base()).packages).toEqual({ update: 0 });
    expect(loadStackConfig({ ...base(), packages: { update: 3 } }).packages.update).toBe(3);
    expect(failure({ ...base(), packages: { update: -1 } }).key).toBe("packages.update");
    expect(failure({ ...base(), packages: { upgrade: 1 } }).key).toBe("packages.upgrade");
});

test("passwords.rotation: a generation per rotatable role, 0 by default; another name or a negative number refused with the key", () => {
    expect(loadStackConfig(base()).passwords.rotation).toEqual({ superuser: 0, replication: 0, rewind: 0, restApi: 0, app: 0 });
    expect(loadStackConfig({ ...base(), passwords: { rotation: { replication: 2 } } }).passwords.rotation.replication).toBe(2);
    const redis = failure({ ...base(), passwords: { rotation: { redis: 1 } } });
    expect(redis.key).toBe("passwords.rotation.redis");
    expect(redis.message).toContain("the keys here are superuser, replication, rewind, restApi, app");
    expect(failure({ ...base(), passwords: { rotation: { app: -1 } } }).key).toBe("passwords.rotation.app");
});

test("patroni.parameters: plain values kept (booleans as on/off); the platform's own, odd names and values that could break a line refused", () => {
    const raw = base();
    raw.patroni = { ...raw.patroni, parameters: { max_connections: 300, work_mem: "8MB", jit: false, "auto_explain.log_min_duration": "5s" } };
    expect(loadStackConfig(raw).patroni.parameters).toEqual({ max_connections: 300, work_mem: "8MB", jit: "off", "auto_explain.log_min_duration": "5s" });
    const refused = (parameters: unknown) => failure({ ...base(), patroni: { ...base().patroni, parameters } });
    expect(refused({ wal_level: "minimal" })).toMatchObject({ key: "patroni.parameters.wal_level" });
    expect(refused({ wal_level: "minimal" }).message).toContain("set by the platform");
    expect(refused({ "Work-Mem": "8MB" }).key).toBe("patroni.parameters.Work-Mem");
    for (const name of ["auto_explain.", "a..b", "a.1b", "a.b.c"]) expect(refused({ [name]: "1" }).key).toBe(`patroni.parameters.${name}`);
    expect(refused({ max_wal_senders: 2 }).message).toContain("set by the platform");
    expect(refused({ work_mem: "8MB\nlisten_addresses = '*'" }).key).toBe("patroni.parameters.work_mem");
    expect(refused({ work_mem: { nested: 1 } }).message).toContain("not a plain value");
    expect(refused(["work_mem"]).key).toBe("patroni.parameters");
});

test("a host without a VM id is refused: ids never come from a host's position", () => {
    const raw = base();
    delete raw.sites.dc2.hosts[1].vmId;
    const e = failure(raw);
    expect(e.key).toBe("sites.dc2.hosts[1].vmId");
    expect(e.message).toMatch(/^nextcloud-ha:sites.dc2.hosts\[1\].vmId: missing; give every host an explicit Proxmox VM id/);
    expect(e.message).toContain("Proxmox would replace the VM with its disks");
});

test("vmIdBase is refused with what to do instead", () => {
    const raw = base();
    raw.sites.dc1.vmIdBase = 1100;
    const e = failure(raw);
    expect(e.key).toBe("sites.dc1.vmIdBase");
    expect(e.message).toContain("give every host its current id as vmId");
});

test("two hosts with one VM id are refused", () => {
    const raw = base();
    raw.sites.dc2.hosts[0].vmId = 1101;
    expect(failure(raw).message).toMatch(/^nextcloud-ha:sites.dc2.hosts\[0\].vmId: VM id 1101 is already used by sites.dc1.hosts\[0\]/);
});

test("fenced takes true or false", () => {
    const raw = base();
    raw.sites.dc1.fenced = "yes";
    const e = failure(raw);
    expect(e.key).toBe("sites.dc1.fenced");
    expect(e.message).toContain('expected true or false, got "yes"');
});

describe("values that would reach a rendered file or open too much are refused, naming the key, the value and the fix", () => {
    const refused = (edit: (raw: any) => void, key: string, message: RegExp) => {
        const raw = base();
        edit(raw);
        const e = failure(raw);
        expect(e.key).toBe(key);
        expect(e.message).toMatch(message);
        expect(e.message.split("\n")).toHaveLength(1);
    };
    test("an address with leading zeros", () =>
        refused(
            (r) => (r.sites.dc1.hosts[1].address = "10.10.1.021"),
            "sites.dc1.hosts[1].address",
            /"10\.10\.1\.021" is not an IPv4 address; .*without leading zeros/,
        ));
    test("a host at the network's or the broadcast address", () => {
        refused(
            (r) => (r.sites.dc1.hosts[1].address = "10.10.1.0"),
            "sites.dc1.hosts[1].address",
            /10\.10\.1\.0 is the network or broadcast address of 10\.10\.1\.0\/24/,
        );
        refused((r) => (r.sites.dc1.hosts[1].address = "10.10.1.255"), "sites.dc1.hosts[1].address", /is the network or broadcast address/);
    });
    test("a site network so wide it opens the database to half the internet", () =>
        refused((r) => (r.sites.dc1.cidr = "0.0.0.0/1"), "sites.dc1.cidr", /0\.0\.0\.0\/1 is wider than \/16: pg_hba opens the database/));
    test("a management address of 0.0.0.0 or outside the site", () => {
        refused((r) => (r.sites.dc1.hosts[1].managementAddress = "0.0.0.0"), "sites.dc1.hosts[1].managementAddress", /0\.0\.0\.0 is outside the site's cidr/);
        refused(
            (r) => (r.sites.dc1.hosts[1].managementAddress = "10.10.2.7"),
            "sites.dc1.hosts[1].managementAddress",
            /outside the site's cidr 10\.10\.1\.0\/24/,
        );
    });
    test("a host name ending in a dash", () =>
        refused((r) => (r.sites.dc1.hosts[1].name = "dc1-db-"), "sites.dc1.hosts[1].name", /"dc1-db-" is not a valid name; .*not ending with a dash/));
    test("a VM id equal to the template's", () =>
        refused(
            (r) => (r.sites.dc1.hosts[1].vmId = r.proxmox.templateVmId),
            "sites.dc1.hosts[1].vmId",
            /is the template's VM id \(proxmox\.templateVmId\); give dc1-db1 another id/,
        ));
    test.each(["nextcloud:latest", "nextcloud:stable", "nextcloud:31", "nextcloud:31-apache", "nextcloud", "nextcloud:31.0.9-fpm"])(
        "a floating image tag: %s",
        (image) =>
            refused(
                (r) => (r.nextcloud = { ...(r.nextcloud ?? {}), image }),
                "nextcloud.image",
                /is not a pinned image of the Apache variant; name a full version tag/,
            ),
    );
    test("a pinned tag or a digest is taken", () => {
        for (const image of [
            "nextcloud:31.0.9-apache",
            "nextcloud:31.0.9",
            `registry.example.org/nextcloud@sha256:${"a".repeat(64)}`,
            "registry.example.org:5000/library/nextcloud:31.0.9-apache",
            `nextcloud:31.0.9-apache@sha256:${"b".repeat(64)}`,
        ]) {
            const raw = base();
            raw.nextcloud = { ...(raw.nextcloud ?? {}), image };
            expect(loadStackConfig(raw).nextcloud.image).toBe(image);
        }
    });
    test.each(["", "files.example.org\nevil", "cloud.example.org}", "a b"])(
        "a trusted domain that is empty or would break NGINX's or Nextcloud's config: %j",
        (d) =>
            refused(
                (r) => (r.nextcloud = { ...(r.nextcloud ?? {}), trustedDomains: ["files.example.org", d] }),
                "nextcloud.trustedDomains[1]",
                /is not a domain Nextcloud can trust/,
            ),
    );
    test("trusted domains Nextcloud takes: wildcards, addresses, ports", () => {
        const raw = base();
        raw.nextcloud = { ...(raw.nextcloud ?? {}), trustedDomains: ["*.example.org", "10.10.1.31", "files.example.org:8443", "Files.Example.org"] };
        expect(loadStackConfig(raw).nextcloud.trustedDomains).toContain("*.example.org");
    });
    test.each(["eth0\n  virtual_ipaddress { 1.2.3.4 }", "eth0}", "a-very-long-interface-name"])("a vipInterface keepalived would run with: %j", (i) =>
        refused((r) => (r.sites.dc1.vipInterface = i), "sites.dc1.vipInterface", /is not a network interface name/),
    );
    test("Proxmox node, datastore, bridge and template node names", () => {
        refused((r) => (r.sites.dc1.proxmoxNode = "pve dc1"), "sites.dc1.proxmoxNode", /is not a Proxmox node name/);
        refused((r) => (r.sites.dc1.hosts[1].proxmoxNode = "pve/../x"), "sites.dc1.hosts[1].proxmoxNode", /is not a Proxmox node name/);
        refused((r) => (r.proxmox.datastore = "local lvm"), "proxmox.datastore", /is not a Proxmox storage id/);
        refused((r) => (r.proxmox.snippetsDatastore = "local:snippets"), "proxmox.snippetsDatastore", /is not a Proxmox storage id/);
        refused((r) => (r.proxmox.bridge = "vmbr0;reboot"), "proxmox.bridge", /is not a bridge name/);
        refused((r) => (r.proxmox.templateNode = "-pve"), "proxmox.templateNode", /is not a Proxmox node name/);
    });
    test("an SSH key entry of more than one line", () =>
        refused(
            (r) => (r.sshAuthorizedKeys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps op@example\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvil evil@example"]),
            "sshAuthorizedKeys[0]",
            /is not one SSH public key line .*no line break/,
        ));
});

test("managementNetworks: CIDRs the operators work from, the sites' networks by default; a bad or too wide one refused with the key", () => {
    expect(loadPlan(base()).plan.managementNetworks).toEqual(loadPlan(base()).plan.networks);
    const raw = base();
    raw.managementNetworks = ["192.168.77.0/24", "10.0.0.5/32"];
    expect(loadPlan(raw).plan.managementNetworks).toEqual(["192.168.77.0/24", "10.0.0.5/32"]);
    for (const [v, key, message] of [
        [[], "managementNetworks", /non-empty list/],
        [["192.168.77.5"], "managementNetworks[0]", /is not an IPv4 CIDR; .*"10\.10\.0\.5\/32"/],
        [["0.0.0.0/0"], "managementNetworks[0]", /wider than \/16/],
    ] as [unknown, string, RegExp][]) {
        const r = base();
        r.managementNetworks = v;
        const e = failure(r);
        expect(e.key).toBe(key);
        expect(e.message).toMatch(message);
    }
});
