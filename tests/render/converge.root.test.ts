/**
 * The converge scripts, run for real: in a private mount namespace over a copy-on-write layer
 * of the Debian 13 root (the binaries a VM has: haproxy checks its config for real), with a
 * `systemctl` stand-in that records its calls. One layer is one host across several
 * `pulumi up`s: the first run starts the service, a run with nothing new changes nothing, a
 * changed config is checked and reloaded, a broken one is refused and the old one put back.
 * Needs root (mounts); uses the cached Debian 13 root that `npm test` builds.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { rootReady, ROOTFS } from "../../debian/root";
import { loadPlan } from "../../plan/load";
import { hostByName } from "../../plan/plan";
import { readStackConfig } from "../../plan/stackFiles";
import { ConvergeUnit, renderConverge } from "../../render/converge";
import { certificateNames, renderHost } from "../../render/host";
import { placeholderSecrets } from "../../render/placeholders";
import { renderClusterStep, renderRolesStep } from "../../render/patroniCluster";
import { placeholderInputs } from "../../render/placeholders";
import { issueIdentity, labCertificate } from "../../lab/pki";
import { appTierConfig } from "../helpers/configs";

const layer = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-converge-"));

/** Runs a script as `sudo sh -s` would on the host the layer stands for. */
function run(script: string): { status: number; stdout: string; stderr: string } {
    const m = path.join(layer, "m");
    const mount = `mount -t overlay overlay -o lowerdir=${ROOTFS},upperdir=${layer}/u,workdir=${layer}/w ${m}`;
    const r = spawnSync(
        "unshare",
        // An empty network namespace too: a script that dials the plan's addresses (etcd's join) reaches nothing.
        [
            "--mount",
            "--net",
            "--propagation",
            "private",
            "sh",
            "-c",
            `${mount} && exec chroot ${m} env PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin sh -s`,
        ],
        {
            input: script,
            encoding: "utf8",
            timeout: 60000,
        },
    );
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const inLayer = (p: string) => path.join(layer, "u", p);
const calls = () => (fs.existsSync(inLayer("var/log/systemctl.calls")) ? fs.readFileSync(inLayer("var/log/systemctl.calls"), "utf8").trim().split("\n") : []);

function unitOf(raw: Record<string, unknown>, hostName: string, service: string): ConvergeUnit {
    const { plan } = loadPlan(raw);
    const host = hostByName(plan, hostName);
    // A real wildcard certificate where NGINX runs: its check reads it.
    const certificate = host.roles.includes("nginx") ? labCertificate(layer, plan.nextcloud.domain) : undefined;
    // A real identity where HAProxy's check reads its CA file and the stats page's certificate.
    const tls = host.roles.includes("haproxy") ? issueIdentity(layer, certificateNames(plan, host), plan.certificates) : undefined;
    return renderConverge(host, renderHost(plan, host, { ...placeholderInputs(host), ...(certificate ? { certificate } : {}), ...(tls ? { tls } : {}) })).find(
        (u) => u.service === service,
    )!;
}

beforeAll(() => {
    if (!rootReady()) throw new Error(`no Debian 13 root at ${ROOTFS}: run the README's test command (scripts/test.sh), which builds it`);
    for (const d of ["u/usr/local/sbin", "u/var/log", "w", "m"]) fs.mkdirSync(path.join(layer, d), { recursive: true });
    // Records each call; fails a reload while /fail-reload exists (a reload that does not take); says every unit is enabled (dpkg's scripts ask).
    fs.writeFileSync(
        inLayer("usr/local/sbin/systemctl"),
        '#!/bin/sh\necho "$*" >> /var/log/systemctl.calls\ncase "$*" in *is-enabled*) echo enabled ;; esac\nif [ "$1" = try-reload-or-restart ] && [ -f /fail-reload ]; then exit 1; fi\n',
        {
            mode: 0o755,
        },
    );
});

afterAll(() => fs.rmSync(layer, { recursive: true, force: true }));

const base = () => JSON.parse(JSON.stringify(readStackConfig("dc1")));

test("the first run writes HAProxy's config and enables and starts it", () => {
    const r = run(unitOf(base(), "dc1-lb1", "haproxy").script);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("changed /etc/haproxy/haproxy.cfg");
    expect(calls()).toEqual(["enable haproxy.service", "restart haproxy.service"]);
    // It holds the stats password.
    expect(fs.statSync(inLayer("etc/haproxy/haproxy.cfg")).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(inLayer("var/lib/nextcloud-ha/converged/haproxy"))).toBe(true);
});

test("the same script again changes nothing and touches no service", () => {
    const r = run(unitOf(base(), "dc1-lb1", "haproxy").script);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe("haproxy: unchanged");
    expect(calls()).toHaveLength(2);
});

test("a changed config is checked by HAProxy itself, its servers' state saved for the new workers, then reloaded; only its file's trigger changes", () => {
    const before = unitOf(base(), "dc1-lb1", "haproxy");
    const raw = base();
    raw.haproxy = { checkIntervalMs: 2000 };
    const after = unitOf(raw, "dc1-lb1", "haproxy");
    expect(after.triggers.filter((t, i) => t !== before.triggers[i])).toEqual([after.triggers[0]]);
    expect(after.triggers[0]).toMatch(/^\/etc\/haproxy\/haproxy.cfg 0600 root:root sha256:[0-9a-f]{16}$/);
    const r = run(after.script);
    expect(r.status).toBe(0);
    expect(calls().slice(2)).toEqual(["is-active --quiet haproxy.service", "try-reload-or-restart haproxy.service"]);
    expect(after.script).toContain("echo 'show servers state' | socat stdio unix-connect:/run/haproxy-admin.sock > /var/lib/haproxy/server-state");
    // No HAProxy runs in this layer, so there is no state to save: a warning, and the reload goes on.
    expect(r.stderr).toContain("haproxy: warning: could not prepare the reload");
    expect(fs.readFileSync(inLayer("etc/haproxy/haproxy.cfg"), "utf8")).toContain("inter 2000ms");
});

test("a config that fails its check is refused: the old file is back, nothing reloaded, the error says why", () => {
    const good = fs.readFileSync(inLayer("etc/haproxy/haproxy.cfg"), "utf8");
    const unit = unitOf(base(), "dc1-lb1", "haproxy");
    // The same script with the file's content swapped for a broken one.
    const broken = Buffer.from(good.replace("balance roundrobin", "balance sideways"))
        .toString("base64")
        .match(/.{1,76}/g)!
        .join("\n");
    const script = unit.script.replace(/<<'NCHA_B64'\n[\s\S]*?\nNCHA_B64/, `<<'NCHA_B64'\n${broken}\nNCHA_B64`);
    const r = run(script);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("haproxy on dc1-lb1: the new config fails its check (haproxy -c -f /etc/haproxy/haproxy.cfg); the old files are back");
    expect(r.stderr).toContain("balance only supports"); // HAProxy's own words, passed on
    expect(fs.readFileSync(inLayer("etc/haproxy/haproxy.cfg"), "utf8")).toBe(good);
    expect(fs.existsSync(inLayer("etc/haproxy/haproxy.cfg.ncha-old"))).toBe(false);
    expect(calls()).toHaveLength(4);
});

test("Patroni's first run replaces Debian's postgresql unit; its secrets land 0600, owned by postgres", () => {
    const r = run(unitOf(base(), "dc1-db1", "patroni").script);
    expect(r.status).toBe(0);
    expect(calls().slice(4)).toEqual(["disable --now postgresql.service", "enable patroni.service", "restart --no-block patroni.service"]);
    const st = fs.statSync(inLayer("etc/patroni/config.yml"));
    expect(st.mode & 0o777).toBe(0o600);
    const postgresUid = Number(/^postgres:x:(\d+):/m.exec(fs.readFileSync(path.join(ROOTFS, "etc/passwd"), "utf8"))![1]);
    expect(st.uid).toBe(postgresUid);
});

test("a reload that fails is applied again at the next run, though the files are already in place", () => {
    const raw = base();
    raw.haproxy = { checkIntervalMs: 3000 };
    const unit = unitOf(raw, "dc1-lb1", "haproxy");
    fs.writeFileSync(inLayer("fail-reload"), "");
    expect(run(unit.script).status).not.toBe(0);
    fs.rmSync(inLayer("fail-reload"));
    const again = run(unit.script);
    expect(again.status).toBe(0);
    expect(again.stdout).not.toContain("unchanged");
    expect(calls().slice(-4)).toEqual([
        "is-active --quiet haproxy.service",
        "try-reload-or-restart haproxy.service",
        "is-active --quiet haproxy.service",
        "try-reload-or-restart haproxy.service",
    ]);
    expect(run(unit.script).stdout.trim()).toBe("haproxy: unchanged");
});

test("NGINX: its site replaces Debian's default (a link in sites-enabled), nginx -t passes, and nothing is left beside the config", () => {
    const r = run(unitOf(appTierConfig(), "dc1-lb1", "nginx").script);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(calls().slice(-2)).toEqual(["enable nginx.service", "restart nginx.service"]);
    const enabled = fs.readdirSync(inLayer("etc/nginx/sites-enabled")).sort();
    expect(enabled).toEqual(["default", "nextcloud.conf"]);
    expect(fs.lstatSync(inLayer("etc/nginx/sites-enabled/default")).isSymbolicLink()).toBe(false);
    expect(fs.statSync(inLayer("etc/nginx/tls/wildcard.key")).mode & 0o777).toBe(0o600);
});

test("the cluster step's script is Python the Debian 13 interpreter compiles, carrying the plan's dynamic config", () => {
    const raw = base();
    raw.patroni = { ...raw.patroni, parameters: { max_connections: 300 } };
    const { plan } = loadPlan(raw);
    const step = renderClusterStep(plan, plan.patroniClusters[0]);
    expect(step.host.name).toBe("dc1-db1");
    const check = [
        "import sys",
        "src = sys.stdin.read()",
        "compile(src, 'cluster-step', 'exec')",
        "ns = {}",
        "exec('\\n'.join(src.splitlines()[:2]), ns)",
        "print(ns['SETTINGS']['dynamic']['postgresql']['parameters']['max_connections'], ns['SETTINGS']['scope'])",
    ].join("; ");
    const r = run(`python3 -c "${check}" <<'NCHA_PY'\n${step.script}\nNCHA_PY\n`);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("300 nextcloud");
});

test("the roles step's script compiles, and its SCRAM verifier matches its own password and no other (the lab drill proves PostgreSQL takes it)", () => {
    const { plan } = loadPlan(base());
    const step = renderRolesStep(plan, plan.patroniClusters[0], placeholderSecrets().database);
    expect([step.host.name, step.command]).toEqual(["dc1-db1", "sudo -u postgres python3 -"]);
    // The script without its run: the helpers only (everything before the first top-level `if S[`).
    const helpers = step.script.slice(0, step.script.indexOf('\nif S["standby"]'));
    const check = [
        "import sys, os",
        "src = sys.stdin.read()",
        "compile(src, 'roles-step', 'exec')",
        "head = src[:src.index('\\nS = SETTINGS')]",
        "body = src[src.index('\\nimport base64'):]",
        "ns = {'os': os}",
        "exec(head, ns); exec(body, ns)",
        "v = ns['verifier']('s3cretPassw0rd')",
        "print(v.startswith('SCRAM-SHA-256' + chr(36) + '4096:'), ns['matches'](v, 's3cretPassw0rd'), ns['matches'](v, 'other'), ns['matches']('md5abc', 'x'))",
    ].join("; ");
    const r = run(`python3 -c "${check}" <<'NCHA_PY'\n${helpers}\nNCHA_PY\n`);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("True True False False");
    expect(step.triggers.join("\n")).not.toContain(placeholderSecrets().database.replicationPassword);
});

test("an app node's Nextcloud containers restart when their config changes (they copy it at start), then Nextcloud must answer; none before they exist", () => {
    // Stand-ins for the Docker CLI and curl (no Docker engine here): they record their calls.
    fs.writeFileSync(
        inLayer("usr/local/sbin/docker"),
        '#!/bin/sh\necho "$*" >> /var/log/docker.calls\nif [ "$1" = inspect ]; then [ -f /containers-running ] && echo true || exit 1; fi\n',
        { mode: 0o755 },
    );
    fs.writeFileSync(inLayer("usr/local/sbin/curl"), '#!/bin/sh\necho "$*" >> /var/log/curl.calls\n', { mode: 0o755 });
    const dockerCalls = () =>
        fs.existsSync(inLayer("var/log/docker.calls")) ? fs.readFileSync(inLayer("var/log/docker.calls"), "utf8").trim().split("\n") : [];
    const first = run(unitOf(appTierConfig(), "dc1-app1", "docker").script);
    expect(first.stderr).toBe("");
    expect(dockerCalls().filter((c) => c.startsWith("restart"))).toEqual([]);
    // The containers run now (Pulumi's Docker provider made them); a config change restarts both.
    fs.writeFileSync(inLayer("containers-running"), "");
    const raw: any = appTierConfig();
    raw.nextcloud = { ...raw.nextcloud, trustedDomains: ["files.example.net"] };
    const second = run(unitOf(raw, "dc1-app1", "docker").script);
    expect(second.stderr).toBe("");
    expect(second.status).toBe(0);
    expect(dockerCalls().filter((c) => c.startsWith("restart"))).toEqual(["restart nextcloud", "restart nextcloud-cron"]);
    expect(fs.readFileSync(inLayer("var/log/curl.calls"), "utf8")).toContain("/status.php");
    // Unchanged: nothing restarts.
    run(unitOf(raw, "dc1-app1", "docker").script);
    expect(dockerCalls().filter((c) => c.startsWith("restart"))).toHaveLength(2);
});

test("an etcd member's first run: the join finds no cluster (day one) and starts it without waiting; a membership change later writes what it reads at first start only and applies nothing", () => {
    const before = calls().length;
    const first = run(unitOf(base(), "dc1-etcd1", "etcd").script);
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    expect(first.stdout).toContain("etcd join (dc1-etcd1): no other member answers: it starts with the plan's new cluster (day one)");
    expect(calls().slice(before)).toEqual(["daemon-reload", "enable etcd.service", "restart --no-block etcd.service"]);
    expect(fs.readFileSync(inLayer("etc/systemd/system/etcd.service.d/50-nextcloud-ha.conf"), "utf8")).toContain(
        "EnvironmentFile=-/etc/etcd/bootstrap.env\nEnvironmentFile=-/var/lib/nextcloud-ha/etcd-join.env",
    );
    const raw = base();
    raw.sites.dc2.hosts = raw.sites.dc2.hosts.map((h: any) => (h.name === "dc2-etcd1" ? { ...h, name: "dc2-etcd2", vmId: 1204, address: "10.10.2.12" } : h));
    const second = run(unitOf(raw, "dc1-etcd1", "etcd").script);
    expect(second.stderr).toBe("");
    expect(second.stdout).toContain("changed /etc/etcd/bootstrap.env (nothing to apply)");
    expect(second.stdout.trim().split("\n").pop()).toBe("etcd: nothing to apply");
    expect(calls().slice(before)).toHaveLength(3); // no restart
    expect(fs.readFileSync(inLayer("etc/etcd/bootstrap.env"), "utf8")).toContain("dc2-etcd2=https://10.10.2.12:2380");
    expect(fs.readFileSync(inLayer("etc/default/etcd"), "utf8")).not.toContain("INITIAL_CLUSTER=");
    // The leave script compiles under Debian 13's Python, and refuses what it cannot reach (no cluster here).
    const leave = run("python3 /usr/local/lib/nextcloud-ha/etcd-member.py leave");
    expect(leave.status).toBe(1);
    expect(leave.stderr).toContain("etcd leave on dc1-etcd1: no member of the cluster answers");
});

test("a package update (packages.update raised) upgrades the service's packages with real apt and dpkg, dpkg's own restart held, then applies the service's update rule once", () => {
    // A local repository with Debian 13's haproxy re-versioned (+ncha1): what a point release brings, offline.
    const deb = fs.readdirSync(path.join(ROOTFS, "var/cache/apt/archives")).find((f) => /^haproxy_.*\.deb$/.test(f))!;
    expect(deb).toBeDefined();
    const build = run(
        [
            "set -e",
            "rm -rf /srv/ncha-repo /tmp/hx && mkdir -p /srv/ncha-repo",
            `dpkg-deb -R /var/cache/apt/archives/${deb} /tmp/hx`,
            "sed -i 's/^Version: \\(.*\\)$/Version: \\1+ncha1/' /tmp/hx/DEBIAN/control",
            "dpkg-deb -b /tmp/hx /srv/ncha-repo/haproxy.deb >/dev/null",
            "dpkg-deb -f /srv/ncha-repo/haproxy.deb > /srv/ncha-repo/Packages",
            "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*",
            "echo 'deb [trusted=yes] file:/srv/ncha-repo ./' > /etc/apt/sources.list.d/ncha.list",
            // No policy-rc.d (the Debian root has one from its build): the step's own hold must be what dpkg finds,
            // as an apt hook run before dpkg records.
            "rm -f /usr/sbin/policy-rc.d",
            `echo 'DPkg::Pre-Invoke { "if [ -x /usr/sbin/policy-rc.d ]; then echo held; else echo not held; fi >>/var/log/dpkg-hold"; };' > /etc/apt/apt.conf.d/99ncha-probe`,
        ].join("\n"),
    );
    expect(build.stderr).toBe("");
    const pkg = fs.readFileSync(inLayer("srv/ncha-repo/haproxy.deb"));
    const { createHash } = require("node:crypto") as typeof import("node:crypto");
    fs.appendFileSync(
        inLayer("srv/ncha-repo/Packages"),
        `Filename: ./haproxy.deb\nSize: ${pkg.length}\nSHA256: ${createHash("sha256").update(pkg).digest("hex")}\n\n`,
    );
    // A host past its first converge (the earlier tests', or this one's alone).
    expect(run(unitOf(base(), "dc1-lb1", "haproxy").script).status).toBe(0);
    const raw = base();
    raw.packages = { update: 1 };
    const unit = unitOf(raw, "dc1-lb1", "haproxy");
    expect(unit.triggers).toContain("packages haproxy update 1");
    const before = calls().length;
    const r = run(unit.script);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^updated: haproxy=\S+\+ncha1 $/m);
    // dpkg ran with its restarts held; the service's rule (HAProxy: a reload, which re-executes its master) ran once.
    expect(fs.readFileSync(inLayer("var/log/dpkg-hold"), "utf8")).toBe("held\n");
    expect(
        calls()
            .slice(before)
            .filter((c) => /start|reload/.test(c)),
    ).toEqual(["try-reload-or-restart haproxy.service"]);
    expect(run("test -e /usr/sbin/policy-rc.d").status).toBe(1);
    expect(fs.readFileSync(inLayer("var/lib/nextcloud-ha/converged/haproxy.update"), "utf8").trim()).toBe("1");
    // The same generation again: apt is not asked, nothing applied.
    const again = run(unit.script);
    expect(again.stdout.trim()).toBe("haproxy: unchanged");
    expect(
        calls()
            .slice(before)
            .filter((c) => /start|reload/.test(c)),
    ).toHaveLength(1);
});
