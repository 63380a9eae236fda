/** The dc1 stack program under Pulumi's mock runtime, with Pulumi.dc1.yaml's real config. */
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { SHARED_OUTPUTS } from "../../components/sharedSecrets";
import { userDataOf as userDataFrom } from "../helpers/configs";
import { hostFile, hostFiles, MockRun, plainParts, runProgram, valueOf } from "../helpers/mocks";
import { readStackConfig } from "../../plan/stackFiles";

const VM = "proxmoxve:index/vmLegacy:VmLegacy";
const SNIPPET = "proxmoxve:index/fileLegacy:FileLegacy";

let run: MockRun;
let stack: Awaited<ReturnType<typeof runProgram>>["program"];

beforeAll(async () => {
    ({ run, program: stack } = await runProgram("dc1"));
});

function userDataOf(host: string): Record<string, any> {
    const snippet = run.byType(SNIPPET).find((r) => r.name === `${host}-user-data`);
    expect(snippet).toBeDefined();
    return userDataFrom(snippet!);
}

test("declares one VM per dc1 host, with names, tags, sizes and static addresses", () => {
    const vms = run.byType(VM);
    expect(vms.map((v) => v.inputs.name).sort()).toEqual(["dc1-db1", "dc1-etcd1", "dc1-lb1"]);
    const db = vms.find((v) => v.inputs.name === "dc1-db1")!.inputs as Record<string, any>;
    expect(db.tags).toEqual(["nextcloud-ha", "dc1", "patroni"]);
    expect(db.cpu.cores).toBe(4);
    expect(db.memory.dedicated).toBe(8192);
    expect(db.disks[0].size).toBe(100);
    expect(db.clone.vmId).toBe(9000);
    expect(db.nodeName).toBe("pve-dc1");
    expect(db.initialization.ipConfigs[0].ipv4).toEqual({ address: "10.10.1.21/24", gateway: "10.10.1.1" });
    expect(db.initialization.userDataFileId).toBe("dc1-db1-user-data-id");
    const etcd = vms.find((v) => v.inputs.name === "dc1-etcd1")!.inputs as Record<string, any>;
    expect(etcd.tags).toEqual(["nextcloud-ha", "dc1", "etcd"]);
    expect(etcd.memory.dedicated).toBe(2048);
});

test("each VM's user data is its bootstrap only: packages, the SSH identity, the files needed before packages; no application secret", () => {
    const db = userDataOf("dc1-db1");
    expect(db.packages).toEqual(expect.arrayContaining(["patroni", "python3-etcd", "postgresql-17"]));
    expect(db.write_files.map((f: any) => f.path)).toEqual(["/etc/postgresql-common/createcluster.d/50-patroni.conf"]);
    expect(db.runcmd).toContainEqual(["systemctl", "disable", "--now", "postgresql.service"]);
    expect(db.ssh_keys.ed25519_public).toBe("ssh-ed25519 AAAAmockdc1-db1-ssh-host-key");
    // Only the host's own SSH host key: no password, no TLS key, no other host's key.
    const own = run.generatedSecrets.filter((s) => s.includes("dc1-db1-ssh-host-key"));
    for (const s of run.generatedSecrets.filter((x) => !own.includes(x))) expect(JSON.stringify(db)).not.toContain(s);
    for (const host of ["dc1-etcd1", "dc1-lb1"]) expect(userDataOf(host).write_files ?? []).toEqual([]);
});

test("each host's converge steps carry the rendered files of its roles, in order, one host at a time", () => {
    const db = hostFiles(run, "dc1-db1");
    expect(db.map((f) => f.path)).toEqual(expect.arrayContaining(["/etc/patroni/config.yml", "/etc/patroni/pki/member.key"]));
    expect(db.find((f) => f.path === "/etc/patroni/config.yml")).toMatchObject({ mode: "600", owner: "postgres:postgres", service: "patroni" });
    const patroni = parse(hostFile(run, "dc1-db1", "/etc/patroni/config.yml"));
    expect(patroni.name).toBe("dc1-db1");
    expect(patroni.postgresql.authentication.replication.password).toMatch(/^mockpw-shared-replication/);
    const env = hostFile(run, "dc1-etcd1", "/etc/etcd/bootstrap.env");
    expect(env).toContain('ETCD_INITIAL_CLUSTER="dc1-etcd1=https://10.10.1.11:2380,dc2-etcd1=https://10.10.2.11:2380,dc3-etcd1=https://10.10.3.11:2380"');
    expect(hostFile(run, "dc1-etcd1", "/etc/etcd/pki/member.crt")).toContain("cert-dc1-etcd1-etcd-tls-cert");
    // HAProxy checks Patroni's REST API over TLS (it trusts the deployment CAs) and serves its stats page with its own certificate.
    expect(hostFiles(run, "dc1-lb1").map((f) => f.path)).toEqual(["/etc/haproxy/haproxy.cfg", "/etc/haproxy/pki/ca.crt", "/etc/haproxy/pki/haproxy.pem"]);
    // Each step sends its script on stdin, as a secret; it runs once cloud-init is done on the host.
    const step = run.byType("command:remote:Command").find((c) => c.name === "dc1-db1-converge-patroni")!;
    expect(step.inputs.create).toBe("sudo sh -s");
    expect(JSON.stringify(plainParts(step.inputs.stdin))).toBe(JSON.stringify("[secret]"));
    expect(step.inputs.triggers).toEqual(
        expect.arrayContaining([expect.stringMatching(/^\/etc\/patroni\/config.yml 0600 postgres:postgres sha256:[0-9a-f]{16}$/)]),
    );
});

test("component outputs resolve to the plan's endpoints and members", async () => {
    expect(await valueOf(stack.etcdClientEndpoints)).toEqual(["https://10.10.1.11:2379", "https://10.10.2.11:2379", "https://10.10.3.11:2379"]);
    expect((await valueOf(stack.patroniMembers)).map((m) => m.name)).toEqual(["dc1-db1", "dc2-db1"]);
    expect(await valueOf(stack.primaryEndpoints)).toEqual(["10.10.1.31:5000"]);
    expect(await valueOf(stack.replicaEndpoints)).toEqual(["10.10.1.31:5001"]);
    const creds = await valueOf(stack.replicationCredentials);
    expect(creds.username).toBe("replicator");
    expect(creds.password).toMatch(/^mockpw-shared-replication/);
});

test("passwords and keys are secret in every input and output", async () => {
    // dc1 makes them: 12 passwords (5 database, 4 Nextcloud, HAProxy's stats, etcd's root and its Patroni user's), the Nextcloud instanceid,
    // the CA key, a TLS key for each of its 3 hosts and for each of the 4 of dc2 and dc3 (it issues
    // theirs: the CA key stays here), and an SSH host key for each of its 3 hosts.
    expect(run.generatedSecrets).toHaveLength(12 + 1 + 1 + 3 + 4 + 3);
    const plain = JSON.stringify(run.resources.map((r) => plainParts(r.inputs)));
    for (const s of run.generatedSecrets) expect(plain).not.toContain(s);
    // The snippets carry the passwords, so the whole user data must be secret.
    for (const snippet of run.byType(SNIPPET)) expect(JSON.stringify(plainParts(snippet.inputs))).toContain("[secret]");
    expect(await pulumi.isSecret(stack.replicationCredentials!)).toBe(true);
    expect(await pulumi.isSecret(stack.sharedSecrets!)).toBe(true);
    expect(await pulumi.isSecret(stack.etcdClientEndpoints!)).toBe(false);
    // Every export that is not secret holds none of the secret values.
    for (const [name, value] of Object.entries(stack)) {
        if (!pulumi.Output.isInstance(value) || (await pulumi.isSecret(value as pulumi.Output<unknown>))) continue;
        const text = JSON.stringify(await valueOf(value as pulumi.Output<unknown>));
        for (const s of run.generatedSecrets) expect(`${name}: ${text}`).not.toContain(s);
    }
});

test("exports what the other sites' stacks read, under the names they read, with the values they need", async () => {
    const exported = stack as unknown as Record<string, pulumi.Output<unknown>>;
    const shared = (await valueOf(exported[SHARED_OUTPUTS.secrets])) as Record<string, Record<string, string>>;
    // Every value of the bundle is one of the passwords this stack generated, under its own name.
    // The CA's key is not among them: it never leaves this stack.
    expect(Object.keys(shared).sort()).toEqual(["database", "etcd", "haproxy", "nextcloud"]);
    expect(shared.haproxy.statsPassword).toMatch(/^mockpw-shared-haproxy-stats-/);
    expect(shared.database.replicationPassword).toMatch(/^mockpw-shared-replication-/);
    expect(shared.database.restApiPassword).toMatch(/^mockpw-shared-restapi-/);
    expect(shared.nextcloud.databasePassword).toBe(shared.database.appPassword);
    expect(shared.nextcloud.instanceId).toMatch(/^ocmockstr-shared-nextcloud-instanceid-/);
    // The other sites' hosts' identities, issued here (secret): every host of dc2 and dc3 that needs one, none of dc1's.
    expect(await pulumi.isSecret(exported[SHARED_OUTPUTS.hostIdentities])).toBe(true);
    const issued = (await valueOf(exported[SHARED_OUTPUTS.hostIdentities])) as Record<string, { cert: string; key: string }>;
    expect(Object.keys(issued).sort()).toEqual(["dc2-db1", "dc2-etcd1", "dc2-lb1", "dc3-etcd1"]);
    expect(issued["dc3-etcd1"].key).toMatch(/^mockkey-dc3-etcd1-etcd-tls-key-/);
    expect(issued["dc3-etcd1"].cert).toContain("cert-dc3-etcd1-etcd-tls-cert");
    expect(await valueOf(exported[SHARED_OUTPUTS.caCert])).toBe("-----BEGIN CERTIFICATE-----\ncert-shared-etcd-ca\n-----END CERTIFICATE-----\n");
    expect(await valueOf(exported[SHARED_OUTPUTS.replication])).toEqual(["10.10.1.31:5000"]);
});

test("registers the components the design names", () => {
    const components = run.resources.filter((r) => r.type.startsWith("nextcloud-ha:"));
    expect(components.map((c) => c.type)).toEqual(
        expect.arrayContaining([
            "nextcloud-ha:index:EtcdQuorum",
            "nextcloud-ha:index:PatroniCluster",
            "nextcloud-ha:index:LoadBalancer",
            "nextcloud-ha:index:ProxmoxHost",
            "nextcloud-ha:index:SharedSecrets",
        ]),
    );
});

test("the Proxmox layer: cloned on the template's node, stable ids, stateful VMs protected, the snippet kept, a serial console, cloud-init on ide2", async () => {
    const db = run.byType(VM).find((v) => v.inputs.name === "dc1-db1")!.inputs as Record<string, any>;
    expect(db.clone).toEqual({ vmId: 9000, nodeName: "pve-dc1", datastoreId: "local-lvm", full: true, retries: 3 });
    expect(db.serialDevices).toEqual([{ device: "socket" }]);
    expect(db.initialization.interface).toBe("ide2");
    expect(db.agent).toMatchObject({ enabled: true, waitForIp: { ipv4: true } });
    expect([db.started, db.onBoot]).toEqual([true, true]);
    const declared = (await runProgram("dc1")).declared;
    const vm = (name: string) => declared.find((d) => d.type === VM && d.name === name)!;
    expect(["dc1-etcd1", "dc1-db1", "dc1-lb1"].map((n) => vm(n).protect)).toEqual([true, true, false]);
    expect(declared.filter((d) => d.type === SNIPPET).every((d) => d.retainOnDelete)).toBe(true);
});

test("a fenced site's VMs are declared stopped and not started at boot", async () => {
    const sites = readStackConfig("dc1").sites as any;
    sites.dc1.fenced = true;
    const fenced = await runProgram("dc1", { sites });
    for (const v of fenced.run.byType(VM)) expect([v.inputs.started, v.inputs.onBoot]).toEqual([false, false]);
    // Nothing connects to a VM that is off on purpose: no readiness wait, no converge step.
    expect(fenced.run.byType("command:remote:Command")).toEqual([]);
});

test("every VM gets a DROP-by-default firewall with the rendered rules", () => {
    const options = run.byType("proxmoxve:firewall/optionsLegacy:OptionsLegacy");
    const rules = run.byType("proxmoxve:firewall/rulesLegacy:RulesLegacy");
    expect(options.map((o) => o.inputs.vmId).sort()).toEqual([1101, 1102, 1103]);
    expect(options.every((o) => o.inputs.inputPolicy === "DROP" && o.inputs.enabled === true)).toBe(true);
    const db = rules.find((r) => r.inputs.vmId === 1102)!.inputs.rules as { dport: string; source?: string }[];
    expect(db.find((r) => r.dport === "5432")!.source).toBe("10.10.1.21/32,10.10.2.21/32,10.10.1.31/32,10.10.2.31/32");
});

test("the datacenter firewall is on (VM rules apply only then), without closing the Proxmox nodes, and stays on when the stack goes", () => {
    const dc = run.byType("proxmoxve:cluster/firewallLegacy:FirewallLegacy");
    expect(dc.map((r) => r.name)).toEqual(["dc1-datacenter-firewall"]);
    expect(dc[0].inputs).toMatchObject({ enabled: true, inputPolicy: "ACCEPT" });
});

test("ipfilter: each VM sends only from its own addresses (its ipfilter-net0 ipset)", () => {
    const options = run.byType("proxmoxve:firewall/optionsLegacy:OptionsLegacy");
    expect(options.every((o) => o.inputs.ipfilter === true)).toBe(true);
    const sets = run.byType("proxmoxve:firewall/ipsetLegacy:IpsetLegacy");
    const db = sets.find((s) => s.inputs.vmId === 1102)!;
    expect(db.inputs.name).toBe("ipfilter-net0");
    expect(db.inputs.cidrs).toEqual([{ name: "10.10.1.21" }]);
    expect(sets).toHaveLength(options.length);
});
