/**
 * The app tier under mocks: the containers and their environment, one installer and one
 * cron runner, the same Nextcloud secrets on dc1 and dc2 (dc2 reads dc1's real exports),
 * and no secret in plain text.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { labCertificate } from "../../lab/pki";
import { review } from "../../policies/rules";
import { readStackConfig } from "../../plan/stackFiles";
import { appTierConfig, userDataOf } from "../helpers/configs";
import { hostFile, hostFiles, MockRun, plainParts, reviewed, runProgram, valueOf } from "../helpers/mocks";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-cert-"));
const wildcard = labCertificate(dir, "cloud.example.org");
const TLS = { tlsCertificate: wildcard.cert, tlsKey: wildcard.key };
fs.rmSync(dir, { recursive: true });

async function runStack(stack: string, primaryOutputs?: Record<string, unknown>) {
    const app: any = appTierConfig();
    const overrides = { sites: app.sites, nextcloud: app.nextcloud, ...TLS, ...(stack === "dc1" ? {} : { primaryStack: readStackConfig(stack).primaryStack }) };
    return runProgram(stack, overrides, primaryOutputs);
}

const containers = (run: MockRun, host: string) => run.byType("docker:index/container:Container").filter((c) => c.name.startsWith(`${host}-`));
const envOf = (c: { inputs: Record<string, unknown> }) => ((c.inputs.envs as any)?.value ?? c.inputs.envs) as string[];
const nextcloudConfigOf = (run: MockRun, host: string) => hostFile(run, host, "/etc/nextcloud-ha/nextcloud-ha.config.php");

let dc1: Awaited<ReturnType<typeof runStack>>;

beforeAll(async () => {
    dc1 = await runStack("dc1");
}, 30000);

test("dc1: the installer (with cron) on the first app node, a plain app node beside it; Redis is a host service, not a container", () => {
    expect(containers(dc1.run, "dc1-app1").map((c) => c.inputs.name)).toEqual(["nextcloud", "nextcloud-cron"]);
    expect(containers(dc1.run, "dc1-app2").map((c) => c.inputs.name)).toEqual(["nextcloud"]);
    const installer = containers(dc1.run, "dc1-app1").find((c) => c.inputs.name === "nextcloud")!;
    const keys = (c: any) =>
        envOf(c)
            .map((e) => e.split("=")[0])
            .sort();
    expect(keys(installer)).toEqual(
        expect.arrayContaining([
            "NEXTCLOUD_ADMIN_USER",
            "NEXTCLOUD_ADMIN_PASSWORD_FILE",
            "POSTGRES_HOST",
            "POSTGRES_PASSWORD_FILE",
            "NC_instanceid",
            "NC_secret",
        ]),
    );
    // The installer's passwords by file only: nothing in a container's lasting environment or command line.
    expect(keys(installer)).not.toContain("NEXTCLOUD_ADMIN_PASSWORD");
    expect(keys(installer)).not.toContain("POSTGRES_PASSWORD");
    expect(envOf(installer)).toContain("PHP_UPLOAD_LIMIT=16G");
    expect(envOf(installer)).toContain("POSTGRES_HOST=10.10.1.31:5000");
    const other = containers(dc1.run, "dc1-app2")[0];
    expect(keys(other)).not.toContain("NEXTCLOUD_ADMIN_USER");
    expect(keys(other)).not.toContain("POSTGRES_PASSWORD");
    expect(other.inputs.ports).toEqual([{ internal: 80, external: 8080 }]);
    expect((other.inputs.mounts as any[]).map((m) => `${m.source}:${m.target}`)).toContain("/srv/nextcloud/data:/var/www/html/data");
    const cron = dc1.run.byType("docker:index/container:Container").filter((c) => (c.inputs.entrypoints as string[] | undefined)?.[0] === "/cron.sh");
    expect(cron.map((c) => c.name)).toEqual(["dc1-app1-nextcloud-cron"]);
    expect(dc1.run.byType("command:remote:Command").map((c) => c.name)).toContain("dc1-app1-wait-installed");
});

test("the docker providers reach the app nodes over SSH", () => {
    const providers = dc1.run
        .byType("pulumi:providers:docker")
        .map((p) => p.inputs.host)
        .sort();
    expect(providers).toEqual(["ssh://debian@10.10.1.51", "ssh://debian@10.10.1.52"]);
});

test("the docker providers pin the VM's host key (strict checking against a known_hosts of that key alone), never accept-new", () => {
    for (const p of dc1.run.byType("pulumi:providers:docker")) {
        const opts = (typeof p.inputs.sshOpts === "string" ? JSON.parse(p.inputs.sshOpts) : p.inputs.sshOpts) as string[];
        expect(opts).toContain("StrictHostKeyChecking=yes");
        expect(opts.join(" ")).not.toContain("accept-new");
        const file = opts.find((o) => o.startsWith("UserKnownHostsFile="))!.split("=")[1];
        const address = String(p.inputs.host).split("@")[1];
        const host = address === "10.10.1.51" ? "dc1-app1" : "dc1-app2";
        expect(fs.readFileSync(file, "utf8")).toBe(`${address} ssh-ed25519 AAAAmock${host}-ssh-host-key\n`);
    }
});

test("dc2 installs nothing and runs no cron; its config.php holds exactly dc1's instanceid, passwordsalt and secret", async () => {
    const shared = await valueOf(dc1.program.sharedSecrets!);
    const caCert = await valueOf(dc1.program.etcdCaCertPem!);
    // dc1's own exports, the identities it issued for dc2's hosts among them.
    const hostIdentities = await valueOf(dc1.program.hostIdentities!);
    const dc2 = await runStack("dc2", { sharedSecrets: shared, etcdCaCertPem: caCert, hostIdentities });
    expect(hostFile(dc2.run, "dc2-app1", "/etc/nextcloud-ha/pki/ca.crt")).toBe(caCert);
    expect(containers(dc2.run, "dc2-app1").map((c) => c.inputs.name)).toEqual(["nextcloud"]);
    expect(envOf(containers(dc2.run, "dc2-app1")[0]).map((e) => e.split("=")[0])).not.toContain("NEXTCLOUD_ADMIN_USER");
    const pick = (cfg: string) => ["instanceid", "passwordsalt", "secret"].map((k) => new RegExp(`'${k}' => '([^']*)'`).exec(cfg)![1]);
    const one = pick(nextcloudConfigOf(dc1.run, "dc1-app1"));
    expect(one[0]).toMatch(/^ocmockstr-/);
    expect(pick(nextcloudConfigOf(dc2.run, "dc2-app1"))).toEqual(one);
    expect(pick(nextcloudConfigOf(dc1.run, "dc1-app2"))).toEqual(one);
    expect(nextcloudConfigOf(dc2.run, "dc2-app1")).toContain("'dbhost' => '10.10.2.31:5000',");
    expect(await valueOf(dc2.program.dnsRecords!)).toMatchObject({ name: "cloud.example.org", type: "A", values: ["10.10.2.31"], active: false });
});

test("no secret in plain text; every mandatory policy rule passes, and the app tier's single Redis and cron are warned about", async () => {
    const plain = JSON.stringify(dc1.run.resources.map((r) => plainParts(r.inputs)));
    for (const s of dc1.run.generatedSecrets) expect(plain).not.toContain(s);
    expect(plain).not.toContain("BEGIN PRIVATE KEY"); // the wildcard key
    for (const c of dc1.run.byType("docker:index/container:Container").filter((x) => x.inputs.name !== "nextcloud-cron")) {
        expect(JSON.stringify(plainParts(c.inputs))).toContain("[secret]");
    }
    const violations = review(reviewed(dc1.run, dc1.declared));
    expect(violations.filter((v) => v.enforcement === "mandatory")).toEqual([]);
    // The app tier's known gaps, warned about until it is highly available: one Redis and one cron.
    expect(new Set(violations.map((v) => v.rule))).toEqual(new Set(["failure-domains-service"]));
    const lines = violations.map((v) => v.message);
    expect(lines.some((l) => l.startsWith("losing host dc1-app1 leaves no redis: "))).toBe(true);
    expect(lines.some((l) => l.startsWith("losing site dc1 leaves no cron: "))).toBe(true);
    expect(await pulumi.isSecret(dc1.program.sharedSecrets!)).toBe(true);
    expect(await valueOf(dc1.program.publicEndpoint!)).toEqual({ url: "https://cloud.example.org", addresses: ["10.10.1.31"] });
});

test("NGINX's converge step carries the wildcard certificate and its key (0600), only as a secret; the user data neither", () => {
    const files = hostFiles(dc1.run, "dc1-lb1");
    expect(files.find((f) => f.path === "/etc/nginx/tls/wildcard.crt")!.content).toBe(TLS.tlsCertificate);
    expect(files.find((f) => f.path === "/etc/nginx/tls/wildcard.key")).toMatchObject({ content: TLS.tlsKey, mode: "600", service: "nginx" });
    expect(files.map((f) => f.path)).toContain("/etc/nginx/sites-enabled/nextcloud.conf");
    const step = dc1.run.byType("command:remote:Command").find((c) => c.name === "dc1-lb1-converge-nginx")!;
    expect(JSON.stringify(plainParts(step.inputs))).not.toContain(TLS.tlsKey.split("\n")[1]);
    const snippet = dc1.run.byType("proxmoxve:index/fileLegacy:FileLegacy").find((r) => r.name === "dc1-lb1-user-data")!;
    expect(JSON.stringify(userDataOf(snippet))).not.toContain("wildcard");
});

test("the database password wiring: the app role's password is the one Patroni creates the role with, in config.php and for the installer", () => {
    const bootstrap = hostFile(dc1.run, "dc1-db1", "/etc/patroni/post-bootstrap.sh");
    const created = /CREATE ROLE nextcloud LOGIN PASSWORD '([^']+)'/.exec(bootstrap)![1];
    expect(created).toMatch(/^mockpw-shared-nextcloud-db-/);
    expect(/'dbpassword' => '([^']+)'/.exec(nextcloudConfigOf(dc1.run, "dc1-app2"))![1]).toBe(created);
    const installer = containers(dc1.run, "dc1-app1").find((c) => c.inputs.name === "nextcloud")!;
    expect(envOf(installer)).toContain("POSTGRES_PASSWORD_FILE=/run/nextcloud-ha/install/database-password");
    expect(hostFile(dc1.run, "dc1-app1", "/etc/nextcloud-ha/install/database-password")).toBe(created);
    // The Redis password is another secret altogether, the one the site's Redis requires.
    const redis = /'password' => '([^']+)'/.exec(nextcloudConfigOf(dc1.run, "dc1-app2"))![1];
    expect(redis).toMatch(/^mockpw-shared-redis-/);
    expect(hostFile(dc1.run, "dc1-app1", "/etc/redis/redis.conf")).toContain(`requirepass ${redis}\n`);
    expect(redis).not.toBe(created);
});

test("deploy order: the installer's containers, then its wait for the installation, then every other app node; each Docker host after its VM", () => {
    const { waitsFor } = dc1;
    expect(waitsFor("dc1-app1-wait-installed")).toEqual(expect.arrayContaining(["dc1-app1-nextcloud", "dc1-app1-nextcloud-cron"]));
    expect(waitsFor("dc1-app2-nextcloud")).toContain("dc1-app1-wait-installed");
    expect(waitsFor("dc1-app1-nextcloud")).not.toContain("dc1-app1-wait-installed");
    // Remote steps wait for cloud-init to finish on the VM, not merely for the VM.
    for (const host of ["dc1-app1", "dc1-app2"]) {
        expect(waitsFor(`${host}-docker`)).toContain(`${host}-ready`);
        expect(waitsFor(`${host}-ready`)).toContain(host);
    }
    // The app tier comes after the load balancers (its database route) and the volume (its data directory).
    expect(waitsFor("dc1-nextcloud")).toEqual(expect.arrayContaining(["dc1-lb", "dc1-gluster"]));
    expect(waitsFor("dc1-lb")).toContain("dc1-patroni");
});

test("a host with roles [nginx, nextcloud] is placed by the load balancer, and its containers wait for that VM", async () => {
    const app: any = appTierConfig();
    const host = app.sites.dc2.hosts.find((h: any) => h.name === "dc2-app1");
    host.roles = ["nginx", "nextcloud"];
    app.sites.dc2.hosts.find((h: any) => h.name === "dc2-lb1").roles = ["haproxy"];
    const overrides = { sites: app.sites, nextcloud: app.nextcloud, ...TLS, primaryStack: readStackConfig("dc2").primaryStack };
    const dc2 = await runProgram("dc2", overrides, {
        sharedSecrets: await valueOf(dc1.program.sharedSecrets!),
        etcdCaCertPem: await valueOf(dc1.program.etcdCaCertPem!),
        hostIdentities: await valueOf(dc1.program.hostIdentities!),
    });
    const vm = dc2.declared.find((d) => d.type === "nextcloud-ha:index:ProxmoxHost" && d.name === "dc2-app1")!;
    expect(vm.parent).toBe("dc2-lb");
    expect(dc2.waitsFor("dc2-app1-docker")).toContain("dc2-app1-ready");
    expect(containers(dc2.run, "dc2-app1").map((c) => c.inputs.name)).toEqual(["nextcloud"]);
});
