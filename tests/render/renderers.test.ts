/** The pure renderers: what each host receives, deterministic and free of secrets' values. */
import { spawnSync } from "node:child_process";
import { loadPlan } from "../../plan/load";
import { parse } from "yaml";
import { etcdPeerName, renderEtcdAuthStep, renderEtcdMember } from "../../render/etcd";
import { renderCloudInit } from "../../render/cloudInit";
import { renderHaproxyConfig } from "../../render/haproxy";
import { renderPatroniConfig, renderPgHba } from "../../render/patroni";
import { certificateNames, needsTls, renderHost, secretPartsOf } from "../../render/host";

import { hostByName } from "../../plan/plan";
import { placeholderHostKey, placeholderSecrets, placeholderTls } from "../../render/placeholders";

import { readStackConfig } from "../../plan/stackFiles";
import { twoSiteConfig } from "../helpers/configs";

const PLACEHOLDER_DATABASE = placeholderSecrets().database;

const plan = loadPlan(readStackConfig("dc1")).plan;
const tls = (h: string) => placeholderTls(h);
const ROOT = placeholderSecrets().etcd;
const identity = (h: string) => ({ sshAuthorizedKeys: ["ssh-ed25519 AAAAtest op@example"], sshUser: "debian", hostKey: placeholderHostKey(h) });

test("etcd: TLS for clients and peers from the deployment CA, client certificates required, the peer port demands the members' peer name (off by etcd.checkNames: false)", () => {
    const r = renderEtcdMember(plan, hostByName(plan, "dc2-etcd1"), tls("dc2-etcd1"), ROOT);
    const env = r.files.find((f) => f.path === "/etc/default/etcd")!.content;
    expect(env).toContain('ETCD_NAME="dc2-etcd1"');
    expect(env).toContain('ETCD_LISTEN_CLIENT_URLS="https://10.10.2.11:2379,https://127.0.0.1:2379"');
    expect(env).toContain('ETCD_CLIENT_CERT_AUTH="true"');
    expect(env).toContain('ETCD_PEER_CLIENT_CERT_AUTH="true"');
    expect(env).toContain('ETCD_INITIAL_CLUSTER_TOKEN="nextcloud-etcd"');
    expect(env).toContain('ETCD_PEER_CERT_ALLOWED_HOSTNAME="etcd-peer.nextcloud-etcd.invalid"');
    expect(env).not.toContain("ETCD_CLIENT_CERT_ALLOWED_HOSTNAME"); // it breaks etcd's JSON gateway, Patroni's way in
    expect(env).not.toMatch(/http:\/\//);
    expect(r.files.find((f) => f.path.endsWith("member.key"))!.mode).toBe("0600");
    const open = loadPlan({ ...readStackConfig("dc1"), etcd: { checkNames: false } }).plan;
    const unchecked = renderEtcdMember(open, hostByName(open, "dc2-etcd1"), tls("dc2-etcd1"), ROOT).files.find((f) => f.path === "/etc/default/etcd")!.content;
    expect(unchecked).not.toMatch(/ALLOWED_HOSTNAME/);
});

test("etcd's auth (etcd.auth): the root password on every member (root and etcd only), a step on the primary site's member making each Patroni cluster's user for its prefix, Patroni logging in as it, and no common name where etcd's gateway would refuse it", () => {
    const member = renderEtcdMember(plan, hostByName(plan, "dc3-etcd1"), tls("dc3-etcd1"), { rootPassword: "root-pw-1" });
    expect(member.files.find((f) => f.path === "/etc/etcd/root.password")).toMatchObject({ content: "root-pw-1\n", mode: "0640", owner: "root:etcd" });
    expect(() => renderEtcdMember(plan, hostByName(plan, "dc3-etcd1"), tls("dc3-etcd1"))).toThrow("needs etcd's root password (etcd.auth)");
    const cluster = plan.etcdClusters[0];
    expect(cluster.configuredBy).toBe("dc1-etcd1");
    const database = { ...placeholderSecrets().database, etcdPassword: "patroni-etcd-pw-2" };
    const step = renderEtcdAuthStep(plan, cluster, { root: { rootPassword: "root-pw-1" }, database });
    expect(step.host.name).toBe("dc1-etcd1");
    expect(step.command).toBe("sudo python3 -");
    expect(step.triggers.slice(0, -1)).toEqual(["user patroni-nextcloud: readwrite /service/nextcloud/"]);
    // The passwords ride in the script (secret stdin), never in its triggers or a command line.
    expect(step.script).toContain("patroni-etcd-pw-2");
    expect(step.triggers.join("\n")).not.toContain("pw");
    const parsed = spawnSync("python3", ["-c", "import ast, sys; ast.parse(sys.stdin.read())"], { input: step.script, encoding: "utf8" });
    expect([parsed.status, parsed.stderr]).toEqual([0, ""]);
    const patroni = parse(renderPatroniConfig(plan, hostByName(plan, "dc1-db1"), database));
    expect(patroni.etcd3).toMatchObject({ username: "patroni-nextcloud", password: "patroni-etcd-pw-2", cert: "/etc/patroni/pki/member.crt" });
    expect(certificateNames(plan, hostByName(plan, "dc1-db1")).commonName).toBeUndefined();
    const off = loadPlan({ ...readStackConfig("dc1"), etcd: { auth: false } }).plan;
    expect(parse(renderPatroniConfig(off, hostByName(off, "dc1-db1"), database)).etcd3.username).toBeUndefined();
    expect(certificateNames(off, hostByName(off, "dc1-db1")).commonName).toBe("dc1-db1");
    expect(renderEtcdMember(off, hostByName(off, "dc3-etcd1"), tls("dc3-etcd1")).files.map((f) => f.path)).not.toContain("/etc/etcd/root.password");
});

test("etcd's leader keeper runs on the witness's member only, beside etcd as its user, with the plan's hold-off; its files restart it, never etcd", () => {
    const witness = renderEtcdMember(plan, hostByName(plan, "dc3-etcd1"), tls("dc3-etcd1"), ROOT);
    expect(witness.services.map((s) => s.name)).toEqual(["etcd", "etcd-leader"]);
    expect(witness.services[1]).toMatchObject({ user: "etcd", unit: "nextcloud-ha-etcd-leader.service", apply: { kind: "restart" } });
    const script = witness.files.find((f) => f.path === "/usr/local/lib/nextcloud-ha/etcd-leader-keeper.py")!;
    expect(script.service).toBe("etcd-leader");
    const settings = JSON.parse(/S = json.loads\(r"""(.*)"""\)/.exec(script.content)![1]);
    expect(settings).toMatchObject({ name: "dc3-etcd1", leaders: ["dc3-etcd1"], holdOffS: 30, certFile: "/etc/etcd/pki/member.crt" });
    expect(renderEtcdMember(plan, hostByName(plan, "dc1-etcd1"), tls("dc1-etcd1"), ROOT).services.map((s) => s.name)).toEqual(["etcd"]);
    // Python parses the rendered script (a syntax error would only show on the witness).
    const parsed = spawnSync("python3", ["-c", "import ast, sys; ast.parse(sys.stdin.read())"], { input: script.content, encoding: "utf8" });
    expect(parsed.stderr).toBe("");
    expect(parsed.status).toBe(0);
});

test("Patroni: REST auth, rewind, checksums, timings from the plan, sync mode in three-site", () => {
    const c = parse(renderPatroniConfig(plan, hostByName(plan, "dc1-db1"), PLACEHOLDER_DATABASE));
    expect(c.restapi.authentication.username).toBe("patroni");
    expect(c.restapi.connect_address).toBe("10.10.1.21:8008");
    expect(c.bootstrap.dcs).toMatchObject({ ttl: 20, loop_wait: 5, retry_timeout: 5, synchronous_mode: true });
    // A standby silent for one TTL is dropped: a cut-off, demoted primary stops that soon.
    expect(c.bootstrap.dcs.postgresql.parameters.wal_sender_timeout).toBe("20s");
    expect(c.bootstrap.dcs.postgresql.use_pg_rewind).toBe(true);
    expect(c.bootstrap.initdb).toContain("data-checksums");
    expect(Object.keys(c.postgresql.authentication)).toEqual(["superuser", "replication", "rewind"]);
    expect(c.etcd3.protocol).toBe("https");
    expect(c.postgresql.bin_dir).toBe("/usr/lib/postgresql/17/bin");
});

test("pg_hba per role, by /32: the superuser, replication and pg_rewind from the members, the app's role from HAProxy's hosts, TCP only with TLS, the rest rejected", () => {
    const hba = renderPgHba(plan, hostByName(plan, "dc1-db1"));
    expect(hba.join("\n")).not.toMatch(/\btrust\b/);
    const tcp = hba.filter((l) => !l.startsWith("local"));
    expect(tcp.pop()).toBe("host all all 0.0.0.0/0 reject");
    const from = (db: string, user: string) => tcp.filter((l) => l.split(/\s+/)[1] === db && l.split(/\s+/)[2] === user).map((l) => l.split(/\s+/)[3]);
    for (const line of tcp) expect(line).toMatch(/^hostssl \S+ \S+ \d+\.\d+\.\d+\.\d+\/32 scram-sha-256$/);
    const members = ["127.0.0.1/32", "10.10.1.21/32", "10.10.2.21/32"];
    expect(from("replication", "replicator")).toEqual(members);
    expect(from("all", "postgres")).toEqual(members);
    expect(from("all", "rewind_user")).toEqual(members);
    const lbs = plan.hosts.filter((h) => h.roles.includes("haproxy")).map((h) => `${h.address}/32`);
    expect(from("nextcloud", "nextcloud")).toEqual([...members, ...lbs]);
    expect(tcp).toHaveLength(members.length * 4 + lbs.length);
});

test("pg_hba, two-site: replication and pg_rewind also through the cluster's own HAProxy (the other site's standby follows and rejoins through it), not the other site's", () => {
    const two = loadPlan(twoSiteConfig()).plan;
    const hba = renderPgHba(two, hostByName(two, "dc2-db1"));
    const lb = (site: string) => `${two.hosts.find((h) => h.site === site && h.roles.includes("haproxy"))!.address}/32`;
    expect(hba).toContain(`hostssl replication replicator ${lb("dc2")} scram-sha-256`);
    expect(hba).toContain(`hostssl all rewind_user ${lb("dc2")} scram-sha-256`);
    expect(hba.join("\n")).not.toContain(lb("dc1"));
    expect(hba.join("\n")).not.toMatch(/hostssl all postgres 10\.10\.1\./);
});

test("PostgreSQL: TLS with the member's certificate; Patroni's replication, rewind and superuser connections verify the server's name and CA", () => {
    const c = parse(renderPatroniConfig(plan, hostByName(plan, "dc1-db1"), PLACEHOLDER_DATABASE));
    expect(c.postgresql.parameters).toMatchObject({ ssl: "on", ssl_cert_file: "/etc/patroni/pki/member.crt", ssl_key_file: "/etc/patroni/pki/member.key" });
    for (const role of ["superuser", "replication", "rewind"])
        expect(c.postgresql.authentication[role]).toMatchObject({ sslmode: "verify-full", sslrootcert: "/etc/patroni/pki/ca.crt" });
    expect(c.etcd3.cert).toBe(c.postgresql.parameters.ssl_cert_file);
});

test("certificates: a Patroni member's names every HAProxy in front of its cluster (clients verify HAProxy's address); others name only themselves, and etcd's role names where the host has one", () => {
    const db = certificateNames(plan, hostByName(plan, "dc1-db1"));
    const lbs = plan.hosts.filter((h) => h.roles.includes("haproxy")).map((h) => h.address);
    expect(lbs.length).toBeGreaterThan(1);
    expect(db.ipAddresses).toEqual(["10.10.1.21", "127.0.0.1", ...lbs]);
    // etcd's peer name: an etcd member's certificate carries it, no other host's.
    expect(db.dnsNames).toEqual(["dc1-db1", "localhost"]);
    expect(certificateNames(plan, hostByName(plan, "dc1-etcd1")).ipAddresses).toEqual(["10.10.1.11", "127.0.0.1"]);
    expect(certificateNames(plan, hostByName(plan, "dc1-etcd1")).dnsNames).toEqual(["dc1-etcd1", "localhost", etcdPeerName(plan.etcdClusters[0].name)]);
    expect(certificateNames(plan, hostByName(plan, "dc1-lb1")).dnsNames).toEqual(["dc1-lb1", "localhost"]);
    // Two-site: each site's HAProxy routes to its own cluster, so a member names its site's HAProxy only.
    const two = loadPlan(twoSiteConfig()).plan;
    const lb = (site: string) => two.hosts.find((h) => h.site === site && h.roles.includes("haproxy"))!.address;
    expect(certificateNames(two, hostByName(two, "dc2-db1")).ipAddresses).toContain(lb("dc2"));
    expect(certificateNames(two, hostByName(two, "dc2-db1")).ipAddresses).not.toContain(lb("dc1"));
});

test("HAProxy: 5000 to /primary, 5001 round-robin over /replica, sessions cut, stats on the management address over TLS with a password, without the version", () => {
    const cfg = renderHaproxyConfig(plan, hostByName(plan, "dc1-lb1"), { statsPassword: "stats-pw-1" });
    expect(cfg).toMatch(/listen stats\n(    .*\n)*    stats hide-version\n/);
    const section = (name: string) => cfg.split(/\n(?=listen )/).find((s) => s.startsWith(`listen ${name}`))!;
    expect(section("primary")).toContain("bind *:5000");
    expect(section("primary")).toContain("option httpchk OPTIONS /primary");
    expect(section("replicas")).toContain("bind *:5001");
    expect(section("replicas")).toContain("balance roundrobin");
    expect(section("replicas")).toContain("option httpchk OPTIONS /replica?lag=100MB");
    for (const s of ["primary", "replicas"]) {
        expect(section(s)).toContain("on-marked-down shutdown-sessions");
        expect(section(s)).toContain("server dc1-db1 10.10.1.21:5432 maxconn 1000 check port 8008");
        expect(section(s)).toContain("server dc2-db1 10.10.2.21:5432 maxconn 1000 check port 8008");
    }
    expect(section("stats")).toContain("bind 10.10.1.31:7000 ssl crt /etc/haproxy/pki/haproxy.pem");
    expect(section("stats")).toContain("stats auth stats:stats-pw-1");
    expect(section("stats")).not.toMatch(/stats admin/);
    const files = renderHost(plan, hostByName(plan, "dc1-lb1"), { secrets: placeholderSecrets(), tls: tls("dc1-lb1") }).files;
    // The password and the key: root's only.
    expect(files.filter((f) => /haproxy\.(cfg|pem)$/.test(f.path)).map((f) => `${f.path} ${f.mode}`)).toEqual([
        "/etc/haproxy/haproxy.cfg 0600",
        "/etc/haproxy/pki/haproxy.pem 0600",
    ]);
    expect(cfg).not.toMatch(/bind (\*|0\.0\.0\.0):7000/);
});

test("cloud-init is the bootstrap only: services held during install, the files needed before packages, the SSH identity; no service enabled", () => {
    const host = hostByName(plan, "dc1-db1");
    const rendered = renderHost(plan, host, { secrets: placeholderSecrets(), tls: tls(host.name) });
    const text = renderCloudInit(host, rendered, identity(host.name));
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const doc = parse(text);
    expect(doc.hostname).toBe("dc1-db1");
    expect(doc.bootcmd[0].slice(0, 3)).toEqual(["cloud-init-per", "once", "nextcloud-ha-hold-services"]);
    expect(doc.write_files).toEqual([
        {
            path: "/etc/postgresql-common/createcluster.d/50-patroni.conf",
            content: expect.stringContaining("create_main_cluster = false"),
            permissions: "0644",
            owner: "root:root",
            defer: false,
        },
    ]);
    expect(text).not.toContain("<secret: postgres superuser password");
    expect(doc.ssh_keys.ed25519_private).toContain("SSH host key of dc1-db1");
    expect(doc.ssh_deletekeys).toBe(true);
    expect(doc.runcmd[0]).toEqual(["rm", "-f", "/usr/sbin/policy-rc.d"]);
    expect(doc.runcmd).toContainEqual(["systemctl", "disable", "--now", "postgresql.service"]);
    // The converge steps enable and start the services, once their files are in place.
    expect(JSON.stringify(doc.runcmd)).not.toContain("patroni.service");
    expect(doc.packages).toEqual(expect.arrayContaining(["qemu-guest-agent", "patroni", "python3-etcd", "postgresql-17"]));
});

test("rendering is deterministic and every dc1 host's files match the reviewed snapshot", () => {
    const renderAll = () =>
        plan.hosts
            .filter((h) => h.site === "dc1")
            .map((h) => {
                const r = renderHost(plan, h, {
                    secrets: placeholderSecrets(),
                    tls: needsTls(h) ? tls(h.name) : undefined,
                });
                const files = r.files.map((f) => `--- ${f.path} ${f.mode} ${f.owner} (${f.service})\n${f.content}`).join("\n");
                return { host: h.name, rendered: `${renderCloudInit(h, r, identity(h.name))}\n=== converged files\n${files}` };
            });
    const first = renderAll();
    expect(renderAll()).toEqual(first);
    for (const { host, rendered } of first) expect(rendered).toMatchSnapshot(host);
});

test("a host's services come in one order whatever order its roles are listed in: etcd starts before Patroni, Patroni leaves first", () => {
    const services = (roles: string[]) => {
        const raw = twoSiteConfig() as any;
        raw.sites.dc1.hosts = raw.sites.dc1.hosts.map((h: any) =>
            h.name === "dc1-etcd1" ? { ...h, roles: [...roles, ...h.roles.filter((r: string) => r !== "etcd")] } : h,
        );
        const two = loadPlan(raw).plan;
        const host = hostByName(two, "dc1-etcd1");
        return renderHost(two, host, { secrets: placeholderSecrets(), tls: tls(host.name) }).services.map((s) => s.name);
    };
    expect(services(["patroni", "etcd"])).toEqual(["etcd", "patroni"]);
    expect(services(["etcd", "patroni"])).toEqual(["etcd", "patroni"]);
});

test("a host whose role needs a secret refuses to render without it, or with another role's part only (a sealed site's)", () => {
    expect(() => renderHost(plan, hostByName(plan, "dc1-db1"), { tls: tls("dc1-db1") })).toThrow(/dc1-db1 \(patroni\) needs the database's passwords/);
    const { haproxy } = placeholderSecrets();
    expect(() => renderHost(plan, hostByName(plan, "dc1-db1"), { tls: tls("dc1-db1"), secrets: { haproxy } })).toThrow(
        /dc1-db1 \(patroni\) needs the database's passwords/,
    );
    expect(secretPartsOf(plan, hostByName(plan, "dc1-db1"))).toEqual(["database"]);
    // etcd's root password on every member; the member running the auth step also sets the Patroni clusters' passwords.
    expect(secretPartsOf(plan, hostByName(plan, "dc1-etcd1"))).toEqual(["etcd", "database"]);
    expect(secretPartsOf(plan, hostByName(plan, "dc3-etcd1"))).toEqual(["etcd"]);
    const open = loadPlan({ ...readStackConfig("dc1"), etcd: { auth: false } }).plan;
    expect(secretPartsOf(open, hostByName(open, "dc3-etcd1"))).toEqual([]);
    expect(secretPartsOf(plan, { name: "x", roles: ["patroni", "haproxy", "nextcloud"] })).toEqual(["database", "haproxy", "nextcloud"]);
});

test("firewall: each role's ports open only to the hosts that use them, each by its /32; SSH and HAProxy's stats to the management networks", () => {
    const { renderFirewall } = require("../../render/firewall") as typeof import("../../render/firewall");
    const rules = (p: typeof plan, h: string) => Object.fromEntries(renderFirewall(p, hostByName(p, h)).map((r) => [r.dport, r.source]));
    // dc1-db1's PostgreSQL and REST: the cluster's members and the HAProxy hosts of its sites.
    const dbSources = "10.10.1.21/32,10.10.2.21/32,10.10.1.31/32,10.10.2.31/32";
    expect(rules(plan, "dc1-db1")).toEqual({ "22": plan.networks.join(","), "5432": dbSources, "8008": dbSources });
    expect(rules(plan, "dc3-etcd1")["2379"].split(",").sort()).toEqual(["10.10.1.11/32", "10.10.1.21/32", "10.10.2.11/32", "10.10.2.21/32", "10.10.3.11/32"]);
    expect(rules(plan, "dc3-etcd1")["2380"]).toBe("10.10.1.11/32,10.10.2.11/32,10.10.3.11/32");
    expect(rules(plan, "dc1-lb1")).toMatchObject({ "5000:5001": "10.10.1.31/32", "7000": plan.networks.join(",") });
    // A management network given: SSH and the stats take it, nothing else does.
    const raw = readStackConfig("dc1") as any;
    raw.managementNetworks = ["192.168.77.0/24"];
    const managed = loadPlan(raw).plan;
    expect(rules(managed, "dc1-lb1")).toMatchObject({ "22": "192.168.77.0/24", "7000": "192.168.77.0/24", "5000:5001": "10.10.1.31/32" });
    for (const r of renderFirewall(managed, hostByName(managed, "dc1-db1")).filter((x) => x.dport !== "22"))
        expect(r.source.split(",").every((c) => c.endsWith("/32"))).toBe(true);
});

test("firewall: a source too long for a Proxmox rule (512 characters) falls back to the sites' networks", () => {
    const { renderFirewall } = require("../../render/firewall") as typeof import("../../render/firewall");
    const { appTierConfig } = require("../helpers/configs") as typeof import("../helpers/configs");
    const raw = appTierConfig() as any;
    for (let i = 0; i < 40; i++) raw.sites.dc1.hosts.push({ name: `dc1-app${10 + i}`, vmId: 3100 + i, address: `10.10.1.${100 + i}`, roles: ["nextcloud"] });
    const big = loadPlan(raw).plan;
    const lb = Object.fromEntries(renderFirewall(big, hostByName(big, "dc1-lb1")).map((r) => [r.dport, r.source]));
    expect(lb["5000:5001"]).toBe("10.10.1.0/24,10.10.2.0/24");
    for (const r of renderFirewall(big, hostByName(big, "dc1-lb1"))) expect(r.source.length).toBeLessThanOrEqual(512);
    // The plan as committed keeps its /32s.
    expect(renderFirewall(plan, hostByName(plan, "dc1-lb1")).find((r) => r.dport === "5000:5001")!.source).toBe("10.10.1.31/32");
});

test("firewall, two-site: each site's HAProxy open to both clusters' members (the standby replicates through it, either way), the REST API and PostgreSQL to their own cluster and its HAProxy hosts (the site commands ask the REST API over SSH)", () => {
    const { renderFirewall } = require("../../render/firewall") as typeof import("../../render/firewall");
    const two = loadPlan(twoSiteConfig()).plan;
    const rules = (h: string) => Object.fromEntries(renderFirewall(two, hostByName(two, h)).map((r) => [r.dport, r.source]));
    const members = two.patroniClusters.flatMap((c) => c.members).map((m) => `${hostByName(two, m).address}/32`);
    for (const lb of ["dc1-lb1", "dc2-lb1"]) expect(rules(lb)["5000:5001"].split(",")).toEqual(expect.arrayContaining(members));
    for (const db of ["dc1-db1", "dc2-db1"]) {
        for (const port of ["8008", "5432"])
            expect(
                rules(db)
                    [port].split(",")
                    .every((c) => c.startsWith(`10.10.${db[2]}.`) && c.endsWith("/32")),
            ).toBe(true);
    }
});
