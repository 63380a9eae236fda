/**
 * Drills: a writer with several connections inserts through a site's HAProxy (or NGINX) and
 * records every acknowledged id; a watcher on every PostgreSQL records whether it accepts
 * writes; the drill injects a fault, heals it, keeps writing, reads back what the database
 * holds, and hands it all to the trial recorder (lab/recorder.ts), which finds the outage,
 * the lost writes, the moments with two writable primaries and the members never observed.
 * Each scenario is a row of SCENARIOS. It restores the cluster between trials.
 */
import { PASSWORD_ROLES, PasswordRole, StackConfig } from "../plan/config";
import { DeploymentPlan, EtcdClusterPlan, etcdClusterOf, hostByName, hostsOf, patroniClusterOf, siteByName } from "../plan/plan";
import { certificateNames, needsTls } from "../render/host";
import { APP_DATABASE, DB_USERS, dynamicConfig, PATRONI_PGPASS, PATRONI_PKI } from "../render/patroni";
import { ETCD_PKI, etcdUserOf, PATRONI_NAMESPACE } from "../render/etcd";
import { GLUSTER_TLS } from "../render/gluster";
import { SecretsBundle } from "../render/secrets";
import { httpRequest, TlsClient } from "../ops/http";
import { etcdHealth, etcdLeader, httpGet, keeperMoves, leaderOf, memberTls, patroniMembers, patroniRest, patroniSwitchover } from "./cluster";
import { fault, heal } from "./faults";
import { execInHost } from "./hosts";
import { membersOf, pgClientEnv, probeOnce, PROBE_SECONDS, runProbe, watchMember, WRITER_CONNECTIONS } from "./probe";
import { promotionTrial, recoverTwoSite } from "./promotionDrill";
import { assessTrial, ObserveWindow, TrialResult, trialResult, WriteEvent } from "./recorder";
import { labSecrets } from "./secrets";
import { waitHealthy } from "./services";
import { LabError, progress, requireRoot, sleep, waitFor } from "./sh";
import { labTransport } from "./converge";
import { applyPlan } from "./lifecycle";
import { labStack } from "./labPlan";
import { createCa, forgetIdentity, issuedBy, issuedFingerprint, issueIdentity, servedCertificate, servedFingerprint, trustBundle } from "./pki";
import { LabState, PKI_DIR, requireState } from "./state";
import { installedVersion, publishUpdate, UPDATED_PACKAGES } from "./updates";
import { summarize, Summary } from "./stats";

type Say = (m: string) => void;

/** A drill scenario: what it breaks, where its writer writes, and when it heals. */
interface Scenario {
    /** The host or site the fault hits, given the leader when the trial starts. */
    target(state: LabState, leader: string): Promise<string>;
    /** Lands the fault; may report what it saw while the fault was in force. */
    inject(state: LabState, leader: string, target: string): Promise<void | Observed>;
    /**
     * Where the writer writes: the primary site's HAProxy, a site that survives the target's
     * loss, NGINX in the primary site (a row and a file per write), or inside the target's site;
     * `nginx-if-any`: NGINX where the plan has the app tier, else the primary site's HAProxy.
     */
    writer: "primary-site" | "surviving-site" | "nginx" | "target-site" | "nginx-if-any";
    /** The leader must move to another member. */
    changesLeader: boolean;
    /** The leader must stay where it was: the fault touches nothing the leader depends on. */
    keepsLeader?: boolean;
    /** Heal once writes succeed again (default), once the leader moved (the writer is cut off with the target), or not at all. */
    healWhen?: "writes" | "leader-moved" | "never";
    /** How long to keep writing after the heal: where lost writes would show. */
    afterHealMs?: number;
    /**
     * Started at the heal, beside the writer's last seconds; awaited before the trial's result.
     * `heals`: every heal of the trial (epoch seconds, each taken as it began), the trial's own last.
     */
    afterHeal?(state: LabState, target: string, heals: number[], faultAt: number): Promise<Observed>;
    /** Run before the writer starts, and after the heal (before the cluster must be healthy again). */
    prepare?(state: LabState, say: Say): Promise<void>;
    restore?(state: LabState, say: Say): Promise<void>;
    /** A canary is made to lose writes: it passes when the recorder reports the loss. */
    canary?: boolean;
    /** Checked before the first trial. */
    requires?(state: LabState): string | undefined;
    /** Run once after the last trial, outside any measurement (a config drill puts the stack files' config back). */
    finish?(state: LabState, say: Say): Promise<void>;
}

/** What a scenario saw beyond the writes: figures for the trial's `extra`, and problems. */
interface Observed {
    extra?: Record<string, number>;
    problems?: string[];
    /** When (epoch seconds) the scenario itself healed a fault it made, before the trial's own heal (witness-flap's reconnections). */
    heals?: number[];
}

const killHost = (_: LabState, __: string, target: string) => fault("kill-host", target).then(() => undefined);

async function replicaOf(state: LabState, leader: string): Promise<string> {
    const m = await patroniMembers(state.plan);
    const replica = m.find((x) => x.name !== leader && x.role !== "leader" && x.cluster === patroniClusterOf(state.plan, leader).scope)?.name;
    if (!replica) throw new LabError("no replica to target");
    return replica;
}

/** Sets keys of the cluster's dynamic config, as an operator would (PATCH /config), and waits a loop for every member to apply it. */
export async function patchClusterConfig(state: LabState, body: Record<string, unknown>): Promise<void> {
    const t = labTransport(state);
    for (const m of membersOf(state)) {
        const r = await t.patroni(hostByName(state.plan, m), "PATCH", "/config", body);
        if (r?.status === 200) {
            await sleep((state.plan.patroni.loopWait + 2) * 1000);
            return;
        }
    }
    throw new LabError(`no Patroni member accepted the config change ${JSON.stringify(body)}`);
}

/**
 * A config change as a pull request makes it, converged through the very steps `pulumi up` runs
 * (lab/converge.ts, over SSH). `edit` gets the stack files' config and the running plan, and
 * returns the config to apply: each trial flips between the stack files' value and another.
 */
function configChange(edit: (config: StackConfig, running: DeploymentPlan) => StackConfig) {
    return async (state: LabState) => {
        const { plan } = labStack(state.topology, (c) => edit(c, state.plan));
        if ((await applyPlan(state, plan, () => undefined)) === 0) throw new LabError("the drill's config change changed no step");
    };
}

/** A PostgreSQL parameter's value as the running plan sets it (the platform's default unless `patroni.parameters` overrides it). */
function plannedParameter(plan: DeploymentPlan, name: string): number {
    const dynamic = dynamicConfig(plan, plan.patroniClusters[0]) as { postgresql: { parameters: Record<string, string | number> } };
    return Number(dynamic.postgresql.parameters[name]);
}

/** After a config drill: the stack files' config again (outside the measurement). */
async function backToStackFiles(state: LabState, say: Say): Promise<void> {
    const n = await applyPlan(state, labStack(state.topology).plan, () => undefined);
    if (n > 0) say(`back to the stack files' config (${n} steps)`);
}

/**
 * A CA rotation's three rounds from the running plan's signing CA to `to` (each a config change
 * converged as `pulumi up` on every stack): both trusted, `to` signs, only `to` trusted.
 */
async function rotateCa(state: LabState, to: number): Promise<void> {
    const from = state.plan.certificates.caSigning;
    const both = [from, to].sort((a, b) => a - b);
    for (const round of [
        { caSigning: from, caTrusted: both },
        { caSigning: to, caTrusted: both },
        { caSigning: to, caTrusted: [to] },
    ])
        await configChange((c) => ({ ...c, certificates: { ...c.certificates, ...round } }))(state);
}

/**
 * After a CA rotation to `generation`: every etcd member presents a certificate from that CA, and
 * refuses a client certificate from the other one (a throwaway one the lab issues from it).
 */
export async function checkCaRotated(state: LabState, generation: number, retired: number): Promise<void> {
    const members = hostsOf(state.plan, { role: "etcd" });
    for (const h of members) {
        const served = await servedCertificate(PKI_DIR, h, h.address, state.plan.ports.etcdClient);
        if (!issuedBy(PKI_DIR, served, generation)) throw new LabError(`${h.name} presents a certificate not issued by CA ${generation}`);
    }
    const stranger = { ...certificateNames(state.plan, members[0]), commonName: `retired-ca-${retired}-client` };
    const old = issueIdentity(PKI_DIR, stranger, { ...state.plan.certificates, caSigning: retired, caTrusted: [retired] });
    for (const h of members) {
        const answer = await httpGet(`https://${h.address}:${state.plan.ports.etcdClient}/health`, 3000, {
            ca: Buffer.from(trustBundle(PKI_DIR, state.plan.certificates)),
            cert: Buffer.from(old.cert),
            key: Buffer.from(old.key),
        }).catch(() => undefined);
        if (answer?.status === 200) throw new LabError(`${h.name} still accepts a client certificate from the retired CA ${retired}`);
    }
}

/** Delivered is not enough: every etcd member and every PostgreSQL must present the certificate last issued to it. */
export async function checkCertsServed(state: LabState): Promise<void> {
    const servers = [
        ...hostsOf(state.plan, { role: "etcd" }).map((h) => ({ h, port: state.plan.ports.etcdClient, what: "etcd", alpn: undefined })),
        ...hostsOf(state.plan, { role: "patroni" }).map((h) => ({ h, port: state.plan.ports.postgres, what: "PostgreSQL", alpn: "postgresql" })),
    ];
    for (const { h, port, what, alpn } of servers) {
        const served = await servedFingerprint(PKI_DIR, h, h.address, port, alpn);
        if (served !== issuedFingerprint(PKI_DIR, h)) throw new LabError(`${what} on ${h.name} still presents its old certificate after the renewal`);
    }
}

/** What the login probe reports (probes/drill_probe.py `login`). */
interface Login {
    ok: boolean;
    ssl?: boolean;
    err?: string;
}

/**
 * Every PostgreSQL link is TLS, verified (docs/design/security.md), seen by a client on the
 * primary site's HAProxy host: each member and HAProxy's read-write port take a `verify-full`
 * connection (with TLS); a plaintext connection matches no pg_hba line; a client that trusts
 * another CA refuses the server. Returns what it saw, one line per case.
 */
export async function checkPostgresTls(state: LabState): Promise<string[]> {
    const db = siteByName(state.plan, state.plan.primarySite).database!;
    const client = db.via;
    // As the app's role (pg_hba admits it from HAProxy's hosts, where `client` runs), with its password.
    const login = (host: string, port: number, extra: string[] = [], user: string = APP_DATABASE.role) =>
        probeOnce<Login>(
            state,
            client,
            [
                "login",
                "--host",
                host,
                "--port",
                String(port),
                "--user",
                user,
                "--dbname",
                user === APP_DATABASE.role ? APP_DATABASE.name : "postgres",
                ...extra,
            ],
            user === APP_DATABASE.role ? labSecrets().database.appPassword : labSecrets().database.superuserPassword,
        );
    const seen: string[] = [];
    const members = hostsOf(state.plan, { role: "patroni" });
    for (const [name, host, port] of [
        ...members.map((m) => [m.name, m.address, state.plan.ports.postgres] as const),
        [`HAProxy ${client}`, db.readWrite.host, db.readWrite.port] as const,
    ]) {
        const r = await login(host, port);
        if (!r.ok || r.ssl !== true)
            throw new LabError(`${name} (${host}:${port}) refused a verify-full connection or took it without TLS: ${r.err ?? `ssl ${r.ssl}`}`);
        seen.push(`${name}: verify-full, TLS`);
    }
    const member = members[0];
    const plain = await login(member.address, state.plan.ports.postgres, ["--sslmode", "disable"]);
    if (plain.ok || !/(no pg_hba\.conf entry|pg_hba\.conf rejects connection) .*no encryption/.test(plain.err ?? ""))
        throw new LabError(`${member.name} did not refuse a plaintext connection by pg_hba: ${plain.ok ? "it logged in" : plain.err}`);
    seen.push(`${member.name}: plaintext refused (${plain.err})`);
    // Per role: the superuser, with its password and TLS, only from the members (and the member itself).
    const su = await login(member.address, state.plan.ports.postgres, [], DB_USERS.superuser);
    if (su.ok || !/pg_hba\.conf rejects connection .*user "postgres"/.test(su.err ?? ""))
        throw new LabError(`${member.name} did not refuse the superuser from ${client} by pg_hba: ${su.ok ? "it logged in" : su.err}`);
    seen.push(`${member.name}: the superuser from ${client} refused (${su.err})`);
    // A CA no host trusts or is signed by: a client trusting it alone must refuse every server.
    const stranger = createCa(PKI_DIR, STRANGER_CA);
    const strangerFile = "/var/lib/nextcloud-ha-lab/stranger-ca.crt";
    execInHost(state.holders[client], client, ["sh", "-c", `cat > ${strangerFile}`], 10000, { input: stranger });
    const other = await login(member.address, state.plan.ports.postgres, ["--sslmode", "verify-full", "--sslrootcert", strangerFile]);
    if (other.ok || !/certificate verify failed/.test(other.err ?? ""))
        throw new LabError(`a client trusting another CA did not refuse ${member.name}: ${other.ok ? "it logged in" : other.err}`);
    seen.push(`${member.name}: refused by a client trusting another CA (${other.err})`);
    // And Patroni's own links: every replica streams over TLS.
    const leader = leaderOf(await patroniMembers(state.plan));
    if (!leader) throw new LabError("no Patroni leader to ask about its replication connections");
    const q = "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)";
    const r = execInHost(state.holders[leader], leader, ["psql", "-XAt", "-F", " ", "-c", q], 20000, { user: "postgres" });
    const [tlsStreams, streams] = r.stdout.trim().split(" ").map(Number);
    if (r.status !== 0 || !(streams > 0) || tlsStreams !== streams)
        throw new LabError(`replication from ${leader}: ${r.status === 0 ? `${tlsStreams} of ${streams} streams over TLS` : r.stderr.trim()}`);
    seen.push(`${leader}: ${streams} of ${streams} replication streams over TLS`);
    return seen;
}

/** How long a drill waits for the old primary to stream again after the heal. */
const OLD_PRIMARY_BACK_MS = 240000;

/** Seconds from `since` (epoch seconds) until Patroni reports `member` streaming as a replica; undefined if not within OLD_PRIMARY_BACK_MS. */
async function secondsUntilStreaming(plan: DeploymentPlan, member: string, since: number): Promise<number | undefined> {
    while (Date.now() / 1000 - since < OLD_PRIMARY_BACK_MS / 1000) {
        const m = (await patroniMembers(plan).catch(() => [])).find((x) => x.name === member);
        if (m && m.role !== "leader" && m.state === "streaming") return Math.round((Date.now() / 1000 - since) * 100) / 100;
        await sleep(250);
    }
    return undefined;
}

/** A CA generation no plan uses: the lab's "other CA". */
const STRANGER_CA = 999;

/** A client's identity from the other CA, as the TLS checks present it. */
function strangerClient(plan: DeploymentPlan): TlsClient {
    const id = issueIdentity(
        PKI_DIR,
        { commonName: "stranger-client", dnsNames: ["stranger-client"], ipAddresses: [] },
        { ...plan.certificates, caSigning: STRANGER_CA, caTrusted: [STRANGER_CA] },
    );
    return { ca: Buffer.from(id.caCert), cert: Buffer.from(id.cert), key: Buffer.from(id.key) };
}

/**
 * Patroni's REST API is HTTPS and verified: a member answers a client trusting the lab's CAs;
 * a plaintext request gets no answer; a client trusting another CA refuses the member; a change
 * with the right password is refused without a client certificate, and the TLS handshake
 * refuses a certificate from another CA; with the member's own certificate it is taken (a
 * PATCH that changes nothing).
 */
export async function checkRestTls(state: LabState): Promise<string[]> {
    const plan = state.plan;
    const member = hostsOf(plan, { role: "patroni" })[0];
    const url = (scheme: string, p: string) => `${scheme}://${member.address}:${plan.ports.patroniRest}${p}`;
    const trusted = Buffer.from(trustBundle(PKI_DIR, plan.certificates));
    const password = labSecrets().database.restApiPassword;
    const stranger = strangerClient(plan);
    const outcome = (p: Promise<{ status: number; body: string }>) =>
        p.then(
            (r) => `HTTP ${r.status}${r.body ? ` ${r.body.trim().slice(0, 60)}` : ""}`,
            (e: Error) => `error: ${e.message}`,
        );
    const seen: string[] = [];
    const check = (what: string, got: string, want: RegExp) => {
        if (!want.test(got)) throw new LabError(`Patroni REST on ${member.name}: ${what}: ${got} (wanted ${want})`);
        seen.push(`${what}: ${got}`);
    };
    check("verified GET", await outcome(httpRequest(url("https", "/patroni"), { timeoutMs: 5000, tls: { ca: trusted } })), /^HTTP 200/);
    check("plaintext GET", await outcome(httpRequest(url("http", "/patroni"), { timeoutMs: 5000 })), /^error|^HTTP 400/);
    check(
        "a client trusting another CA",
        await outcome(httpRequest(url("https", "/patroni"), { timeoutMs: 5000, tls: { ca: stranger.ca } })),
        /error: .*(self[- ]signed|unable to verify|certificate)/i,
    );
    const patch = (tls: TlsClient) => outcome(patroniRest(plan, member.name, "PATCH", "/config", { ttl: plan.patroni.ttl }, password, { tls }));
    check("PATCH with the password, no client certificate", await patch({ ca: trusted }), /^HTTP 403 .*client certificate required/);
    check("PATCH with a client certificate from another CA", await patch({ ...stranger, ca: trusted }), /^error/);
    check("PATCH with the member's certificate and the password", await patch(memberTls(plan, member.name)), /^HTTP 200/);
    return seen;
}

/** A GET over verified TLS from inside a lab host, with that host's own certificate and key: prints "HTTP <status>" or "error: ...". */
const HOST_HTTPS_GET = `
import http.client, ssl, sys
ca, cert, key, host, port, path = sys.argv[1:7]
try:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
except OSError as e:
    print("no identity:", e)
    sys.exit(0)
try:
    c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=5)
    c.request("GET", path)
    print("HTTP", c.getresponse().status)
except Exception as e:
    print("error:", e)
`;

/**
 * etcd's TLS, seen against the first member: its own certificate gets an answer on the client
 * port, another member's on the peer port (the positive controls; etcd also matches a peer's
 * address against its certificate, so each host asks from inside itself); a plaintext request
 * gets no answer; a client trusting another CA refuses the member; a certificate from another CA
 * is refused on the client port; the peer port refuses certificates of the deployment CA that
 * lack the cluster's peer name (render/etcd.ts `etcdPeerName`): a Patroni member's (etcd's
 * client) and an app host's. Returns what it saw, one line per case.
 */
export async function checkEtcdTls(state: LabState): Promise<string[]> {
    const plan = state.plan;
    const [member, peer] = hostsOf(plan, { role: "etcd" });
    const app = hostsOf(plan, { role: "nextcloud" }).find((h) => !h.roles.includes("etcd"));
    const patroni = hostsOf(plan, { role: "patroni" }).find((h) => !h.roles.includes("etcd"));
    if (!peer || !app || !patroni) throw new LabError("checkEtcdTls needs two etcd members, an app host and a Patroni member that is not an etcd member");
    /** The peer port's answer to `from`, presenting the identity it holds in `files`. */
    const fromHost = (from: string, files: { ca: string; cert: string; key: string }) => {
        const r = execInHost(
            state.holders[from],
            from,
            ["python3", "-c", HOST_HTTPS_GET, files.ca, files.cert, files.key, member.address, String(plan.ports.etcdPeer), "/version"],
            30000,
        );
        return (r.stdout.trim() || `error: ${r.stderr.trim()}`).split("\n")[0];
    };
    const ca = Buffer.from(trustBundle(PKI_DIR, plan.certificates));
    const own = memberTls(plan, member.name);
    const stranger = strangerClient(plan);
    const outcome = (scheme: string, port: number, p: string, tls?: TlsClient) =>
        httpRequest(`${scheme}://${member.address}:${port}${p}`, { timeoutMs: 5000, tls }).then(
            (r) => `HTTP ${r.status}`,
            (e: Error) => `error: ${e.message}`,
        );
    const { etcdClient } = plan.ports;
    const seen: string[] = [];
    const check = (what: string, got: string, want: RegExp) => {
        if (!want.test(got)) throw new LabError(`etcd on ${member.name}: ${what}: ${got} (wanted ${want})`);
        seen.push(`${what}: ${got}`);
    };
    check("client port, the member's certificate", await outcome("https", etcdClient, "/health", own), /^HTTP 200/);
    const pki = (dir: string) => ({ ca: `${dir}/ca.crt`, cert: `${dir}/member.crt`, key: `${dir}/member.key` });
    check(`peer port, ${peer.name}'s certificate (a member)`, fromHost(peer.name, pki(ETCD_PKI)), /^HTTP 200/);
    check("client port, plaintext", await outcome("http", etcdClient, "/health"), /^error|^HTTP 400/);
    check("client port, trusting another CA", await outcome("https", etcdClient, "/health", { ...own, ca: stranger.ca }), /^error: .*certificate/i);
    check("client port, another CA's certificate", await outcome("https", etcdClient, "/health", { ...stranger, ca }), /^error/);
    // Refused in the TLS handshake (etcd: "client certificate authentication failed"), not for want of a file.
    check(`peer port, ${patroni.name}'s certificate (a client, not a peer)`, fromHost(patroni.name, pki(PATRONI_PKI)), /^error: .*(bad certificate|alert)/i);
    check(`peer port, ${app.name}'s certificate`, fromHost(app.name, GLUSTER_TLS), /^error: .*(bad certificate|alert)/i);
    return seen;
}

/**
 * etcd's authentication (`etcd.auth`), seen with etcdctl on a cluster's configuring member (the
 * member's certificate, passwords on etcdctl's standard input): without a user a Patroni cluster's
 * keys are refused; the cluster's user reads its leader key, and is refused a write under another
 * cluster's prefix (`/service/<scope>-other/`) and a read outside the namespace; a wrong password
 * fails the login; root reads everything. Returns what it saw, one line per case.
 */
export function checkEtcdAuth(state: LabState): string[] {
    const plan = state.plan;
    if (!plan.etcd.auth) throw new LabError("checkEtcdAuth: the lab's plan has etcd.auth off");
    const seen: string[] = [];
    for (const cluster of plan.etcdClusters) {
        const member = hostByName(plan, cluster.configuredBy);
        const secrets = labSecrets();
        /** etcdctl on the member as `user` (none: the member's certificate alone); the first line it printed, or its error. */
        const as = (user: string | undefined, password: string, args: string[]) => {
            const login = user ? `export ETCDCTL_USER=${user} ETCDCTL_PASSWORD="$(cat)"; ` : "";
            const r = execInHost(
                state.holders[member.name],
                member.name,
                ["sh", "-c", `. /etc/etcd/etcdctl.env; export ETCDCTL_ENDPOINTS=https://127.0.0.1:${plan.ports.etcdClient}; ${login}etcdctl ${args.join(" ")}`],
                30000,
                { input: password },
            );
            return r.status === 0 ? `ok: ${r.stdout.trim().split("\n")[0] ?? ""}` : `error: ${r.stderr.trim().split("\n").slice(-1)[0]}`;
        };
        const check = (what: string, got: string, want: RegExp) => {
            if (!want.test(got)) throw new LabError(`etcd auth on ${member.name}: ${what}: ${got} (wanted ${want})`);
            seen.push(`${what}: ${got}`);
        };
        for (const c of plan.patroniClusters.filter((x) => x.etcd === cluster.name)) {
            const user = etcdUserOf(c.scope);
            const leaderKey = `${PATRONI_NAMESPACE}${c.scope}/leader`;
            check(`no user, ${leaderKey}`, as(undefined, "", ["get", leaderKey]), /^error: .*(permission denied|user name is empty)/);
            check(`${user}, ${leaderKey}`, as(user, secrets.database.etcdPassword, ["get", "--print-value-only", leaderKey]), /^ok: \S+/);
            check(
                `${user}, a write under another cluster's prefix`,
                as(user, secrets.database.etcdPassword, ["put", `${PATRONI_NAMESPACE}${c.scope}-other/x`, "1"]),
                /^error: .*permission denied/,
            );
            check(`${user}, a read outside the namespace`, as(user, secrets.database.etcdPassword, ["get", "/x"]), /^error: .*permission denied/);
            check(`${user}, a wrong password`, as(user, "not-the-password", ["get", leaderKey]), /^error: .*authentication failed/);
        }
        check("root, every key", as("root", secrets.etcd.rootPassword, ["get", "--prefix", "--keys-only", "--limit=1", "/"]), /^ok: \S+/);
    }
    return seen;
}

/**
 * After a rotation of `rotated` (default: every password): each rotated role's new password works
 * on the primary and its old one does not, likewise the REST API's; each replica's own
 * replication credentials get through to the primary; every replica streams again.
 */
export async function checkRotated(
    state: LabState,
    leader: string,
    before: SecretsBundle,
    after: SecretsBundle,
    rotated: readonly PasswordRole[] = PASSWORD_ROLES,
): Promise<void> {
    const db = (b: SecretsBundle): Record<string, string> => ({
        ...(rotated.includes("superuser") ? { [DB_USERS.superuser]: b.database.superuserPassword } : {}),
        ...(rotated.includes("replication") ? { [DB_USERS.replication]: b.database.replicationPassword } : {}),
        ...(rotated.includes("rewind") ? { [DB_USERS.rewind]: b.database.rewindPassword } : {}),
        ...(rotated.includes("app") ? { [APP_DATABASE.role]: b.database.appPassword } : {}),
    });
    const [old, now] = [db(before), db(after)];
    for (const user of Object.keys(now)) {
        if (old[user] === now[user]) throw new LabError(`the rotation left ${user}'s password as it was`);
        // Each role where pg_hba admits it: the app's to its database, the replication role as a replication connection.
        const where =
            user === APP_DATABASE.role
                ? ["--dbname", APP_DATABASE.name]
                : user === DB_USERS.replication
                  ? ["--dbname", "replication", "--replication", "true"]
                  : ["--dbname", "postgres"];
        const login = (password: string) =>
            probeOnce<{ ok: boolean; err?: string }>(state, leader, ["login", "--port", String(state.plan.ports.postgres), "--user", user, ...where], password);
        const [withNew, withOld] = [await login(now[user]), await login(old[user])];
        if (!withNew.ok) throw new LabError(`${user} cannot log in with its new password on the primary ${leader}: ${withNew.err}`);
        if (withOld.ok) throw new LabError(`${user} still logs in with its old password on the primary ${leader}`);
        // Refused for its password, not for anything else (TLS, pg_hba) that would hide an old password still valid.
        if (!/password authentication failed/.test(withOld.err ?? ""))
            throw new LabError(`${user}'s old password was not refused for the password on the primary ${leader}: ${withOld.err}`);
    }
    if (rotated.includes("restApi")) await checkRestRotated(state, leader, before, after);
    if (rotated.includes("replication")) await checkReplicasReconnect(state, leader);
    await waitFor("every replica streaming", 60000, async () =>
        (await patroniMembers(state.plan)).every((m) => m.role === "leader" || m.role === "standby_leader" || m.state === "streaming") ? true : undefined,
    );
}

/** Patroni applies a reloaded config at its next loop: the REST API takes the new password within a loop or two, and then only that one. */
async function checkRestRotated(state: LabState, leader: string, before: SecretsBundle, after: SecretsBundle): Promise<void> {
    // An authenticated REST call that changes nothing: the ttl it has.
    const rest = (password: string) => patroniRest(state.plan, leader, "PATCH", "/config", { ttl: state.plan.patroni.ttl }, password).catch(() => undefined);
    const loops = (state.plan.patroni.loopWait * 2 + 10) * 1000;
    let restNew: Awaited<ReturnType<typeof rest>>;
    await waitFor(`Patroni's REST API on ${leader} taking its new password`, loops, async () =>
        (restNew = await rest(after.database.restApiPassword))?.status === 200 ? true : undefined,
    ).catch(() => {
        throw new LabError(`Patroni's REST API on ${leader} refuses its new password (${restNew?.status ?? "no answer"}) ${loops / 1000} s after the reload`);
    });
    const restOld = await rest(before.database.restApiPassword);
    if (restOld?.status !== 401) throw new LabError(`Patroni's REST API on ${leader} answers ${restOld?.status ?? "nothing"} to its old password, not 401`);
}

/** A running stream authenticated at its start: what a replica uses when it reconnects is its password file, as Patroni (mended) rewrote it. */
export async function checkReplicasReconnect(state: LabState, leader: string): Promise<void> {
    const loops = (state.plan.patroni.loopWait * 2 + 10) * 1000;
    const primary = hostByName(state.plan, leader);
    for (const m of patroniClusterOf(state.plan, leader).members.filter((x) => x !== leader)) {
        const reconnect = () =>
            execInHost(
                state.holders[m],
                m,
                [
                    "env",
                    `PGPASSFILE=${PATRONI_PGPASS}`,
                    ...Object.entries(pgClientEnv(state, m)).map(([k, v]) => `${k}=${v}`),
                    "psql",
                    "-w",
                    "-h",
                    primary.address,
                    "-p",
                    String(state.plan.ports.postgres),
                    "-U",
                    DB_USERS.replication,
                    // A replication connection, as a replica's stream is (pg_hba admits the replication role to nothing else).
                    "-d",
                    "dbname=replication replication=true",
                    "-Atc",
                    "IDENTIFY_SYSTEM",
                ],
                30000,
                { user: "postgres" },
            );
        let r = reconnect();
        await waitFor(`${m}'s replication password file rewritten by Patroni`, loops, () => ((r = reconnect()).status === 0 ? true : undefined), 1000).catch(
            () => {
                throw new LabError(
                    `${m} could not reconnect to the primary with its replication password ${loops / 1000} s after the reload: ${r.stderr.trim().split("\n").pop()}`,
                );
            },
        );
    }
}

/** The member the scale drills add: the primary site's, `<site>-db9`. */
const EXTRA_MEMBER = (primarySite: string) => `${primarySite}-db9`;

/** A new host for the config: the first free address after `near`'s, the next free VM id. */
function newHost<R>(c: StackConfig, name: string, near: string, roles: R[]): { name: string; vmId: number; address: string; roles: R[] } {
    const taken = new Set(Object.values(c.sites).flatMap((s) => s.hosts.map((h) => h.address)));
    const [a, b, cc, d] = near.split(".").map(Number);
    let last = d + 1;
    while (taken.has(`${a}.${b}.${cc}.${last}`)) last++;
    const vmId = Math.max(...Object.values(c.sites).flatMap((s) => s.hosts.map((h) => h.vmId))) + 1;
    return { name, vmId, address: `${a}.${b}.${cc}.${last}`, roles };
}

/** The stack files' config with one more Patroni member in the primary site, at the first free address after its members'. */
function withExtraMember(c: StackConfig): StackConfig {
    const site = c.sites[c.primarySite];
    const name = EXTRA_MEMBER(c.primarySite);
    if (site.hosts.some((h) => h.name === name)) return c;
    const member = site.hosts.find((h) => h.roles.includes("patroni"))!;
    return { ...c, sites: { ...c.sites, [c.primarySite]: { ...site, hosts: [...site.hosts, newHost(c, name, member.address, ["patroni" as const])] } } };
}

/** The etcd member the replace drill swaps out: the primary site's first (its site holds the primary: the member most likely to matter). */
function etcdTarget(plan: DeploymentPlan): string {
    const member = hostsOf(plan, { site: plan.primarySite, role: "etcd" })[0];
    if (!member) throw new LabError(`etcd-member-replace needs an etcd member in the primary site ${plan.primarySite}`);
    return member.name;
}

/** The stack files' config with the etcd member `name` replaced by a new host `<site>-etcd9` in its site (one out, one in: the quorum's size stays odd). */
function withEtcdReplaced(c: StackConfig, name: string): StackConfig {
    const [siteName, site] = Object.entries(c.sites).find(([, s]) => s.hosts.some((h) => h.name === name))!;
    const old = site.hosts.find((h) => h.name === name)!;
    const host = newHost(c, `${siteName}-etcd9`, old.address, old.roles);
    return { ...c, sites: { ...c.sites, [siteName]: { ...site, hosts: site.hosts.map((h) => (h.name === name ? host : h)) } } };
}

/**
 * The etcd cluster as its members see it must be the plan's: every member the plan names, started
 * (an added member that never started has no name) and healthy, and no other.
 */
export async function checkEtcdMembers(state: LabState): Promise<void> {
    const planned = hostsOf(state.plan, { role: "etcd" }).map((h) => h.name);
    for (const cluster of state.plan.etcdClusters) {
        const asker = cluster.members[0];
        const r = execInHost(
            state.holders[asker],
            asker,
            ["sh", "-c", `. /etc/etcd/etcdctl.env && ETCDCTL_ENDPOINTS=https://127.0.0.1:${state.plan.ports.etcdClient} etcdctl member list -w json`],
            20000,
        );
        if (r.status !== 0) throw new LabError(`etcd member list on ${asker}: ${r.stderr.trim()}`);
        const seen = ((JSON.parse(r.stdout) as { members?: { name?: string; peerURLs: string[] }[] }).members ?? []).map(
            (m) => m.name || `${m.peerURLs[0]} (never started)`,
        );
        if ([...seen].sort().join(",") !== [...cluster.members].sort().join(","))
            throw new LabError(`etcd cluster ${cluster.name} has members ${seen.join(", ")}; the plan has ${cluster.members.join(", ")}`);
    }
    for (const m of planned) if (!(await etcdHealth(state.plan, m))) throw new LabError(`etcd member ${m} is not healthy`);
}

/** The extra member added through the stack files' config, streaming. */
async function addExtraMember(state: LabState): Promise<void> {
    await configChange(withExtraMember)(state);
    await waitStreaming(state, EXTRA_MEMBER(state.plan.primarySite));
}

/** Until the member streams from the leader (a new one clones first). */
async function waitStreaming(state: LabState, name: string): Promise<void> {
    await waitFor(`${name} streaming from the leader`, 180000, async () =>
        (await patroniMembers(state.plan)).some((m) => m.name === name && m.state === "streaming") ? true : undefined,
    );
}

/**
 * Until the member is out of the cluster's view and nothing streams through its replication slot
 * on the leader. Patroni 4 keeps a departed member's slot for `member_slots_ttl` (30 min by
 * default: a replica restarting finds its WAL), then drops it; the drill does not wait that long.
 */
async function waitGone(state: LabState, name: string): Promise<void> {
    await waitFor(`${name} gone from the cluster`, (state.plan.patroni.ttl + 30) * 1000, async () =>
        (await patroniMembers(state.plan)).some((m) => m.name === name) ? undefined : true,
    );
    const leader = leaderOf(await patroniMembers(state.plan))!;
    const slot = name.replace(/-/g, "_");
    const r = execInHost(state.holders[leader], leader, ["psql", "-Atc", "SELECT slot_name FROM pg_replication_slots WHERE active"], 20000, {
        user: "postgres",
    });
    if (r.status !== 0) throw new LabError(`reading the replication slots on ${leader}: ${r.stderr.trim()}`);
    if (r.stdout.split("\n").includes(slot)) throw new LabError(`${name}'s replication slot on ${leader} is still in use after it left`);
}

const primaryHost = async (_: LabState, leader: string) => leader;
const primarySite = async (state: LabState, leader: string) => hostByName(state.plan, leader).site;

/** The witness drills' target: the etcd member the keeper holds the leadership on, else the witness site's etcd member. */
async function witnessEtcd(state: LabState): Promise<string> {
    const witness = state.plan.sites.find((s) => s.witness);
    const etcd = witness && hostsOf(state.plan, { site: witness.name, role: "etcd" });
    if (!etcd?.length) throw new LabError("this topology has no witness site");
    return etcd.find((h) => keptOn(state.plan, h.name))?.name ?? etcd[0].name;
}

const needsWitness = (name: string) => (s: LabState) =>
    s.plan.sites.some((x) => x.witness) ? undefined : `${name} needs a topology with a witness site (three-site)`;

/** The etcd cluster whose leadership a keeper holds on `member`, if the plan has it kept there. */
function keptOn(plan: DeploymentPlan, member: string): EtcdClusterPlan | undefined {
    return plan.etcdClusters.find((c) => c.leaders.includes(member));
}

const since = (t: number) => Math.round((Date.now() / 1000 - t) * 100) / 100;

/** Before the writer starts: the keeper holds the leadership on `member` (after a trial, once its hold-off has passed). */
async function leadershipKept(state: LabState, member: string): Promise<void> {
    const cluster = keptOn(state.plan, member);
    if (!cluster) return;
    const limitS = state.plan.etcd.leaderHoldOffS + 90;
    await waitFor(`the etcd leader keeper to hold the leadership on ${member} (${limitS} s)`, limitS * 1000, async () =>
        (await etcdLeader(state.plan, cluster)) === member ? true : undefined,
    );
}

/** While `member` is lost: another member leads etcd (figure: seconds from the fault). */
async function leadershipAway(state: LabState, member: string, faultAt: number): Promise<Observed> {
    const cluster = keptOn(state.plan, member);
    if (!cluster) return {};
    try {
        await waitFor(
            `an etcd leader other than ${member}`,
            30000,
            async () => ((await etcdLeader(state.plan, cluster)) ?? member) !== member || undefined,
            200,
        );
    } catch {
        return { problems: [`no other etcd member took the leadership within 30 s of losing ${member}`] };
    }
    return { extra: { etcdLeaderAway: since(faultAt) } };
}

/**
 * What is wrong with a leader keeper's moves (epoch seconds) given the heals of its member's
 * faults: two moves within a hold-off, or a move within a hold-off of the heal before it (the
 * keeper chased a member that had just come back). A second of slack for the log's stamps.
 */
export function keeperMoveProblems(moves: number[], heals: number[], holdOff: number): string[] {
    const problems: string[] = [];
    for (const [i, t] of moves.entries()) {
        if (i > 0 && t - moves[i - 1] < holdOff - 1)
            problems.push(`the keeper moved the leadership twice within ${(t - moves[i - 1]).toFixed(1)} s (hold-off ${holdOff} s)`);
        const heal = heals.filter((h) => h <= t).at(-1);
        if (heal !== undefined && t - heal < holdOff - 1)
            problems.push(`the keeper moved the leadership ${(t - heal).toFixed(1)} s after a heal, within its hold-off`);
    }
    return problems;
}

/**
 * After `member` is back: its keeper brings the leadership back (figure: seconds from the last
 * heal), and no move of its comes within its hold-off of any heal (it would have chased a
 * flapping witness) or of its previous move. The moves come from the keeper's own log; a
 * leadership back with no move logged means the count cannot be trusted.
 */
async function leadershipBack(state: LabState, member: string, heals: number[], faultAt: number): Promise<Observed> {
    const cluster = keptOn(state.plan, member);
    if (!cluster) return {};
    const holdOff = state.plan.etcd.leaderHoldOffS;
    const last = heals[heals.length - 1];
    const limitS = holdOff + 120;
    const problems: string[] = [];
    let back: number | undefined;
    try {
        await waitFor(`the etcd leadership back on ${member}`, limitS * 1000, async () =>
            (await etcdLeader(state.plan, cluster)) === member ? true : undefined,
        );
        back = since(last);
    } catch {
        problems.push(`the etcd leadership was not back on ${member} within ${limitS} s of the heal`);
    }
    // The keeper logs its move once etcdctl returns, which may be after the leadership shows.
    const logged = () => {
        const m = keeperMoves(member, faultAt);
        return m.length > 0 ? m : undefined;
    };
    const moves = back === undefined ? keeperMoves(member, faultAt) : await waitFor("the keeper's move in its log", 10000, logged).catch(() => [] as number[]);
    if (back !== undefined && moves.length === 0)
        problems.push(`the leadership is back on ${member} but its keeper logged no move: the drill cannot count the keeper's moves`);
    problems.push(...keeperMoveProblems(moves, heals, holdOff));
    return { extra: { ...(back === undefined ? {} : { etcdLeaderBack: back }), keeperMoves: moves.length }, problems };
}

/** witness-flap: cuts after the first, each held this long, with this long connected between them. */
const WITNESS_FLAPS = 3;
const FLAP_CUT_MS = 4000;
const FLAP_UP_MS = 6000;

export const SCENARIOS = {
    "primary-postgres-crash": {
        target: primaryHost,
        inject: (_s, _l, t) => fault("kill-postgres", t).then(() => undefined),
        writer: "primary-site",
        changesLeader: false,
        healWhen: "never",
    },
    "primary-host-loss": { target: primaryHost, inject: killHost, writer: "primary-site", changesLeader: true },
    "primary-isolation": {
        target: primaryHost,
        inject: (_s, _l, t) => fault("isolate-host", t).then(() => undefined),
        writer: "primary-site",
        changesLeader: true,
        afterHealMs: 15000,
    },
    switchover: {
        target: (s, l) => replicaOf(s, l),
        async inject(state, leader, target) {
            const r = await patroniSwitchover(state.plan, leader, target, labSecrets().database.restApiPassword);
            if (r.status !== 200) throw new LabError(`Patroni refused the switchover (${r.status}): ${r.body.trim()}`);
        },
        writer: "primary-site",
        changesLeader: true,
        healWhen: "never",
    },
    /** Day two without a restart: HAProxy's check interval (a reload on every load balancer) and work_mem (a reload of PostgreSQL). Goal: no outage. */
    "config-reload": {
        target: primaryHost,
        inject: configChange((c, running) =>
            running.haproxy.checkIntervalMs !== c.haproxy.checkIntervalMs
                ? c
                : {
                      ...c,
                      haproxy: { ...c.haproxy, checkIntervalMs: c.haproxy.checkIntervalMs + 500 },
                      patroni: { ...c.patroni, parameters: { ...c.patroni.parameters, work_mem: "6MB" } },
                  },
        ),
        writer: "primary-site",
        changesLeader: false,
        healWhen: "never",
        finish: backToStackFiles,
    },
    /** Day two with a restart: max_connections raised, rolled by the cluster step (replicas, switchover, old primary). Outage: one switchover. */
    "config-restart": {
        target: primaryHost,
        // Always up: a lowered max_connections restarts the primary first, in place (not a switchover); the put-back after the drill is one.
        inject: configChange((c, running) => ({
            ...c,
            patroni: { ...c.patroni, parameters: { ...c.patroni.parameters, max_connections: plannedParameter(running, "max_connections") + 10 } },
        })),
        writer: "primary-site",
        changesLeader: true,
        healWhen: "never",
        finish: backToStackFiles,
        requires: (s) => (s.plan.patroniClusters.every((c) => c.members.length > 1) ? undefined : "config-restart needs a replica to switch over to"),
    },
    /**
     * Every host's certificate and key renewed (new keys from the same CA, as the program's early
     * renewal issues them) and delivered by the converge steps: etcd restarts one member at a
     * time, Patroni reloads. Goal: no outage.
     */
    "rotate-certs": {
        target: primaryHost,
        async inject(state) {
            for (const h of state.plan.hosts.filter(needsTls)) forgetIdentity(PKI_DIR, h);
            if ((await applyPlan(state, state.plan, () => undefined)) === 0) throw new LabError("renewing the certificates changed no step");
            await checkCertsServed(state);
        },
        writer: "primary-site",
        changesLeader: false,
        healWhen: "never",
    },
    /**
     * Every database password and the REST password rotated (a new generation each, as a pull
     * request raises `passwords.rotation.*`), in the safe order: the roles step on the primary,
     * then the converge steps (Patroni's config on every member, the app's) with their reloads.
     * Then: each role logs in with its new password and not with its old one, Patroni's REST API
     * takes only the new password, and every replica streams again. Goal: no outage.
     */
    "rotate-passwords": {
        target: primaryHost,
        async inject(state, leader) {
            const before = labSecrets();
            await configChange((c, running) => ({
                ...c,
                passwords: { rotation: Object.fromEntries(PASSWORD_ROLES.map((r) => [r, running.passwords.rotation[r] + 1])) as Record<PasswordRole, number> },
            }))(state);
            await checkRotated(state, leader, before, labSecrets());
        },
        // Through the app where there is one: its database role's password rotates too, and its hosts restart with the new one.
        writer: "nginx-if-any",
        changesLeader: false,
        healWhen: "never",
        finish: backToStackFiles,
    },
    /**
     * Scale out: a Patroni member added to the primary site in the stack files, as a pull request
     * adds a host: the lab boots it (as cloud-init would), its steps start Patroni, which clones
     * from the leader, HAProxy's config takes it in. It must stream within three minutes. Goal: no
     * outage. The stack files' plan (without it) comes back after the last trial: it leaves.
     */
    "add-replica": {
        target: primaryHost,
        inject: addExtraMember,
        writer: "primary-site",
        changesLeader: false,
        healWhen: "never",
        finish: backToStackFiles,
    },
    /**
     * Scale in: the extra member (added before the writer starts, outside the measurement)
     * dropped from the plan: the cluster step hands over if it leads, HAProxy lets it go, then
     * its leave step (what the program runs before deleting its VM) takes it out of the
     * synchronous set and stops it, and the lab removes its host. It must be gone from the
     * cluster, and nothing streaming through its slot on the leader. Goal: no outage.
     */
    "remove-replica": {
        target: primaryHost,
        // Unless an add-replica drill left it there (`keep`).
        prepare: async (state) => {
            if (!state.plan.hosts.some((h) => h.name === EXTRA_MEMBER(state.plan.primarySite))) await addExtraMember(state);
        },
        async inject(state) {
            const gone = EXTRA_MEMBER(state.plan.primarySite);
            if ((await applyPlan(state, labStack(state.topology).plan, () => undefined)) === 0) throw new LabError("removing the member changed nothing");
            await waitGone(state, gone);
        },
        writer: "primary-site",
        changesLeader: false,
        healWhen: "never",
    },
    /**
     * An etcd member replaced through the stack files (one out, one in, as a pull request swaps a
     * host): the new member's step adds it (`etcdctl member add`) and starts it as an existing
     * member; the others' steps write what a member reads at its first start only (no restart),
     * Patroni's configs get the new etcd hosts (a reload); then the old member's leave step hands
     * over etcd's leadership if it holds it, removes it (`etcdctl member remove`) and stops it, and
     * the lab removes its host. etcd must then be the plan's members, all healthy. Goal: no outage.
     * The stack files' plan comes back after the last trial: the same swap the other way.
     */
    "etcd-member-replace": {
        target: async (state) => etcdTarget(state.plan),
        async inject(state, _leader, target) {
            // Each trial swaps: the stack files' member out and <site>-etcd9 in, or (the next trial) the other way back.
            await configChange((c, running) =>
                running.hosts.some((h) => h.name === target && !c.sites[h.site].hosts.some((x) => x.name === target)) ? c : withEtcdReplaced(c, target),
            )(state);
            await checkEtcdMembers(state);
        },
        writer: "primary-site",
        changesLeader: false,
        healWhen: "never",
        finish: backToStackFiles,
    },
    /**
     * The deployment CA rotated (to generation 1, or back to 0 on the next trial) in its three
     * rounds, each converged through the steps: both CAs trusted (every ca.crt gets the second
     * one: etcd restarts one member at a time, Patroni reloads), the new CA signs (every host's
     * certificate reissued and delivered), only the new CA trusted. Then every etcd member must
     * present a certificate from the new CA and refuse a client certificate from the old one.
     * Goal: no outage. The stack files' CA comes back after the last trial (the same rounds).
     */
    "rotate-ca": {
        target: primaryHost,
        async inject(state) {
            const from = state.plan.certificates.caSigning;
            const to = from === 0 ? 1 : 0;
            await rotateCa(state, to);
            await checkCaRotated(state, to, from);
        },
        writer: "primary-site",
        changesLeader: false,
        healWhen: "never",
        async finish(state, say) {
            const files = labStack(state.topology).plan.certificates.caSigning;
            if (state.plan.certificates.caSigning !== files) {
                await rotateCa(state, files);
                say(`back to the stack files' CA ${files} (three rounds)`);
            }
        },
    },
    /**
     * A package update (`packages.update` raised, as a pull request does after a Debian point
     * release): newer `patroni` and `glusterfs-server` in a local repository on every host
     * (lab/updates.ts), then the converge steps upgrade them with dpkg's restarts held and
     * restart each Patroni member in turn (a leader handing over first) and each brick host in
     * turn (heal finished before the next). Then every member and brick host must run the new
     * version in a process started after the upgrade. Goal: no outage beyond the switchovers.
     */
    "package-update": {
        target: primaryHost,
        async inject(state) {
            const generation = state.plan.packages.update + 1;
            const versions = publishUpdate(state, generation);
            const targets = UPDATED_PACKAGES.flatMap((p) =>
                state.plan.hosts.filter((h) => h.roles.some((r) => p.roles.includes(r))).map((h) => ({ host: h.name, ...p })),
            );
            // The service's main process, and on a brick host the brick's too (glusterd starts it again: it must be a new one).
            const pid = (t: (typeof targets)[number]) =>
                execInHost(state.holders[t.host], t.host, [
                    "sh",
                    "-c",
                    `cat /run/lab-units/${t.service}.service.pid; ${t.service === "glusterd" ? "pgrep --ns $$ --nslist net -f '^/usr/sbin/glusterfsd '" : "true"}`,
                ]).stdout.trim();
            const before = targets.map(pid);
            await configChange((c) => ({ ...c, packages: { update: generation } }))(state);
            for (const [i, t] of targets.entries()) {
                const installed = installedVersion(state, t.host, t.name);
                if (installed !== versions[t.name]) throw new LabError(`${t.host} has ${t.name} ${installed}, not the update's ${versions[t.name]}`);
                if (pid(t) === before[i]) throw new LabError(`${t.host}'s ${t.service} was not restarted after the update (still process ${before[i]})`);
            }
        },
        writer: "primary-site",
        // A leader hands over before its restart; which member leads at the end depends on the order of the stacks.
        changesLeader: false,
        healWhen: "never",
        finish: backToStackFiles,
    },
    "replica-loss": { target: (s, l) => replicaOf(s, l), inject: killHost, writer: "primary-site", changesLeader: false },
    /**
     * The witness's host lost, where the keeper holds etcd's leadership: another member takes it,
     * nothing else happens (no outage, the Patroni leader stays); back from the reboot, its keeper
     * moves the leadership home after its hold-off (figures: etcdLeaderAway, etcdLeaderBack).
     */
    "witness-loss": {
        target: witnessEtcd,
        prepare: async (state) => leadershipKept(state, await witnessEtcd(state)),
        async inject(state, leader, target) {
            const at = Date.now() / 1000;
            await killHost(state, leader, target);
            return leadershipAway(state, target, at);
        },
        afterHeal: (state, target, heals, faultAt) => leadershipBack(state, target, heals, faultAt),
        writer: "primary-site",
        changesLeader: false,
        keepsLeader: true,
        requires: needsWitness("witness-loss"),
    },
    /**
     * A flapping witness: its host cut off until another member leads etcd, then connected and cut
     * again WITNESS_FLAPS times, the last cut healed by the trial. Its keeper must not chase the
     * leadership: no two moves within a hold-off, the one move home at least a hold-off after the
     * last heal; no outage, the Patroni leader stays.
     */
    "witness-flap": {
        target: witnessEtcd,
        prepare: async (state) => leadershipKept(state, await witnessEtcd(state)),
        async inject(state, _leader, target) {
            const at = Date.now() / 1000;
            await fault("isolate-host", target);
            const away = await leadershipAway(state, target, at);
            const heals: number[] = [];
            for (let i = 0; i < WITNESS_FLAPS; i++) {
                if (i > 0) await sleep(FLAP_CUT_MS);
                heals.push(Date.now() / 1000);
                await heal();
                await sleep(FLAP_UP_MS);
                await fault("isolate-host", target);
            }
            return { ...away, heals };
        },
        afterHeal: (state, target, heals, faultAt) => leadershipBack(state, target, heals, faultAt),
        writer: "primary-site",
        changesLeader: false,
        keepsLeader: true,
        // Without the keeper it would check nothing but the writes (witness-loss does that).
        requires: (s) =>
            needsWitness("witness-flap")(s) ??
            (s.plan.etcdClusters.some((c) => c.leaders.length > 0)
                ? undefined
                : "witness-flap drills etcd's leader keeper, which this plan turns off (etcd.keepLeader)"),
    },
    // Through NGINX and the app hosts; need the files and app tier in the plan.
    "storage-host-loss": {
        async target(state) {
            const brick = state.plan.gluster?.bricks.find((b) => !b.arbiter && hostByName(state.plan, b.host).site === state.plan.primarySite);
            if (!brick) throw new LabError("storage-host-loss needs a Gluster data brick in the primary site");
            return brick.host;
        },
        inject: killHost,
        writer: "nginx",
        changesLeader: false,
    },
    "app-host-loss": {
        async target(state) {
            const app = hostsOf(state.plan, { site: state.plan.primarySite, role: "nextcloud" });
            if (app.length < 2) throw new LabError("app-host-loss needs two app hosts in the primary site (NGINX serves through the other)");
            return app[0].name;
        },
        inject: killHost,
        writer: "nginx",
        changesLeader: false,
    },
    "e2e-primary-host-loss": { target: primaryHost, inject: killHost, writer: "nginx", changesLeader: true },
    // Whole sites: three-site fails over by itself; two-site needs the promotion command (dc-promotion).
    "site-loss": {
        target: primarySite,
        inject: (_s, _l, t) => fault("kill-site", t).then(() => undefined),
        writer: "surviving-site",
        changesLeader: true,
        requires: (s) =>
            s.plan.topology === "three-site"
                ? undefined
                : "site-loss is three-site's automatic failover between sites; two-site needs a human: drill dc-promotion",
    },
    /**
     * The canary: made to lose acknowledged writes, so that the instrument that reports "0 lost"
     * elsewhere is seen to report a loss. Synchronous replication off, then the primary's whole
     * site cut off while a writer inside it writes through the site's own HAProxy: the old
     * primary acknowledges writes its standby never receives, the other site promotes, and the
     * old primary is rewound on its return. Restores synchronous mode afterwards.
     */
    "canary-async-site-cut": {
        target: primarySite,
        inject: (_s, _l, t) => fault("isolate-site", t).then(() => undefined),
        writer: "target-site",
        changesLeader: true,
        healWhen: "leader-moved",
        async prepare(state, say) {
            say("canary: synchronous_mode off, so a cut primary acknowledges writes its standby never gets");
            await patchClusterConfig(state, { synchronous_mode: false });
            // Patroni relaxes replication on a later loop, measured here at over 10 s: wait until no member is a sync standby.
            await waitFor("Patroni to stop synchronous replication", 60000, async () =>
                (await patroniMembers(state.plan)).some((m) => m.role === "sync_standby") ? undefined : true,
            );
        },
        async restore(state, say) {
            say("canary: synchronous_mode back on");
            await patchClusterConfig(state, { synchronous_mode: true });
        },
        canary: true,
        requires: (s) =>
            s.plan.topology === "three-site" ? undefined : "the canary cuts the primary's site in three-site, where another site promotes by itself",
    },
} satisfies Record<string, Scenario>;

export const DRILLS = [...Object.keys(SCENARIOS), "dc-promotion"] as const;
export type Drill = keyof typeof SCENARIOS | "dc-promotion";

export interface DrillResult {
    scenario: string;
    trials: TrialResult[];
    outage: Summary;
}

/** Spread of the moment a fault lands (at least the longest loop_wait measured, 10 s). */
const FAULT_JITTER_MS = 10000;

/** Waits (bounded) until Gluster has healed every brick: `heal info` lists no entry anywhere. */
/** storage-host-loss: how long the writer goes on once the brick host is back, before the drill waits for the heal. */
const STORAGE_WRITE_INTO_HEAL_MS = 10000;

async function waitGlusterHealed(state: LabState): Promise<void> {
    const g = state.plan.gluster!;
    const host = g.bricks[0].host;
    await waitFor(
        `Gluster volume ${g.volume} to finish healing`,
        180000,
        () => {
            const r = execInHost(state.holders[host], host, ["gluster", "volume", "heal", g.volume, "info"], 20000);
            const counts = [...r.stdout.matchAll(/Number of entries: (\d+)/g)].map((m) => Number(m[1]));
            return r.status === 0 && counts.length === g.bricks.length && counts.every((n) => n === 0) ? true : undefined;
        },
        2000,
    );
}

/** The host whose HAProxy (or NGINX) the writer goes through. */
function writerHost(state: LabState, scenario: Scenario, target: string): { host: string; nginx: boolean } {
    const plan = state.plan;
    const front = hostsOf(plan, { site: plan.primarySite, role: "nginx" })[0];
    if (scenario.writer === "nginx" || (scenario.writer === "nginx-if-any" && front)) {
        if (!front) throw new LabError("this drill needs the app tier (NGINX, app and Gluster hosts) in the stack files' plan");
        return { host: front.name, nginx: true };
    }
    const site =
        scenario.writer === "surviving-site"
            ? plan.sites.find((s) => s.name !== target && s.database)
            : siteByName(plan, scenario.writer === "target-site" ? target : plan.primarySite);
    if (!site?.database) throw new LabError(`no site with an HAProxy for the writer (${scenario.writer})`);
    return { host: site.database.via, nginx: false };
}

/** `faultHoldMs`: how long the fault stays after the cluster recovered from it, before the heal (default 5 s). */
async function trial(name: keyof typeof SCENARIOS, n: number, say: Say, faultHoldMs = 5000): Promise<TrialResult> {
    const scenario: Scenario = SCENARIOS[name];
    let state = requireState();
    const leader = await waitHealthy(state, 180000, () => undefined);
    const target = await scenario.target(state, leader);
    const via = writerHost(state, scenario, target);
    const plan = state.plan;
    const trialId = `${name}-${Date.now()}`;
    const http = via.nginx && ["--address", hostByName(plan, via.host).address, "--domain", plan.nextcloud.domain, "--cafile", "/etc/nginx/tls/wildcard.crt"];
    const port = String(plan.ports.haproxyPrimary);
    if (!http) await probeOnce(state, via.host, ["setup", "--port", port]);
    await scenario.prepare?.(state, say);
    const members = membersOf(state);
    const started = Date.now() / 1000;
    const watchers = members.map((m) => watchMember(state, m));
    const duration = ["--conns", String(WRITER_CONNECTIONS), "--duration", String(PROBE_SECONDS), "--trial", trialId];
    const writer = runProbe<WriteEvent>(state, via.host, http ? ["http-write", ...http, ...duration] : ["write", "--port", port, ...duration]);
    const drillProblems: string[] = [];
    try {
        await waitFor("the writer's first acknowledged writes", 30000, () => (writer.events.filter((e) => e.ok).length >= 20 ? true : undefined), 100);
        // Patroni renews the leader key every loop_wait, and the outage is ttl minus the time
        // since the last renewal: a random delay makes the fault land anywhere in that loop
        // (a config change wakes Patroni at once and would otherwise fix the phase).
        await sleep(2000 + Math.random() * FAULT_JITTER_MS);
        const etcdAtFault = await etcdLeader(plan, etcdClusterOf(plan, leader));
        const faultAt = Date.now() / 1000;
        say(`trial ${n}: ${name} on ${target} (leader ${leader}), writing through ${via.host}:${http ? `${plan.ports.https} (NGINX)` : port}`);
        const seen = (await scenario.inject(state, leader, target)) ?? {};
        const leaderMoved = async () => {
            const now = leaderOf(await patroniMembers(plan));
            return now && now !== leader ? true : undefined;
        };
        if (scenario.healWhen === "leader-moved") await waitFor("a new leader elsewhere", 150000, leaderMoved);
        else {
            // Recovered: a write started after the fault succeeded, and the leader moved if it must.
            await waitFor("writes to succeed again after the fault", 150000, async () => {
                const latestOk = writer.events.filter((e) => e.ok).reduce((m, e) => Math.max(m, e.t), 0);
                if (latestOk < faultAt + 1) return undefined;
                return scenario.changesLeader ? leaderMoved() : true;
            });
            await sleep(faultHoldMs);
        }
        // As the heal begins: a rebooted host's services start during it.
        const healingAt = Date.now() / 1000;
        if (scenario.healWhen !== "never") say(`trial ${n}: healing (${await heal()}), writing on through the heal`);
        const healedAt = Date.now() / 1000;
        // A fault on the leader's own host: how long after the heal it streams from the new leader again.
        const oldPrimaryBack = scenario.healWhen !== "never" && target === leader ? secondsUntilStreaming(plan, leader, healedAt) : undefined;
        const afterHeal = scenario.afterHeal?.(state, target, [...(seen.heals ?? []), healingAt], faultAt);
        state = requireState();
        // A killed host's watcher died with it: watch the rebooted host too, or a second
        // writable primary after the heal would go unseen.
        members.forEach((m, i) => {
            if (watchers[i].exited()) watchers.push(watchMember(state, m));
        });
        await scenario.restore?.(state, say);
        // After a partition heals, the old primary is where lost writes would show: keep writing.
        await sleep(scenario.afterHealMs ?? 3000);
        const newLeader = await waitHealthy(state, 180000, () => undefined);
        if (name === "storage-host-loss") {
            // Writing on into the heal, for a bounded while (every write then must be on the
            // healed volume), then the heal alone: with TLS on a busy 2-core lab the self-heal
            // daemons may not catch up with a writer that never stops.
            await sleep(STORAGE_WRITE_INTO_HEAL_MS);
            await writer.stop();
            await waitGlusterHealed(state);
        }
        await sleep(2000);
        await writer.stop();
        await Promise.all(watchers.map((w) => w.stop()));
        const ended = Date.now() / 1000;
        let stored: (string | number)[];
        if (http) {
            const v = await probeOnce<{ status: number; rows: string[]; files: string[] }>(state, via.host, ["http-verify", ...http, "--trial", trialId]);
            if (v.status !== 200) drillProblems.push(`verifying through NGINX answered ${v.status}`);
            const files = new Set(v.files ?? []);
            stored = (v.rows ?? []).filter((id) => files.has(id)); // a write counts when both its row and its file are there
        } else {
            stored = (await probeOnce<{ ids: string[] }>(state, via.host, ["count", "--port", port, "--trial", trialId])).ids;
        }
        if (scenario.changesLeader && newLeader === leader) drillProblems.push(`the leader did not move from ${leader}`);
        if (scenario.keepsLeader && newLeader !== leader)
            drillProblems.push(`the leader moved from ${leader} to ${newLeader ?? "none"}: the fault should not have touched it`);
        const windows: ObserveWindow[] = [
            { from: started, to: faultAt, what: "before the fault" },
            // Every member the plan still has (a member the drill removed is gone on purpose).
            { from: healedAt, to: ended, what: "after the heal", members: members.filter((m) => membersOf(requireState()).includes(m)) },
        ];
        const findings = assessTrial({ faultAt, writes: writer.events, stored, watches: watchers.flatMap((w) => w.events), members, observeWindows: windows });
        const back = await oldPrimaryBack;
        if (oldPrimaryBack && back === undefined)
            drillProblems.push(`${leader} did not stream from the new leader within ${OLD_PRIMARY_BACK_MS / 1000} s of the heal`);
        const healSeen = (await afterHeal) ?? {};
        drillProblems.push(...(seen.problems ?? []), ...(healSeen.problems ?? []));
        const extra = { ...(back === undefined ? {} : { oldPrimaryBack: back }), ...seen.extra, ...healSeen.extra };
        const result = trialResult(
            { scenario: name, trial: n, oldLeader: leader, newLeader, target, etcdLeader: etcdAtFault, extra: Object.keys(extra).length ? extra : undefined },
            findings,
            drillProblems,
        );
        if (scenario.canary) {
            // The loss is the canary's point: it passes when the recorder reported it.
            result.problems = result.problems.filter((p) => !/acknowledged writes lost/.test(p));
            if (result.missing === 0) result.problems.push("the canary lost no acknowledged write: the drill or the recorder cannot see a loss");
            result.ok = result.problems.length === 0;
        }
        say(
            `trial ${n}: outage ${result.outage.toFixed(2)} s, ${result.acknowledged} writes acknowledged, ${result.missing} lost, ${result.splitBrainMoments} split-brain samples, leader ${leader} -> ${newLeader}`,
        );
        return result;
    } finally {
        await writer.stop();
        await Promise.all(watchers.map((w) => w.stop()));
    }
}

/**
 * Runs a drill's trials, restoring the cluster between them. `keep`: when every trial passed, skip
 * the scenario's finish (putting the stack files' plan back), for a caller whose next drill starts
 * where this one ends (add-replica, then remove-replica of the member it added). `faultHoldMs`:
 * how long a fault stays after the cluster recovered (bench:isolation's longer cuts; default 5 s).
 */
export async function drill(name: string, opts: { trials: number; say?: Say; keep?: boolean; faultHoldMs?: number }): Promise<DrillResult> {
    requireRoot();
    if (!(DRILLS as readonly string[]).includes(name)) throw new LabError(`unknown scenario ${name || "(none)"}; the scenarios are ${DRILLS.join(", ")}`);
    const state = requireState();
    const refusal =
        name === "dc-promotion"
            ? state.plan.topology === "two-site"
                ? undefined
                : "dc-promotion needs the two-site lab: npm run lab -- down; npm run lab -- up --topology two-site"
            : (SCENARIOS[name as keyof typeof SCENARIOS] as Scenario).requires?.(state);
    if (refusal) throw new LabError(refusal);
    const say = opts.say ?? progress;
    const trials: TrialResult[] = [];
    let allPassed = false;
    try {
        for (let n = 1; n <= opts.trials; n++) {
            let finished = false;
            try {
                trials.push(name === "dc-promotion" ? await promotionTrial(n, say) : await trial(name as keyof typeof SCENARIOS, n, say, opts.faultHoldMs));
                finished = true;
            } finally {
                const s = requireState();
                if (s.faults.killed.length + s.faults.isolatedHosts.length + s.faults.isolatedSites.length > 0) {
                    say(`restoring: ${name === "dc-promotion" ? await recoverTwoSite(say) : await heal()}`);
                }
                // A trial that failed half-way may have left the cluster changed (the canary's synchronous mode).
                const restore = name === "dc-promotion" ? undefined : (SCENARIOS[name as keyof typeof SCENARIOS] as Scenario).restore;
                if (!finished && restore) await restore(s, say).catch((e: Error) => say(`restoring failed: ${e.message}`));
            }
        }
        allPassed = trials.every((t) => t.ok);
    } finally {
        // Also after a failed trial: a config drill must not leave the lab on its flipped config.
        if (name !== "dc-promotion" && !(opts.keep && allPassed)) await (SCENARIOS[name as keyof typeof SCENARIOS] as Scenario).finish?.(requireState(), say);
    }
    return { scenario: name, trials, outage: summarize(trials.map((t) => t.outage)) };
}

export function formatDrill(r: DrillResult): string {
    const s = r.outage;
    const extra = (t: TrialResult) =>
        t.extra
            ? `, ${Object.entries(t.extra)
                  .map(([k, v]) => `${k} ${v}`)
                  .join(", ")}`
            : "";
    const lines = r.trials.map(
        (t) =>
            `  trial ${t.trial}: ${t.ok ? "ok  " : "FAIL"} outage ${t.outage.toFixed(2)} s, acknowledged ${t.acknowledged}, lost ${t.missing}, split-brain samples ${t.splitBrainMoments}, leader ${t.oldLeader} -> ${t.newLeader ?? "?"}${extra(t)}${t.problems.length ? ` (${t.problems.join("; ")})` : ""}`,
    );
    const canary = r.scenario.startsWith("canary-") ? " (a canary: it passes when the lost writes it causes are reported)" : "";
    return [
        `drill ${r.scenario}${canary}: ${r.trials.length} trials, write outage min/median/p95/max ${[s.min, s.median, s.p95, s.max].map((x) => x.toFixed(2)).join(" / ")} s`,
        ...lines,
    ].join("\n");
}
