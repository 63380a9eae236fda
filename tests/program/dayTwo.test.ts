/**
 * Day two under mocks: a change of the config changes the triggers of exactly the converge
 * steps whose files change, on exactly the hosts that receive them, and the changed trigger
 * names the file (a preview's diff says which host and file, never the content).
 */
import { readStackConfig } from "../../plan/stackFiles";
import { hostFile, MockRun, runProgram } from "../helpers/mocks";

/** Every converge step's and cluster step's triggers, by step name. */
function triggers(run: MockRun): Record<string, string[]> {
    return Object.fromEntries(
        run
            .byType("command:remote:Command")
            .filter((c) => c.name.includes("-converge-") || c.name.endsWith("-cluster-config"))
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
    const after = triggers(
        (
            await runProgram("dc1", {
                patroni: raw.patroni,
                haproxy: raw.haproxy,
                etcd: raw.etcd,
                sites: raw.sites,
                packages: raw.packages,
                certificates: raw.certificates,
            })
        ).run,
    );
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    return Object.fromEntries(
        Object.entries(after)
            .map(([step, t]) => [step, t.filter((x) => !before[step].includes(x))] as [string, string[]])
            .filter(([, diff]) => diff.length > 0),
    );
}

test("the steps are the hosts' services, each triggered by its files, its script and its VM (a replaced VM gets its config again)", () => {
    expect(Object.keys(before).sort()).toEqual([
        "dc1-db1-converge-patroni",
        "dc1-db1-converge-patroni-roles",
        "dc1-etcd1-converge-etcd",
        "dc1-etcd1-converge-etcd-auth",
        "dc1-lb1-converge-haproxy",
        "nextcloud-cluster-config",
    ]);
    // etcd's auth step: what it sets, its script's hash (its passwords are in the script, secret on the wire), the VM.
    expect(before["dc1-etcd1-converge-etcd-auth"].map((t) => t.replace(/[0-9a-f]{16}$/, "H"))).toEqual([
        "user patroni-nextcloud: readwrite /service/nextcloud/",
        "script sha256:H",
        expect.stringMatching(/^vm /),
    ]);
    expect(before["dc1-etcd1-converge-etcd"].map((t) => t.split(" ")[0])).toEqual([
        "/etc/default/etcd",
        "/etc/etcd/bootstrap.env",
        "/etc/systemd/system/etcd.service.d/50-nextcloud-ha.conf",
        "/usr/local/lib/nextcloud-ha/etcd-member.py",
        "/etc/etcd/etcdctl.env",
        "/etc/etcd/pki/ca.crt",
        "/etc/etcd/pki/member.crt",
        "/etc/etcd/pki/member.key",
        "/etc/etcd/root.password",
        "script",
        "vm",
    ]);
});

test("an HAProxy timing changes HAProxy's config on the load balancer, and nothing else", async () => {
    const diff = await changed((raw) => (raw.haproxy = { checkIntervalMs: 2000 }));
    expect(Object.keys(diff)).toEqual(["dc1-lb1-converge-haproxy"]);
    expect(diff["dc1-lb1-converge-haproxy"]).toEqual([expect.stringMatching(/^\/etc\/haproxy\/haproxy.cfg 0600 root:root sha256:/)]);
});

test("an etcd timing changes the etcd member's environment file, and nothing else", async () => {
    const diff = await changed((raw) => (raw.etcd = { heartbeatMs: 150, electionTimeoutMs: 1500 }));
    expect(Object.keys(diff)).toEqual(["dc1-etcd1-converge-etcd"]);
    expect(diff["dc1-etcd1-converge-etcd"].map((t) => t.split(" ")[0])).toEqual(["/etc/default/etcd"]);
});

test("an etcd member replaced in another site (dc2-etcd1 out, dc2-etcd2 in): here only what a member reads at its first start changes, and Patroni's etcd hosts (a reload)", async () => {
    const diff = await changed((raw) => {
        const dc2 = raw.sites.dc2;
        dc2.hosts = dc2.hosts.map((h: any) => (h.name === "dc2-etcd1" ? { ...h, name: "dc2-etcd2", vmId: 1204, address: "10.10.2.12" } : h));
    });
    expect(Object.keys(diff).sort()).toEqual(["dc1-db1-converge-patroni", "dc1-etcd1-converge-etcd"]);
    // No restart: /etc/default/etcd (what a running member reads) is not among them; these apply nothing (render/converge.ts `noapply`).
    expect(diff["dc1-etcd1-converge-etcd"].map((t) => t.split(" ")[0])).toEqual([
        "/etc/etcd/bootstrap.env",
        "/usr/local/lib/nextcloud-ha/etcd-member.py",
        "/etc/etcd/etcdctl.env",
    ]);
    expect(diff["dc1-db1-converge-patroni"].map((t) => t.split(" ")[0])).toEqual(["/etc/patroni/config.yml"]);
});

test("a CA rotation in three rounds: both CAs trusted (only ca.crt changes, on the hosts that hold one), then the new one signs, then only the new one is trusted", async () => {
    const trust = await changed((raw) => (raw.certificates = { caSigning: 0, caTrusted: [0, 1] }));
    expect(Object.keys(trust).sort()).toEqual(["dc1-db1-converge-patroni", "dc1-etcd1-converge-etcd", "dc1-lb1-converge-haproxy"]);
    // Keys aside: the mock draws a key's value by creation order, and the new CA's key comes first.
    const files = (step: string) => trust[step].map((t) => t.split(" ")[0]).filter((f) => !f.endsWith(".key"));
    expect(files("dc1-etcd1-converge-etcd")).toEqual(["/etc/etcd/pki/ca.crt"]);
    expect(files("dc1-db1-converge-patroni")).toEqual(["/etc/patroni/pki/ca.crt"]);
    expect(files("dc1-lb1-converge-haproxy")).toEqual(["/etc/haproxy/pki/ca.crt"]);
    const round = async (signing: number, trusted: number[]) => {
        const { run } = await runProgram("dc1", { certificates: { caSigning: signing, caTrusted: trusted } });
        const cas = run.byType("tls:index/selfSignedCert:SelfSignedCert").map((c) => c.name);
        const signedWith = run.byType("tls:index/locallySignedCert:LocallySignedCert").map((c) => JSON.stringify(c.inputs.caCertPem));
        return { cas, signedWith, caFile: hostFile(run, "dc1-etcd1", "/etc/etcd/pki/ca.crt") };
    };
    const one = await round(0, [0, 1]);
    expect(one.cas.sort()).toEqual(["shared-etcd-ca", "shared-etcd-ca-1"]);
    expect(one.caFile).toContain("cert-shared-etcd-ca\n");
    expect(one.caFile).toContain("cert-shared-etcd-ca-1\n");
    for (const s of one.signedWith) expect(s).toMatch(/cert-shared-etcd-ca\\n/);
    const two = await round(1, [0, 1]);
    for (const s of two.signedWith) expect(s).toMatch(/cert-shared-etcd-ca-1\\n/);
    const three = await round(1, [1]);
    expect(three.cas).toEqual(["shared-etcd-ca-1"]);
    expect(three.caFile).not.toContain("cert-shared-etcd-ca\n");
    expect(three.caFile).toContain("cert-shared-etcd-ca-1\n");
});

test("a package update (packages.update raised) names each service's packages in its step's triggers, on every host, and changes no file and no cluster step", async () => {
    const diff = await changed((raw) => (raw.packages = { update: 1 }));
    expect(Object.keys(diff).sort()).toEqual(["dc1-db1-converge-patroni", "dc1-etcd1-converge-etcd", "dc1-lb1-converge-haproxy"]);
    expect(diff["dc1-etcd1-converge-etcd"]).toEqual(["packages etcd-server,etcd-client update 1", expect.stringMatching(/^script sha256:/)]);
    expect(diff["dc1-db1-converge-patroni"]).toEqual([
        "packages postgresql-17,postgresql-client-17,patroni,python3-etcd update 1",
        expect.stringMatching(/^script sha256:/),
    ]);
    expect(diff["dc1-lb1-converge-haproxy"]).toEqual(["packages haproxy update 1", expect.stringMatching(/^script sha256:/)]);
});

test("a Patroni setting changes Patroni's config on the database host and the cluster step, which names the setting", async () => {
    const diff = await changed((raw) => (raw.patroni = { ...raw.patroni, maximumLagOnFailover: 2097152 }));
    expect(Object.keys(diff).sort()).toEqual(["dc1-db1-converge-patroni", "nextcloud-cluster-config"]);
    expect(diff["dc1-db1-converge-patroni"].map((t) => t.split(" ")[0])).toEqual(["/etc/patroni/config.yml"]);
    expect(diff["nextcloud-cluster-config"]).toEqual(["maximum_lag_on_failover: 2097152", expect.stringMatching(/^script sha256:/)]);
});

test("a PostgreSQL parameter reaches the cluster step as a named setting (its rolling restart is the step's)", async () => {
    const diff = await changed((raw) => (raw.patroni = { ...raw.patroni, parameters: { max_connections: 300, work_mem: "8MB" } }));
    expect(Object.keys(diff).sort()).toEqual(["dc1-db1-converge-patroni", "nextcloud-cluster-config"]);
    expect(diff["nextcloud-cluster-config"]).toEqual([
        "postgresql.parameters.max_connections: 300",
        'postgresql.parameters.work_mem: "8MB"',
        expect.stringMatching(/^script sha256:/),
    ]);
});

test("one stack owns the cluster step: the configuring member's, after its members converged, run as postgres", async () => {
    const dc1 = await runProgram("dc1");
    const step = dc1.run.byType("command:remote:Command").find((c) => c.name === "nextcloud-cluster-config")!;
    expect(step.inputs.create).toBe("sudo -u postgres python3 -");
    expect((step.inputs.connection as any).value).toMatchObject({ host: "10.10.1.21", hostKey: "ssh-ed25519 AAAAmockdc1-db1-ssh-host-key" });
    expect(dc1.waitsFor("nextcloud-cluster-config")).toContain("dc1-db1-converge-patroni");
    const dc2 = await runProgram("dc2");
    expect(dc2.run.byType("command:remote:Command").filter((c) => c.name.endsWith("-cluster-config"))).toEqual([]);
});

test("host certificates live certificates.hostDays and are renewed by a pulumi up inside renewBeforeDays (one year and 30 days by default)", async () => {
    const certs = (run: MockRun) => run.byType("tls:index/locallySignedCert:LocallySignedCert");
    const dflt = certs((await runProgram("dc1")).run);
    expect(dflt.length).toBeGreaterThan(0);
    for (const c of dflt) expect([c.inputs.validityPeriodHours, c.inputs.earlyRenewalHours]).toEqual([365 * 24, 30 * 24]);
    const short = certs((await runProgram("dc1", { certificates: { hostDays: 90, renewBeforeDays: 20 } })).run);
    for (const c of short) expect([c.inputs.validityPeriodHours, c.inputs.earlyRenewalHours]).toEqual([90 * 24, 20 * 24]);
});

test("a password rotation draws a new password and changes it on the primary before any member's or consumer's step, the preview naming the role, never the password", async () => {
    const dc1 = await runProgram("dc1", { passwords: { rotation: { replication: 1 } } });
    const keepers = Object.fromEntries(
        dc1.run.byType("random:index/randomPassword:RandomPassword").map((p) => [p.name, (p.inputs.keepers as Record<string, string> | undefined) ?? null]),
    );
    // Only the rotated one is replaced; generation 0 sets no keepers, so the passwords made before rotation existed stay.
    expect(keepers["shared-replication"]).toEqual({ rotation: "1" });
    expect(Object.entries(keepers).filter(([name, k]) => name !== "shared-replication" && k !== null)).toEqual([]);
    const steps = triggers(dc1.run);
    const roles = steps["dc1-db1-converge-patroni-roles"];
    expect(roles.filter((t) => !before["dc1-db1-converge-patroni-roles"].includes(t))).toEqual(["passwords.rotation.replication: 1"]);
    const step = dc1.run.byType("command:remote:Command").find((c) => c.name === "dc1-db1-converge-patroni-roles")!;
    expect(step.inputs.create).toBe("sudo -u postgres python3 -");
    // The roles step first; the other members wait for this host's Patroni step, and the cluster step for them.
    expect(dc1.waitsFor("dc1-db1-converge-patroni")).toContain("dc1-db1-converge-patroni-roles");
    expect(dc1.waitsFor("nextcloud-cluster-config")).toContain("dc1-db1-converge-patroni-roles");
    // The stack that does not configure the cluster has no roles step.
    const dc2 = await runProgram("dc2");
    expect(dc2.run.byType("command:remote:Command").filter((c) => c.name.endsWith("-roles"))).toEqual([]);
});

test("a Patroni or etcd member leaves its cluster before its VM goes: a leave step that changes only with the VM, its delete the leave script", async () => {
    const dc1 = await runProgram("dc1");
    const leave = dc1.run.byType("command:remote:Command").find((c) => c.name === "dc1-db1-leave-patroni")!;
    expect(leave.inputs.create).toBe("true");
    expect(leave.inputs.delete).toBe("sudo python3 /usr/local/lib/nextcloud-ha/patroni-leave.py");
    expect(leave.inputs.triggers).toEqual(["vm 1102"]); // never changes: a replacement would run the leave script on a member that stays
    expect(dc1.waitsFor("dc1-db1-leave-patroni")).toContain("dc1-db1-converge-patroni");
    const etcd = dc1.run.byType("command:remote:Command").find((c) => c.name === "dc1-etcd1-leave-etcd")!;
    expect(etcd.inputs.delete).toBe("sudo python3 /usr/local/lib/nextcloud-ha/etcd-member.py leave");
    expect(etcd.inputs.triggers).toEqual(["vm 1101"]);
    // Only members leave; the converge steps themselves have no delete (a changed trigger replaces them).
    const withDelete = dc1.run.byType("command:remote:Command").filter((c) => c.inputs.delete !== undefined);
    expect(withDelete.map((c) => c.name).sort()).toEqual(["dc1-db1-leave-patroni", "dc1-etcd1-leave-etcd"]);
});
