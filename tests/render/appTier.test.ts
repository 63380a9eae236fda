/** Renderers of the files and app tier: Gluster, NGINX, the Nextcloud node's host side. */
import { loadPlan } from "../../plan/load";
import { parse } from "yaml";
import { renderCloudInit } from "../../render/cloudInit";
import { placeholderHostKey, placeholderInputs, placeholderTls } from "../../render/placeholders";
import { renderGlusterBrick, renderGlusterMount, renderVolumeScript } from "../../render/gluster";
import { renderNginxSite } from "../../render/nginx";
import { renderNextcloudConfig } from "../../render/nextcloud";
import { NextcloudSecrets, SecretsBundle } from "../../render/secrets";
import { renderHost } from "../../render/host";

import { hostByName } from "../../plan/plan";
import { appTierConfig } from "../helpers/configs";

const plan = loadPlan(appTierConfig()).plan;

/** The app tier with a second NGINX node in dc1, with or without the site's VIP. */
function twoNginxConfig(vip: boolean): any {
    const raw: any = appTierConfig();
    raw.sites.dc1.hosts.push({ name: "dc1-lb2", vmId: 2132, address: "10.10.1.32", roles: ["nginx"] });
    if (vip) raw.sites.dc1.vip = "10.10.1.30";
    return raw;
}
const SECRETS: NextcloudSecrets = {
    instanceId: "oc1234",
    passwordSalt: "salt'x",
    secret: "s3cr3t",
    databasePassword: "dbpw",
    redisPassword: "redispw",
    adminPassword: "adminpw",
};

test("volume script: waits for peers, creates replica 2 arbiter 1 only when absent, sets quorum and small-file options", () => {
    const script = renderVolumeScript(plan, hostByName(plan, "dc3-etcd1"));
    expect(script).toContain("gluster peer probe 10.10.1.41");
    expect(script).toContain("gluster peer probe 10.10.2.41");
    expect(script).not.toContain("gluster peer probe 10.10.3.11");
    expect(script).toContain("if ! gluster volume info nextcloud");
    expect(script).toContain(
        "volume create nextcloud replica 2 arbiter 1 10.10.1.41:/data/glusterfs/nextcloud/brick 10.10.2.41:/data/glusterfs/nextcloud/brick 10.10.3.11:/data/glusterfs/nextcloud/arbiter",
    );
    for (const o of [
        "cluster.quorum-type auto",
        "cluster.server-quorum-type server",
        "group metadata-cache",
        "group nl-cache",
        "performance.parallel-readdir on",
    ]) {
        expect(script).toContain(`volume set nextcloud ${o}`);
    }
    // Only the brick hosts and the app hosts may connect: no database, load balancer or NGINX host.
    expect(script).toContain("volume set nextcloud auth.allow 10.10.1.41,10.10.2.41,10.10.3.11,10.10.1.51,10.10.1.52,10.10.2.51");
    expect(script).toMatch(/-lt 120 \]/); // bounded waits
});

test("no brick host keeps a copy of the volume script: it goes with the command that runs it", () => {
    for (const h of ["dc1-gfs1", "dc2-gfs1", "dc3-etcd1"]) {
        expect(
            renderGlusterBrick(plan, hostByName(plan, h))
                .files.map((f) => f.content)
                .join("\n"),
        ).not.toContain("volume create");
    }
});

test("app hosts mount the volume with backup volfile servers", () => {
    const unit = renderGlusterMount(plan).files[0];
    expect(unit.path).toBe("/etc/systemd/system/srv-nextcloud.mount");
    expect(unit.content).toContain("What=10.10.1.41:/nextcloud");
    expect(unit.content).toContain("Options=defaults,_netdev,backup-volfile-servers=10.10.2.41:10.10.3.11");
});

test("brick hosts format and mount their data disk at first boot", () => {
    const host = hostByName(plan, "dc1-gfs1");
    const doc = parse(
        renderCloudInit(host, renderHost(plan, host, { tls: placeholderTls(host.name) }), {
            sshAuthorizedKeys: [],
            sshUser: "debian",
            hostKey: placeholderHostKey(host.name),
        }),
    );
    // By id: a second disk is not always /dev/sdb.
    expect(doc.fs_setup[0]).toMatchObject({
        label: "data",
        filesystem: "xfs",
        device: "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi1",
        overwrite: false,
    });
    expect(doc.mounts[0]).toEqual(["LABEL=data", "/data/glusterfs", "xfs", "defaults,nofail", "0", "2"]);
});

test("NGINX: TLS 1.2+, HSTS, upload size, only the site's own app nodes with passive health checks", () => {
    const site = renderNginxSite(plan, hostByName(plan, "dc1-lb1"));
    expect(site).toContain("ssl_protocols TLSv1.2 TLSv1.3;");
    expect(site).toContain("Strict-Transport-Security");
    expect(site).toContain("client_max_body_size 16G;");
    expect(site).toContain("server 10.10.1.51:8080 max_fails=3 fail_timeout=10s;");
    expect(site).toContain("server 10.10.1.52:8080 max_fails=3 fail_timeout=10s;");
    expect(site).not.toContain("10.10.2.51"); // no load balancing across datacenters
    expect(site).toContain("location = /status.php");
    expect(site).toContain("server_name cloud.example.org files.example.org;");
});

test("NGINX hardening: Mozilla intermediate ciphers, no session tickets, no version, no header Nextcloud sets itself", () => {
    const site = renderNginxSite(plan, hostByName(plan, "dc1-lb1"));
    expect(site).toContain("ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:");
    expect(site).toContain("ssl_session_tickets off;");
    expect(site).toContain("server_tokens off;");
    // Nextcloud's own response carries these: a second copy fails its setup check.
    for (const header of ["X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "X-Robots-Tag"]) expect(site).not.toContain(header);
});

test("GlusterFS over TLS: every brick and app host gets its identity where Gluster reads it and management TLS on; the volume turns on I/O TLS for exactly those hosts' names", () => {
    const script = renderVolumeScript(plan, hostByName(plan, "dc3-etcd1"));
    expect(script).toContain("volume set nextcloud client.ssl on");
    expect(script).toContain("volume set nextcloud server.ssl on");
    expect(script).toContain("volume set nextcloud auth.ssl-allow dc1-gfs1,dc2-gfs1,dc3-etcd1,dc1-app1,dc1-app2,dc2-app1");
    for (const name of ["dc1-gfs1", "dc3-etcd1", "dc1-app1"]) {
        const files = renderHost(plan, hostByName(plan, name), { ...placeholderInputs(hostByName(plan, name)), tls: placeholderTls(name) }).files;
        const tls = files.filter((f) => f.path.startsWith("/etc/ssl/glusterfs.") || f.path === "/var/lib/glusterd/secure-access");
        expect(tls.map((f) => `${f.path} ${f.mode}`)).toEqual([
            "/etc/ssl/glusterfs.pem 0644",
            "/etc/ssl/glusterfs.key 0600",
            "/etc/ssl/glusterfs.ca 0644",
            "/var/lib/glusterd/secure-access 0644",
        ]);
        expect(tls[1].content).toContain(`private key of ${name}`);
    }
    // Not a client of the volume: no Gluster identity.
    const db = hostByName(plan, "dc1-db1");
    expect(renderHost(plan, db, placeholderInputs(db)).files.some((f) => f.path.startsWith("/etc/ssl/glusterfs"))).toBe(false);
});

test("Redis: Debian's package on the site's Redis host, its password only in the 0640 config file", () => {
    const redisHost = renderHost(plan, hostByName(plan, "dc1-app1"), { secrets: { nextcloud: SECRETS } as SecretsBundle, tls: placeholderTls("app") });
    const other = renderHost(plan, hostByName(plan, "dc1-app2"), { secrets: { nextcloud: SECRETS } as SecretsBundle, tls: placeholderTls("app") });
    const redis = redisHost.services.find((s) => s.name === "redis")!;
    expect(redis.unit).toBe("redis-server.service");
    expect(redis.command.join(" ")).not.toContain("redispw");
    expect(redisHost.packages).toContain("redis-server");
    const conf = redisHost.files.find((f) => f.path === "/etc/redis/redis.conf")!;
    expect(conf).toMatchObject({ mode: "0640", owner: "redis:redis", service: "redis" });
    expect(conf.content).toContain("requirepass redispw\n");
    expect(conf.content).toContain("bind 10.10.1.51 127.0.0.1\n");
    expect(other.services.map((s) => s.name)).not.toContain("redis");
    // The installer's passwords: files of their own, root only, read once at install.
    const install = redisHost.files.filter((f) => f.path.startsWith("/etc/nextcloud-ha/install/"));
    expect(install.map((f) => [f.path, f.mode, f.content])).toEqual([
        ["/etc/nextcloud-ha/install/admin-password", "0600", "adminpw"],
        ["/etc/nextcloud-ha/install/database-password", "0600", "dbpw"],
    ]);
    expect(other.files.some((f) => f.path.startsWith("/etc/nextcloud-ha/install/"))).toBe(false);
});

test("Nextcloud config: shared secrets, database through HAProxy with TLS verified, the site's Redis by address, the site's proxies", () => {
    const dc1 = renderNextcloudConfig(plan, hostByName(plan, "dc1-app2"), SECRETS);
    const dc2 = renderNextcloudConfig(plan, hostByName(plan, "dc2-app1"), SECRETS);
    for (const cfg of [dc1, dc2]) {
        expect(cfg).toContain("'instanceid' => 'oc1234',");
        expect(cfg).toContain("'passwordsalt' => 'salt\\'x',");
        expect(cfg).toContain("'memcache.locking' => '\\\\OC\\\\Memcache\\\\Redis',");
        expect(cfg).not.toMatch(/localhost|127\.0\.0\.1/);
        // TLS to the database, the member's certificate checked against HAProxy's address; the CA file mounted in.
        expect(cfg).toContain("'pgsql_ssl' => ['mode' => 'verify-full', 'rootcert' => '/run/nextcloud-ha/ca.crt'],");
    }
    expect(dc1).toContain("'dbhost' => '10.10.1.31:5000',");
    expect(dc1).toContain("'redis' => ['host' => '10.10.1.51'");
    expect(dc1).toContain("'trusted_proxies' => ['10.10.1.31'],");
    expect(dc2).toContain("'dbhost' => '10.10.2.31:5000',");
    expect(dc2).toContain("'redis' => ['host' => '10.10.2.51'");
});

test("keepalived: two NGINX nodes share the site's VIP over unicast VRRP, and DNS points at the VIP", () => {
    const p = loadPlan(twoNginxConfig(true)).plan;
    const { renderKeepalivedConfig } = require("../../render/keepalived") as typeof import("../../render/keepalived");
    const one = renderKeepalivedConfig(p, hostByName(p, "dc1-lb1"));
    const two = renderKeepalivedConfig(p, hostByName(p, "dc1-lb2"));
    expect(one).toContain("virtual_ipaddress {\n        10.10.1.30/24 dev eth0");
    expect(one).toContain("unicast_peer {\n        10.10.1.32\n    }");
    expect(two).toContain("unicast_peer {\n        10.10.1.31\n    }");
    expect(one).toContain("priority 150");
    expect(two).toContain("priority 100");
    expect(one).toContain('script "/usr/bin/pgrep -x nginx"');
    const rendered = renderHost(p, hostByName(p, "dc1-lb2"), { certificate: { cert: "c", key: "k" } });
    expect(rendered.services.map((s) => s.name)).toEqual(["nginx", "keepalived"]);
});

test("ipfilter: an NGINX host of a site with a VIP may send from the VIP too (keepalived moves it onto the VM); others from their own address only", () => {
    const { sourceAddresses } = require("../../render/firewall") as typeof import("../../render/firewall");
    const p = loadPlan(twoNginxConfig(true)).plan;
    expect(sourceAddresses(p, hostByName(p, "dc1-lb2"))).toEqual(["10.10.1.32", "10.10.1.30"]);
    expect(sourceAddresses(p, hostByName(p, "dc1-app1"))).toEqual(["10.10.1.51"]);
});

test("two NGINX nodes without a VIP are refused", () => {
    expect(() => loadPlan(twoNginxConfig(false))).toThrow(/sites.dc1.vip: dc1 has 2 NGINX nodes; set a virtual address/);
});
