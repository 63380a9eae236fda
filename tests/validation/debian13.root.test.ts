/**
 * The rendered configs, checked by the real programs of Debian 13 (Patroni 4.0.7's
 * --validate-config, HAProxy 3.0's -c) from the cached Debian 13 root. The README's test
 * command builds the root when it is missing. Patroni's validator probes the addresses in
 * the file, so it runs in an empty network namespace where nothing leaves the machine.
 */
import { loadPlan } from "../../plan/load";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { issueIdentity, labCertificate } from "../../lab/pki";
import { HAPROXY_CA, HAPROXY_CRT, renderHaproxyConfig } from "../../render/haproxy";
import { renderNginxSite, TLS_DIR } from "../../render/nginx";
import { renderPatroniConfig } from "../../render/patroni";
import { certificateNames } from "../../render/host";

import { DeploymentPlan, hostByName } from "../../plan/plan";
import { placeholderSecrets } from "../../render/placeholders";

import { rootReady, ROOTFS } from "../../debian/root";
import { readStackConfig } from "../../plan/stackFiles";
import { appTierConfig, twoSiteConfig } from "../helpers/configs";

const PLACEHOLDER_DATABASE = placeholderSecrets().database;

const NETNS = `ncha-validate-${process.pid}`;
/** Files to check live outside the root and appear at /mnt inside it, through a bind mount
 * in a private mount namespace: the root itself is never written (labs may be using it). */
const HOST_WORK = `/tmp/ncha-validate-${process.pid}`;
const WORK = "/mnt";

function inRoot(args: string[]): { status: number; output: string } {
    const script = 'root=$1; shift; mount --bind "$0" "$root/mnt" && exec chroot "$root" "$@"';
    const r = spawnSync("ip", ["netns", "exec", NETNS, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, HOST_WORK, ROOTFS, ...args], {
        encoding: "utf8",
    });
    return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

function writeInRoot(name: string, content: string): string {
    fs.writeFileSync(path.join(HOST_WORK, name), content);
    return `${WORK}/${name}`;
}

/** Problems Patroni reports, minus "etcd not reachable", which no offline check can satisfy. */
function patroniProblems(file: string): string[] {
    const r = inRoot(["patroni", "--validate-config", file]);
    const lines = r.output.split("\n").filter((l) => l.trim() !== "");
    if (r.status !== 0 && lines.length === 0) return [`patroni exited ${r.status} without a message`];
    return lines.filter((l) => !/^etcd3\.hosts\.\d+ \S+ didn't pass validation: \S+ is not reachable$/.test(l));
}

const plans: Record<string, DeploymentPlan> = {};

beforeAll(() => {
    if (!rootReady()) throw new Error(`no Debian 13 root at ${ROOTFS}: run the README's test command (scripts/test.sh), which builds it`);
    execFileSync("ip", ["netns", "add", NETNS]);
    // keepalived's config test wants the interface the VIP lives on (eth0, as Proxmox names it).
    execFileSync("ip", ["-n", NETNS, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"]);
    fs.mkdirSync(HOST_WORK, { recursive: true });
    plans.threeSite = loadPlan(readStackConfig("dc1")).plan;
    plans.twoSite = loadPlan(twoSiteConfig()).plan;
    plans.appTier = loadPlan(appTierConfig()).plan;
});

afterAll(() => {
    spawnSync("ip", ["netns", "del", NETNS]);
    fs.rmSync(HOST_WORK, { recursive: true, force: true });
});

test.each([
    ["threeSite", "dc1-db1"],
    ["threeSite", "dc2-db1"],
    ["twoSite", "dc1-db1"],
    ["twoSite", "dc2-db1"],
])("Patroni 4.0.7 accepts the %s config of %s", (plan, host) => {
    const p = plans[plan];
    const file = writeInRoot(`${plan}-${host}.yml`, renderPatroniConfig(p, hostByName(p, host), PLACEHOLDER_DATABASE));
    expect(patroniProblems(file)).toEqual([]);
});

test("the Patroni check does catch a broken config", () => {
    const p = plans.threeSite;
    const broken = renderPatroniConfig(p, hostByName(p, "dc1-db1"), PLACEHOLDER_DATABASE).replace(
        "bin_dir: /usr/lib/postgresql/17/bin",
        "bin_dir: /usr/lib/postgresql/99/bin",
    );
    expect(patroniProblems(writeInRoot("broken.yml", broken)).join("\n")).toContain("bin_dir");
});

test.each([
    ["threeSite", "dc1-lb1"],
    ["threeSite", "dc2-lb1"],
    ["twoSite", "dc2-lb1"],
])("HAProxy 3.0 accepts the %s config of %s", (plan, host) => {
    const p = plans[plan];
    // The checks' CA file and the stats page's certificate are read at the check: real ones where the host would have its own.
    const identity = issueIdentity(fs.mkdtempSync(path.join(os.tmpdir(), "ncha-ca-")), certificateNames(p, hostByName(p, host)), p.certificates);
    const ca = writeInRoot("haproxy-ca.crt", identity.caCert);
    const crt = writeInRoot("haproxy.pem", identity.cert + identity.key);
    const file = writeInRoot(
        `${plan}-${host}.cfg`,
        renderHaproxyConfig(p, hostByName(p, host), placeholderSecrets().haproxy).replaceAll(HAPROXY_CA, ca).replaceAll(HAPROXY_CRT, crt),
    );
    const r = inRoot(["haproxy", "-c", "-V", "-f", file]);
    expect(r.output).toContain("Configuration file is valid");
    expect(r.status).toBe(0);
});

test("the HAProxy check does catch a broken config", () => {
    const p = plans.threeSite;
    const file = writeInRoot(
        "broken.cfg",
        renderHaproxyConfig(p, hostByName(p, "dc1-lb1"), placeholderSecrets().haproxy).replace("balance roundrobin", "balance sideways"),
    );
    expect(inRoot(["haproxy", "-c", "-f", file]).status).not.toBe(0);
});

/** Debian's own nginx.conf, loading the rendered site instead of sites-enabled, and its TLS files from the work dir. */
function nginxMain(site: string): string {
    const main = fs.readFileSync(path.join(ROOTFS, "etc/nginx/nginx.conf"), "utf8");
    expect(main).toContain("include /etc/nginx/sites-enabled/*;");
    return main.replace("include /etc/nginx/sites-enabled/*;", `include ${site};`).replace(/pid [^;]+;/, `pid ${WORK}/nginx.pid;`);
}

test.each(["dc1-lb1", "dc2-lb1"])("NGINX 1.26 accepts the site config of %s", (host) => {
    const p = plans.appTier;
    labCertificate(HOST_WORK, p.nextcloud.domain);
    const site = renderNginxSite(p, hostByName(p, host)).split(TLS_DIR).join(WORK);
    const siteFile = writeInRoot(`${host}-nginx-site.conf`, site);
    const main = writeInRoot(`${host}-nginx.conf`, nginxMain(siteFile));
    const r = inRoot(["nginx", "-t", "-c", main]);
    expect(r.output).toContain("test is successful");
    expect(r.status).toBe(0);
});

test("the NGINX check does catch a broken config", () => {
    const p = plans.appTier;
    const site = writeInRoot("broken-site.conf", renderNginxSite(p, hostByName(p, "dc1-lb1")).replace("ssl_protocols", "ssl_protocolz"));
    expect(inRoot(["nginx", "-t", "-c", writeInRoot("broken-nginx.conf", nginxMain(site))]).status).not.toBe(0);
});

test("keepalived accepts the config of two NGINX nodes sharing a VIP, and rejects a broken one", () => {
    const { renderKeepalivedConfig } = require("../../render/keepalived") as typeof import("../../render/keepalived");
    const raw: any = appTierConfig();
    raw.sites.dc1.hosts.push({ name: "dc1-lb2", vmId: 2132, address: "10.10.1.32", roles: ["nginx"] });
    raw.sites.dc1.vip = "10.10.1.30";
    const p = loadPlan(raw).plan;
    const good = writeInRoot("keepalived.conf", renderKeepalivedConfig(p, hostByName(p, "dc1-lb2")));
    const r = inRoot(["keepalived", "--config-test", "-f", good]);
    expect(r.status).toBe(0);
    const bad = writeInRoot(
        "keepalived-bad.conf",
        renderKeepalivedConfig(p, hostByName(p, "dc1-lb2")).replace("virtual_router_id 51", "virtual_router_id 999"),
    );
    expect(inRoot(["keepalived", "--config-test", "-f", bad]).status).not.toBe(0);
});

/**
 * The rendered `defaults` and `default-server` settings under HAProxy 3.0.11 itself, in a
 * namespace of their own with only loopback: a client that connects just as HAProxy starts is
 * sent to a server that refuses (every server counts as up until its first check), and the
 * server is marked down a moment later. With `retries 2` the stream waited to retry, the
 * mark-down's `shutdown-sessions` cut its server side only, and the client hung until `timeout
 * client` (30 min): the two-site lab's standby bootstrap hung that way. It must be closed at once.
 */
test("HAProxy closes a client whose server refused and is then marked down (no hang until timeout client)", () => {
    const p = plans.threeSite;
    const rendered = renderHaproxyConfig(p, hostByName(p, "dc1-lb1"), placeholderSecrets().haproxy).split("\n");
    const from = rendered.indexOf("defaults");
    const defaults = rendered.slice(from, rendered.indexOf("", from)).filter((l) => !l.includes("load-server-state-from-file"));
    const defaultServer = rendered.find((l) => l.trim().startsWith("default-server"))!;
    expect(defaultServer).toContain("on-marked-down shutdown-sessions");
    const cfg = writeInRoot(
        "haproxy-markdown.cfg",
        [
            "global",
            "    log stdout format raw local0 info",
            ...defaults,
            "",
            "listen primary",
            "    bind 127.0.0.1:15000",
            "    option httpchk OPTIONS /primary",
            "    http-check expect status 200",
            defaultServer,
            "    server a 127.0.0.1:15432 check port 18008",
            "    server b 127.0.0.1:15433 check port 18008",
            "",
        ].join("\n"),
    );
    // The check answers 503 (as Patroni's /primary on a replica); nothing listens on 15432/15433.
    const checks = writeInRoot(
        "checks.py",
        [
            "import http.server",
            "class H(http.server.BaseHTTPRequestHandler):",
            "    def do_OPTIONS(self):",
            "        self.send_response(503); self.end_headers()",
            "    def log_message(self, *a): pass",
            'http.server.ThreadingHTTPServer(("127.0.0.1", 18008), H).serve_forever()',
        ].join("\n"),
    );
    const client = writeInRoot(
        "client.py",
        [
            "import socket, time",
            "for _ in range(100):",
            "    try:",
            '        s = socket.create_connection(("127.0.0.1", 15000)); break',
            "    except OSError: time.sleep(0.01)",
            's.sendall(bytes.fromhex("0000000804d2162f"))  # libpq\'s SSLRequest',
            "s.settimeout(10)",
            "try:",
            '    print("closed" if s.recv(100) == b"" else "answered")',
            "except socket.timeout:",
            '    print("hung")',
        ].join("\n"),
    );
    const ns = `ncha-markdown-${process.pid}`;
    execFileSync("ip", ["netns", "add", ns]);
    try {
        execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
        const script = [
            'root=$1; mount --bind "$0" "$root/mnt" && exec chroot "$root" sh -c "',
            `python3 ${checks} & c=\\$!; sleep 0.3;`,
            `haproxy -f ${cfg} >/dev/null 2>&1 & h=\\$!;`,
            `python3 ${client}; kill \\$h \\$c; wait"`,
        ].join(" ");
        const r = spawnSync("ip", ["netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, HOST_WORK, ROOTFS], {
            encoding: "utf8",
            timeout: 30000,
        });
        expect(`${r.stdout}${r.stderr}`.trim()).toBe("closed");
    } finally {
        spawnSync("ip", ["netns", "del", ns]);
    }
});
