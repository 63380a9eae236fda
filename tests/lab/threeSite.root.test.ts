/**
 * Integration, three-site, one lab for every check: boots the committed plan plus the files
 * and app tier (Gluster bricks in dc1 and dc2, the arbiter on dc3's witness, NGINX on the
 * load balancers, app hosts with the probe app standing in for Nextcloud), then
 *   - the canary: a trial made to lose writes must be reported as lost writes by the same
 *     recorder that reports 0 below (only then do the "0 lost" assertions mean anything);
 *   - isolation and site loss: a new leader, nothing lost, no split-brain (the primary's host
 *     alone lost is the benchmarks' drill, npm run bench:failover; site loss kills it too);
 *   - etcd's leader keeper: a flapping witness (the witness lost and back, and the keeper's
 *     figures, are bench:sites' drills);
 *   - app-host and storage-host loss through NGINX: no acknowledged row or file lost;
 *   - day two over SSH: a config change that needs a restart, rolled by the cluster step; every
 *     host's certificate renewed and delivered; a Patroni member added and removed; an etcd
 *     member replaced (and refused while another is down); the CA rotated in three rounds; a
 *     package update rolled through the Patroni members; every password rotated; the
 *     certificate, password and etcd membership checks' canaries.
 * Tears the lab down even when a step fails. Needs root.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { HostPlan } from "../../plan/plan";

const MINUTE = 60000;
const ROOT = path.join(__dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-three-site-"));
// The lab reads the stack files from here; set before the lab's modules load.
process.env.NCHA_STACK_DIR = dir;

let lifecycle: typeof import("../../lab/lifecycle");
let drill: typeof import("../../lab/drill").drill;
let status: typeof import("../../lab/status").status;
let hosts: string[] = [];
let started = false;

/** What every drill trial without a canary must show: no problem, writes acknowledged, none lost, never two primaries. */
function expectClean(t: import("../../lab/recorder").TrialResult): void {
    expect(t.problems).toEqual([]);
    expect(t.acknowledged).toBeGreaterThan(100);
    expect(t.missing).toBe(0);
    expect(t.splitBrainMoments).toBe(0);
}

function cli(...args: string[]): { status: number; stdout: string; stderr: string } {
    const r = spawnSync(TSX, [path.join(ROOT, "lab", "cli.ts"), ...args], { encoding: "utf8", timeout: MINUTE, env: { ...process.env, NCHA_STACK_DIR: dir } });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
    const { appTierConfig, writeStackDir } = await import("../helpers/configs");
    writeStackDir(dir, appTierConfig());
    lifecycle = await import("../../lab/lifecycle");
    drill = (await import("../../lab/drill")).drill;
    status = (await import("../../lab/status")).status;
    const { loadState } = await import("../../lab/state");
    if (loadState()) throw new Error("a lab is already running here; run `npm run lab -- down` before the tests");
    started = true; // from here on, whatever up() leaves behind is this test's to remove
    await lifecycle.up({});
    hosts = loadState()!.plan.hosts.map((h) => h.name);
}, 6 * MINUTE);

afterAll(async () => {
    if (started) {
        await lifecycle.down({ quiet: true });
        const { existingNamespaces } = await import("../../lab/net");
        const { ROUTER_NS } = await import("../../lab/state");
        expect(existingNamespaces().filter((ns) => ns === ROUTER_NS || hosts.includes(ns))).toEqual([]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
}, 2 * MINUTE);

test(
    "status: every host and service up, one leader, a sync standby, etcd healthy, HAProxy routing to the leader, the volume mounted",
    async () => {
        const s = await status();
        expect(s.hosts.map((h) => h.name).sort()).toEqual([
            "dc1-app1",
            "dc1-app2",
            "dc1-db1",
            "dc1-etcd1",
            "dc1-gfs1",
            "dc1-lb1",
            "dc2-app1",
            "dc2-db1",
            "dc2-etcd1",
            "dc2-gfs1",
            "dc2-lb1",
            "dc3-etcd1",
        ]);
        expect(s.hosts.every((h) => h.up)).toBe(true);
        for (const h of s.hosts) for (const [svc, state] of Object.entries(h.services)) expect(`${h.name} ${svc} ${state}`).toMatch(/ (running|done)$/);
        expect(s.patroni.leader).toBeDefined();
        expect(s.patroni.members.filter((m) => m.role === "sync_standby" && m.state === "streaming")).toHaveLength(1);
        expect(Object.values(s.etcd).every(Boolean)).toBe(true);
        for (const lb of Object.values(s.haproxy)) expect(lb!.upPrimary).toEqual([s.patroni.leader]);
        for (const h of s.hosts.filter((x) => x.roles.includes("nextcloud")))
            expect(h.services).toMatchObject({ "probe-app": "running", "gluster-mount": "done" });
        expect(s.gluster).toEqual({ volume: "nextcloud", bricksOnline: 3, bricks: 3 });
    },
    MINUTE,
);

test(
    "witness-flap: etcd's leadership leaves the witness when it is cut off and comes home once, a hold-off after the last reconnection, whatever the flapping; nothing else moves and status shows it",
    async () => {
        const { requireState } = await import("../../lab/state");
        const plan = requireState().plan;
        const cluster = plan.etcdClusters[0];
        expect(cluster.leaders).toEqual(["dc3-etcd1"]);
        const t = (await drill("witness-flap", { trials: 1, say: () => undefined })).trials[0];
        expectClean(t);
        // The keeper held it on the witness before the first cut: its doing, not raft's chance.
        expect(t.etcdLeader).toBe("dc3-etcd1");
        expect(t.newLeader).toBe(t.oldLeader);
        // Four cuts and three reconnections, one move: home, no sooner than the hold-off.
        expect(t.extra?.keeperMoves).toBe(1);
        expect(t.extra?.etcdLeaderAway).toBeDefined();
        expect(t.extra?.etcdLeaderBack).toBeGreaterThanOrEqual(plan.etcd.leaderHoldOffS - 1);
        expect((await status()).etcdLeaders).toEqual({ [cluster.name]: "dc3-etcd1" });
    },
    6 * MINUTE,
);

test(
    "PostgreSQL's links are TLS and verified: each member and HAProxy take verify-full, a plaintext connection is refused by pg_hba, a client trusting another CA refuses the server, the superuser is refused from HAProxy's host, every replica streams over TLS",
    async () => {
        const { requireState } = await import("../../lab/state");
        const { checkPostgresTls } = await import("../../lab/drill");
        const seen = await checkPostgresTls(requireState());
        expect(seen.filter((l) => l.endsWith("verify-full, TLS"))).toHaveLength(3); // two members and HAProxy
        expect(seen.join("\n")).toMatch(/plaintext refused \(.*no encryption/);
        expect(seen.join("\n")).toMatch(/certificate verify failed/);
        // pg_hba per role: the superuser, password and TLS right, is refused from HAProxy's host.
        expect(seen.join("\n")).toMatch(/the superuser from \S+ refused \(.*pg_hba\.conf rejects connection/);
    },
    2 * MINUTE,
);

test(
    "Patroni's REST API is HTTPS and verified: a plaintext request gets no answer, a client trusting another CA refuses it, a change needs a client certificate from a deployment CA and the password",
    async () => {
        const { requireState } = await import("../../lab/state");
        const { checkRestTls } = await import("../../lab/drill");
        const seen = (await checkRestTls(requireState())).join("\n");
        expect(seen).toMatch(/^verified GET: HTTP 200/m);
        expect(seen).toMatch(/^PATCH with the password, no client certificate: HTTP 403/m);
        expect(seen).toMatch(/^PATCH with the member's certificate and the password: HTTP 200/m);
    },
    MINUTE,
);

test(
    "etcd's TLS: the member's own certificate on the client port, another member's on the peer port, no plaintext, no other CA either way, the peer port only certificates naming the cluster's peer (not a Patroni member's, not an app host's)",
    async () => {
        const { requireState } = await import("../../lab/state");
        const { checkEtcdTls } = await import("../../lab/drill");
        const seen = (await checkEtcdTls(requireState())).join("\n");
        expect(seen).toMatch(/^client port, the member's certificate: HTTP 200/m);
        expect(seen).toMatch(/^peer port, \S+'s certificate \(a member\): HTTP 200/m);
        expect(seen).toMatch(/^client port, another CA's certificate: error/m);
        expect(seen).toMatch(/^peer port, \S+'s certificate \(a client, not a peer\): error/m);
    },
    MINUTE,
);

test(
    "etcd's auth: without a user a Patroni cluster's keys are refused; its own user reads them and nothing else (another cluster's prefix, outside the namespace); a wrong password fails; root reads all",
    async () => {
        const { requireState } = await import("../../lab/state");
        const { checkEtcdAuth } = await import("../../lab/drill");
        const seen = checkEtcdAuth(requireState()).join("\n");
        expect(seen).toMatch(/^no user, \/service\/nextcloud\/leader: error: .*permission denied/m);
        expect(seen).toMatch(/^patroni-nextcloud, \/service\/nextcloud\/leader: ok: dc\d-db\d/m);
        expect(seen).toMatch(/^patroni-nextcloud, a write under another cluster's prefix: error: .*permission denied/m);
        expect(seen).toMatch(/^patroni-nextcloud, a wrong password: error: .*authentication failed/m);
    },
    MINUTE,
);

test(
    "Gluster's volume over TLS takes only its bricks and the app hosts: an app host mounts it a second time; a database host is refused without TLS, and refused with a certificate from the deployment CA that is not one of them",
    async () => {
        const { requireState } = await import("../../lab/state");
        const { execInHost } = await import("../../lab/hosts");
        const { GLUSTER_TLS } = await import("../../render/gluster");
        const state = requireState();
        const g = state.plan.gluster!;
        const server = state.plan.hosts.find((h) => h.name === g.bricks[0].host)!.address;
        // A second mount beside the service's, bounded, always unmounted; `setup` runs first, `undo` after.
        const mount = (host: string, setup = "true", undo = "true") =>
            execInHost(
                state.holders[host],
                host,
                [
                    "sh",
                    "-c",
                    `${setup} && mkdir -p /tmp/auth-probe && timeout 60 /usr/sbin/mount.glusterfs ${server}:/${g.volume} /tmp/auth-probe -o log-file=/tmp/auth-probe.log && mountpoint -q /tmp/auth-probe; rc=$?; umount /tmp/auth-probe 2>/dev/null; ${undo}; grep -hiE 'auth|denied|SETVOLUME|SSL' /tmp/auth-probe.log | head -50; rm -f /tmp/auth-probe.log; exit $rc`,
                ],
                90000,
            );
        const app = state.plan.hosts.find((h) => h.roles.includes("nextcloud"))!.name;
        const db = state.plan.hosts.find((h) => h.roles.includes("patroni") && !h.roles.includes("nextcloud"))!.name;
        expect(mount(app).status).toBe(0);
        // No TLS identity at all: glusterd's management port speaks TLS only.
        expect(mount(db).status).not.toBe(0);
        // The database host's own certificate from the deployment CA, where GlusterFS looks: TLS works, the bricks refuse it (not a brick or app host).
        const pki = "/etc/patroni/pki";
        const files = [GLUSTER_TLS.cert, GLUSTER_TLS.key, GLUSTER_TLS.ca, GLUSTER_TLS.secureAccess];
        const refused = mount(
            db,
            `mkdir -p /var/lib/glusterd && cp ${pki}/member.crt ${GLUSTER_TLS.cert} && cp ${pki}/member.key ${GLUSTER_TLS.key} && cp ${pki}/ca.crt ${GLUSTER_TLS.ca} && : > ${GLUSTER_TLS.secureAccess}`,
            `rm -f ${files.join(" ")}`,
        );
        expect(refused.status).not.toBe(0);
        // Refused by the volume's allow lists, not by anything else (the client's log).
        expect(refused.stdout).toMatch(/authentication failed/i);
    },
    4 * MINUTE,
);

test(
    "each site's Redis (Debian's redis-server) answers the site's app hosts with the password only",
    () => {
        const { requireState } = require("../../lab/state") as typeof import("../../lab/state");
        const { execInHost } = require("../../lab/hosts") as typeof import("../../lab/hosts");
        const { labSecrets } = require("../../lab/secrets") as typeof import("../../lab/secrets");
        const state = requireState();
        const password = labSecrets().nextcloud.redisPassword;
        for (const site of state.plan.sites.filter((s) => s.redis)) {
            const redis = state.plan.hosts.find((h) => h.name === site.redis)!;
            const client = state.plan.hosts.find((h) => h.site === site.name && h.roles.includes("nextcloud") && h.name !== redis.name) ?? redis;
            // The password by stdin into REDISCLI_AUTH, never on a command line.
            const cli = `timeout 10 redis-cli -h ${redis.address} -p ${state.plan.ports.redis} ping 2>&1`;
            const ping = (auth: string | undefined) =>
                auth === undefined
                    ? execInHost(state.holders[client.name], client.name, ["sh", "-c", cli], 20000)
                    : execInHost(state.holders[client.name], client.name, ["sh", "-c", `read -r REDISCLI_AUTH; export REDISCLI_AUTH; ${cli}`], 20000, {
                          input: `${auth}\n`,
                      });
            expect(ping(undefined).stdout).toMatch(/NOAUTH/);
            expect(ping("not-the-password").stdout).toMatch(/WRONGPASS|invalid password/i);
            expect(ping(password).stdout.trim()).toBe("PONG");
        }
    },
    MINUTE,
);

test(
    "bad input gets one line and a non-zero exit, and leaves nothing behind",
    () => {
        const { existingNamespaces } = require("../../lab/net") as typeof import("../../lab/net");
        const before = existingNamespaces().sort();
        for (const [args, message] of [
            [["drill", "meteor-strike"], /^lab: unknown scenario meteor-strike; the scenarios are /],
            [["fault", "kill-host", "dc9-db1"], /^lab: no host dc9-db1 in the plan/],
            [["up"], /^lab: a lab is already running/],
            [["fault", "slow-wan", "fast"], /^lab: slow-wan takes a delay in ms/],
            [["drill", "dc-promotion"], /^lab: dc-promotion needs the two-site lab/],
            [["fault", "kill-site", "dc9"], /^lab: no site dc9 in the plan/],
        ] as [string[], RegExp][]) {
            const r = cli(...args);
            expect(r.status).toBe(1);
            expect(r.stderr).toMatch(message);
            expect(
                r.stderr
                    .trim()
                    .split("\n")
                    .filter((l) => !l.startsWith("npm warn")),
            ).toHaveLength(1);
        }
        expect(existingNamespaces().sort()).toEqual(before);
    },
    2 * MINUTE,
);

test(
    "canary: asynchronous replication and a cut primary site lose acknowledged writes, and the recorder reports them",
    async () => {
        const t = (await drill("canary-async-site-cut", { trials: 1, say: () => undefined })).trials[0];
        // The cut primary acknowledges writes for seconds (about 200 a second) before it steps down:
        // hundreds at least. Ids the database hands out would hide most of them (a promoted replica
        // hands the same sequence values out again): the writer makes its own.
        expect(t.missing).toBeGreaterThan(100);
        expect(t.problems).toEqual([]); // nothing but the loss it was built to cause
        expect(t.ok).toBe(true);
        expect(t.newLeader).not.toBe(t.oldLeader);
        // Synchronous mode is back: the cluster has its sync standby again.
        expect((await status()).patroni.members.filter((m) => m.role === "sync_standby")).toHaveLength(1);
    },
    6 * MINUTE,
);

// The primary's host alone: bench:failover's drill (20 trials); site-loss kills that host with its site.
test.each(["primary-isolation", "site-loss"])(
    "%s: a new leader, no acknowledged write lost, no split-brain moment, every member observed",
    async (scenario) => {
        const t = (await drill(scenario, { trials: 1, say: () => undefined })).trials[0];
        expectClean(t);
        expect(t.newLeader).toBeDefined();
        expect(t.newLeader).not.toBe(t.oldLeader);
    },
    5 * MINUTE,
);

test(
    "app-host-loss: NGINX keeps serving through the other app node",
    async () => {
        const t = (await drill("app-host-loss", { trials: 1, say: () => undefined })).trials[0];
        expectClean(t);
        expect(t.target).toBe("dc1-app1");
    },
    6 * MINUTE,
);

test(
    "storage-host-loss: files written through NGINX survive, and the volume heals",
    async () => {
        const t = (await drill("storage-host-loss", { trials: 1, say: () => undefined })).trials[0];
        expectClean(t);
        expect(t.target).toBe("dc1-gfs1");
    },
    6 * MINUTE,
);

test(
    "day two through SSH: a parameter that needs a restart is rolled by the cluster step (replica, switchover, old primary), nothing lost, no split-brain; the stack files' config is back after",
    async () => {
        const t = (await drill("config-restart", { trials: 1, say: () => undefined })).trials[0];
        expectClean(t);
        expect(t.newLeader).not.toBe(t.oldLeader); // the switchover of the rolling restart
        // Every step's triggers are the stack files' again: a preview of the lab shows nothing to do.
        const preview = cli("apply", "--dry-run");
        expect(preview.status).toBe(0);
        expect(preview.stdout.trim()).toBe("no changes");
    },
    8 * MINUTE,
);

test(
    "rotate-certs: every host's certificate renewed and delivered by the converge steps (etcd one member at a time, Patroni and PostgreSQL reloaded); every etcd member and PostgreSQL presents its new one; nothing lost, no split-brain",
    async () => {
        expectClean((await drill("rotate-certs", { trials: 1, say: () => undefined })).trials[0]);
    },
    6 * MINUTE,
);

test(
    "rotate-certs' check can fail: a certificate issued but not delivered is reported, by host; delivered, it passes",
    async () => {
        const { requireState, PKI_DIR } = await import("../../lab/state");
        const { forgetIdentity, issueIdentity } = await import("../../lab/pki");
        const { checkCertsServed } = await import("../../lab/drill");
        const { applyPlan } = await import("../../lab/lifecycle");
        const state = requireState();
        const { certificateNames } = await import("../../render/host");
        const renew = (h: HostPlan) => (forgetIdentity(PKI_DIR, h), issueIdentity(PKI_DIR, certificateNames(state.plan, h), state.plan.certificates));
        const db = state.plan.hosts.find((h) => h.roles.includes("patroni"))!;
        renew(db);
        await expect(checkCertsServed(state)).rejects.toThrow(`PostgreSQL on ${db.name} still presents its old certificate`);
        const etcd = state.plan.hosts.find((h) => h.roles.includes("etcd"))!;
        renew(etcd);
        await expect(checkCertsServed(state)).rejects.toThrow(`etcd on ${etcd.name} still presents its old certificate`);
        expect(await applyPlan(state, state.plan, () => undefined)).toBeGreaterThan(0);
        await checkCertsServed(state);
    },
    4 * MINUTE,
);

test(
    "add-replica, then remove-replica: a Patroni member added by the stack files clones and streams while the writer writes; dropped again, it leaves (out of the synchronous set, stopped) and its host goes; nothing lost either way",
    async () => {
        // The member added stays for remove-replica, which then removes it (no second add and remove).
        const added = (await drill("add-replica", { trials: 1, say: () => undefined, keep: true })).trials[0];
        expectClean(added);
        const removed = (await drill("remove-replica", { trials: 1, say: () => undefined })).trials[0];
        expectClean(removed);
        const { requireState } = await import("../../lab/state");
        expect(requireState().plan.hosts.map((h) => h.name)).not.toContain("dc1-db9");
        const { existingNamespaces } = await import("../../lab/net");
        expect(existingNamespaces()).not.toContain("dc1-db9");
        expect(cli("apply", "--dry-run").stdout.trim()).toBe("no changes");
    },
    10 * MINUTE,
);

test(
    "etcd-member-replace: dc1's etcd member swapped for a new host through the stack files (member add, started as existing; then member remove, stopped) while the writer writes, and back; etcd is the plan's members, all healthy; nothing lost",
    async () => {
        const t = (await drill("etcd-member-replace", { trials: 1, say: () => undefined })).trials[0];
        expectClean(t);
        const { requireState } = await import("../../lab/state");
        const { checkEtcdMembers } = await import("../../lab/drill");
        // The drill's finish swapped it back: the stack files' member again, as a new host.
        expect(requireState().plan.hosts.map((h) => h.name)).toContain("dc1-etcd1");
        expect(cli("apply", "--dry-run").stdout.trim()).toBe("no changes");
        await checkEtcdMembers(requireState());
    },
    6 * MINUTE,
);

test(
    "an etcd member is not added while another is down (it would count toward the quorum before it runs): the apply stops with the reason; once the member is back, the same apply goes through. The membership check reports a member the plan does not name",
    async () => {
        const { appTierConfig, writeStackDir } = await import("../helpers/configs");
        const { requireState } = await import("../../lab/state");
        const { execInHost } = await import("../../lab/hosts");
        const { checkEtcdMembers } = await import("../../lab/drill");
        const swapped: any = appTierConfig();
        swapped.sites.dc1.hosts = swapped.sites.dc1.hosts.map((h: any) =>
            h.name === "dc1-etcd1" ? { ...h, name: "dc1-etcd9", vmId: 2199, address: "10.10.1.19" } : h,
        );
        const inHost = (host: string, script: string) => execInHost(requireState().holders[host], host, ["sh", "-c", script], 30000);
        try {
            expect(inHost("dc2-etcd1", "systemctl stop etcd").status).toBe(0);
            writeStackDir(dir, swapped);
            const refused = cli("apply");
            expect(refused.status).not.toBe(0);
            expect(refused.stderr).toMatch(/step dc1-etcd9\/etcd failed .*cannot add dc1-etcd9 while dc2-etcd1 is not healthy/);
            expect(inHost("dc2-etcd1", "systemctl start etcd").status).toBe(0);
            const done = cli("apply");
            expect(done.status).toBe(0);
            expect(done.stderr).toContain("dc1-etcd9/etcd: etcd join (dc1-etcd9): added to the cluster of 3 members");
            expect(done.stderr).toContain("dc1-etcd1: gone");
            await checkEtcdMembers(requireState());
        } finally {
            inHost("dc2-etcd1", "systemctl start etcd");
            writeStackDir(dir, appTierConfig());
            expect(cli("apply").status).toBe(0);
        }
        // The check's canary: a learner the plan does not name (it never counts toward the quorum) must be reported.
        // As an operator would with etcd.auth: root, its password from the member's file into the environment (docs/runbooks/three-site.md).
        const ctl =
            '. /etc/etcd/etcdctl.env && ETCDCTL_USER=root ETCDCTL_PASSWORD="$(cat /etc/etcd/root.password)" ETCDCTL_ENDPOINTS=https://127.0.0.1:2379 etcdctl';
        // etcd refuses a member change for ~5 s after a member (re)joined ("unhealthy cluster"), as the apply just did: asked again, bounded.
        const added = inHost(
            "dc2-etcd1",
            `for i in $(seq 20); do ${ctl} member add ghost --learner --peer-urls=https://198.18.1.250:2380 && exit 0; sleep 1; done; exit 1`,
        );
        expect(`${added.status} ${added.stderr.trim().split("\n").pop()}`).toMatch(/^0 /);
        await expect(checkEtcdMembers(requireState())).rejects.toThrow(/has members .*https:\/\/198\.18\.1\.250:2380 \(never started\)/);
        const id = inHost("dc2-etcd1", `${ctl} member list | grep 198.18.1.250 | cut -d, -f1`).stdout.trim();
        expect(inHost("dc2-etcd1", `${ctl} member remove ${id}`).status).toBe(0);
        await checkEtcdMembers(requireState());
    },
    6 * MINUTE,
);

test(
    "rotate-ca: the deployment CA rotated in its three rounds (both trusted, the new one signs, only the new one trusted) through the steps while the writer writes; every etcd member then presents the new CA's certificate and refuses the old CA's; nothing lost. The check fails before the rotation",
    async () => {
        const { requireState } = await import("../../lab/state");
        const { checkCaRotated } = await import("../../lab/drill");
        // The canary: before any rotation the members present the stack files' CA 0, not CA 1.
        await expect(checkCaRotated(requireState(), 1, 0)).rejects.toThrow(/presents a certificate not issued by CA 1/);
        const t = (await drill("rotate-ca", { trials: 1, say: () => undefined })).trials[0];
        expectClean(t);
        // The drill's finish rotated back to the stack files' CA (the same three rounds).
        expect(requireState().plan.certificates).toMatchObject({ caSigning: 0, caTrusted: [0] });
        await checkCaRotated(requireState(), 0, 1);
        expect(cli("apply", "--dry-run").stdout.trim()).toBe("no changes");
    },
    10 * MINUTE,
);

test(
    "package-update: newer patroni and glusterfs-server (Debian's, re-versioned, from a local repository) upgraded by real apt and dpkg with dpkg's restarts held, each Patroni member restarted in turn (a leader hands over first), each brick host in turn (heal done before the next), while the writer writes; each runs the new version in a new process; nothing lost, no split-brain",
    async () => {
        const t = (await drill("package-update", { trials: 1, say: () => undefined })).trials[0];
        expectClean(t);
        expect(cli("apply", "--dry-run").stdout.trim()).toBe("no changes");
    },
    8 * MINUTE,
);

test(
    "rotate-passwords: every database password and the REST password rotated (roles step on the primary, then the members' and the app's files, reloads), writing through NGINX as the app; each new password works, no old one does; nothing lost, no split-brain",
    async () => {
        const t = (await drill("rotate-passwords", { trials: 1, say: () => undefined })).trials[0];
        expectClean(t);
        expect(cli("apply", "--dry-run").stdout.trim()).toBe("no changes");
    },
    6 * MINUTE,
);

test(
    "rotate-passwords' check can fail: passwords delivered without the roles step are reported (the primary refuses them); the roles step run after mends it",
    async () => {
        const { requireState, saveState } = await import("../../lab/state");
        const { labStack } = await import("../../lab/labPlan");
        const { labSecrets, rotateSecrets } = await import("../../lab/secrets");
        const { pendingSteps, runSteps } = await import("../../lab/converge");
        const { applyPlan } = await import("../../lab/lifecycle");
        const { checkRotated } = await import("../../lab/drill");
        const { leaderOf, patroniMembers } = await import("../../lab/cluster");
        const state = requireState();
        const before = labSecrets();
        const { plan } = labStack(state.topology, (c) => ({ ...c, passwords: { rotation: { ...c.passwords.rotation, replication: 5, app: 5 } } }));
        expect(rotateSecrets(plan)).toEqual(["replication", "app"]);
        const [roles, rest] = [
            pendingSteps(state, plan).filter((s) => s.key.startsWith("roles/")),
            pendingSteps(state, plan).filter((s) => !s.key.startsWith("roles/")),
        ];
        expect(roles).toHaveLength(1);
        state.plan = plan;
        saveState(state);
        try {
            await runSteps(state, rest, () => undefined);
            const leader = leaderOf(await patroniMembers(plan))!;
            await expect(checkRotated(state, leader, before, labSecrets(), ["replication", "app"])).rejects.toThrow(
                /replicator cannot log in with its new password on the primary/,
            );
            await runSteps(state, roles, () => undefined);
            await checkRotated(state, leader, before, labSecrets(), ["replication", "app"]);
        } finally {
            await applyPlan(state, labStack(state.topology).plan, () => undefined);
        }
        expect(cli("apply", "--dry-run").stdout.trim()).toBe("no changes");
    },
    6 * MINUTE,
);

test(
    "the replicas' reconnect check can fail: a replica whose password file holds a wrong replication password (what Patroni 4.0.7 leaves after a rotation) is reported; the Patroni step's mender puts it right",
    async () => {
        const { requireState } = await import("../../lab/state");
        const { execInHost } = await import("../../lab/hosts");
        const { checkReplicasReconnect } = await import("../../lab/drill");
        const { leaderOf, patroniMembers } = await import("../../lab/cluster");
        const state = requireState();
        const leader = leaderOf(await patroniMembers(state.plan))!;
        const replica = state.plan.hosts.find((h) => h.roles.includes("patroni") && h.name !== leader)!.name;
        const inReplica = (argv: string[]) => execInHost(state.holders[replica], replica, argv, 60000);
        const spoil = `import re; p = "/var/lib/postgresql/.pgpass_patroni"; t = open(p).read(); open(p, "w").write(re.sub(r"^([^:\\n]*:[^:\\n]*:[^:\\n]*:replicator:).*$", r"\\1wrong", t, flags=re.M))`;
        expect(inReplica(["python3", "-c", spoil]).status).toBe(0);
        await expect(checkReplicasReconnect(state, leader)).rejects.toThrow(`${replica} could not reconnect to the primary`);
        const mend = inReplica(["python3", "/usr/local/lib/nextcloud-ha/patroni-passfile.py"]);
        expect(mend.stdout).toContain("replication password in /var/lib/postgresql/.pgpass_patroni mended");
        await checkReplicasReconnect(state, leader);
    },
    3 * MINUTE,
);
