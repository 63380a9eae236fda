/** Each rule of the policy pack, with a complying and a violating resource. */
import { PolicyRule, review, RULES, TYPES } from "../../policies/rules";

const rule = (name: string): PolicyRule => RULES.find((r) => r.name === name)!;
const members = (...nodes: string[]) => nodes.map((n, i) => ({ name: `m${i}`, site: `dc${i + 1}`, proxmoxNode: n }));
const etcd = (n: number) => ({
    type: TYPES.etcd,
    name: "dc1-etcd",
    props: { cluster: { name: "nextcloud-etcd", members: members(...Array.from({ length: n }, (_, i) => `pve${i}`)), leaders: ["m2"] } },
});
const patroni = (over: Record<string, unknown> = {}) => ({
    type: TYPES.patroni,
    name: "dc1-patroni",
    props: {
        topology: "three-site",
        cluster: { scope: "nextcloud", synchronousMode: true, members: members("pve-a", "pve-b") },
        timings: { ttl: 20, loopWait: 5, retryTimeout: 5 },
        ...over,
    },
});

test("etcd-quorum-odd", () => {
    expect(rule("etcd-quorum-odd").check(etcd(3))).toEqual([]);
    expect(rule("etcd-quorum-odd").check(etcd(4))[0]).toMatch(/has 4 members; use 3 or 5/);
    expect(rule("etcd-quorum-odd").check(etcd(1))[0]).toMatch(/has 1 members/);
});

test("etcd-leader-kept: a warning for an etcd cluster over sites without a leader keeper; none within one site", () => {
    const r = rule("etcd-leader-kept");
    expect(r.enforcement).toBe("advisory");
    expect(r.check(etcd(3))).toEqual([]);
    const off = etcd(3);
    off.props.cluster.leaders = [];
    expect(r.check(off)).toEqual([
        expect.stringMatching(/^etcd cluster nextcloud-etcd has no leader keeper \(etcd.keepLeader is false\).*set etcd.keepLeader: true$/),
    ]);
    // two-site: each site's own cluster, its leader in its site whatever it does.
    const oneSite = { ...off, props: { cluster: { ...off.props.cluster, members: off.props.cluster.members.map((m) => ({ ...m, site: "dc1" })) } } };
    expect(r.check(oneSite)).toEqual([]);
});

test("patroni-timings", () => {
    expect(rule("patroni-timings").check(patroni())).toEqual([]);
    expect(rule("patroni-timings").check(patroni({ timings: { ttl: 20, loopWait: 10, retryTimeout: 10 } }))[0]).toMatch(/exceeds ttl 20/);
});

test("three-site-synchronous", () => {
    expect(rule("three-site-synchronous").check(patroni())).toEqual([]);
    expect(rule("three-site-synchronous").check(patroni({ cluster: { scope: "nextcloud", synchronousMode: false, members: [] } }))[0]).toMatch(
        /without synchronous_mode/,
    );
    expect(rule("three-site-synchronous").check(patroni({ topology: "two-site", cluster: { scope: "x", synchronousMode: false } }))).toEqual([]);
});

test("gluster-arbiter", () => {
    const vol = (arbiter: boolean) => ({
        type: TYPES.gluster,
        name: "v",
        props: { volume: "nextcloud", bricks: [{ arbiter: false }, { arbiter: false }, ...(arbiter ? [{ arbiter: true }] : [])] },
    });
    expect(rule("gluster-arbiter").check(vol(true))).toEqual([]);
    expect(rule("gluster-arbiter").check(vol(false))[0]).toMatch(/replica 2 with 0 arbiters.*split-brain/);
});

test("quorum-spread", () => {
    expect(rule("quorum-spread").check(patroni())).toEqual([]);
    const same = patroni({
        cluster: {
            scope: "nextcloud",
            synchronousMode: true,
            members: [
                { name: "a", site: "dc1", proxmoxNode: "pve1" },
                { name: "b", site: "dc1", proxmoxNode: "pve1" },
            ],
        },
    });
    expect(rule("quorum-spread").check(same)[0]).toMatch(/runs on Proxmox node dc1\/pve1/);
});

test("no-plaintext-secrets: names and PEM keys in plain text, not the engine's secret markers", () => {
    const r = rule("no-plaintext-secrets");
    expect(r.check({ type: "docker:index/container:Container", name: "c", props: { envs: ["A=b"], redisPassword: "[secret]" } })).toEqual([]);
    expect(r.check({ type: "x:y:Z", name: "c", props: { auth: { password: "hunter2" } } })).toEqual([
        "input auth.password holds a credential in plain text; pass it as a secret (pulumi.secret, config set --secret, or a @pulumi/random output)",
    ]);
    expect(r.check({ type: "x:y:Z", name: "c", props: { data: "-----BEGIN EC PRIVATE KEY-----\nabc" } })).toHaveLength(1);
    // A violation never repeats the value.
    expect(JSON.stringify(r.check({ type: "x:y:Z", name: "c", props: { password: "hunter2" } }))).not.toContain("hunter2");
});

test("stateful-vm-protected: a VM with an etcd, Patroni or brick role must be protected; the others need not be", () => {
    const vm = (tags: string[], protect: boolean) => ({ type: TYPES.vm, name: "dc1-x", props: { tags: ["nextcloud-ha", "dc1", ...tags] }, opts: { protect } });
    const r = rule("stateful-vm-protected");
    expect(r.check(vm(["patroni"], true))).toEqual([]);
    expect(r.check(vm(["haproxy", "nginx"], false))).toEqual([]);
    expect(r.check(vm(["etcd", "gluster-arbiter"], false))[0]).toMatch(/^VM dc1-x holds data \(etcd, gluster-arbiter\) but is not protected/);
    expect(r.check({ ...vm(["gluster"], false), opts: undefined })).toHaveLength(1);
});

test("review names the rule and the resource of each violation", () => {
    expect(review([etcd(2), patroni()])).toEqual([
        { rule: "etcd-quorum-odd", enforcement: "mandatory", resource: `${TYPES.etcd}::dc1-etcd`, message: expect.stringContaining("has 2 members") },
    ]);
});

test("ports-within-plan: every port but 80 and 443 only from the plan's and the management networks", () => {
    const host = (rules: object[]) => ({ type: TYPES.host, name: "dc1-db1", props: { networks: ["10.10.1.0/24", "10.10.2.0/24"], firewall: rules } });
    const r = rule("ports-within-plan");
    // Each port the platform opens, open to the world: every one reported.
    for (const dport of ["22", "5000:5001", "6379", "24007:24008", "49152:49251", "7000", "8008", "2379", "2380", "5432", "8080"])
        expect(r.check(host([{ dport, proto: "tcp", source: "" }]))).toEqual([expect.stringMatching(new RegExp(`opens port ${dport} to any source`))]);
    expect(r.check(host([{ dport: "", proto: "tcp", source: "" }]))).toHaveLength(1); // every port
    expect(r.check(host([{ dport: "", proto: "vrrp", source: "10.10.1.31/32" }]))).toEqual([]);
    expect(r.check(host([{ dport: "80,443", proto: "tcp", source: "" }]))).toEqual([]);
    expect(
        r.check(
            host([
                { dport: "5432", source: "10.10.1.0/24,10.10.2.0/24" },
                { dport: "80,443", source: "" },
            ]),
        ),
    ).toEqual([]);
    expect(r.check(host([{ dport: "5432", source: "10.10.1.0/24,0.0.0.0/0" }]))[0]).toMatch(
        /opens port 5432 to 10.10.1.0\/24,0.0.0.0\/0, beyond the plan's networks/,
    );
    expect(r.check(host([{ dport: "2379:2380", source: "" }]))[0]).toMatch(/to any source/);
    expect(r.check(host([{ dport: "8000:9000", source: "192.168.0.0/16" }]))).toHaveLength(1);
});
