/**
 * The drills' probes (probes/drill_probe.py) run inside lab hosts: a writer, watchers on
 * every PostgreSQL, one-shot queries. Each prints JSON lines; a killed host kills its probe.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { APP_DATABASE, DB_USERS, PG_CLIENT_TLS } from "../render/patroni";
import { execInHost, inHost } from "./hosts";
import { trustBundle } from "./pki";
import { labSecrets } from "./secrets";
import { LabError, waitFor } from "./sh";
import { LabState, PKI_DIR } from "./state";
import { WatchEvent } from "./recorder";

const SCRIPT = fs.readFileSync(path.join(__dirname, "probes", "drill_probe.py"), "utf8");
/** Upper bound of one probe's life; a trial stops its probes long before. */
export const PROBE_SECONDS = 300;
/** Connections of a drill's writer, each one INSERT every 20 ms. */
export const WRITER_CONNECTIONS = 4;

/** Where a lab client inside a host finds the lab's trusted CAs (copied in by `pgClientEnv`). */
const CLIENT_CA = "/var/lib/nextcloud-ha-lab/ca.crt";

/**
 * libpq's environment for a lab client inside `host` that connects over TCP: TLS as every client
 * of the platform connects (render/patroni.ts PG_CLIENT_TLS), with the lab's trusted CAs.
 */
export function pgClientEnv(state: LabState, host: string): { PGSSLMODE: string; PGSSLROOTCERT: string } {
    const bundle = trustBundle(PKI_DIR, state.plan.certificates);
    const r = execInHost(state.holders[host], host, ["sh", "-c", `mkdir -p ${path.dirname(CLIENT_CA)} && cat > ${CLIENT_CA}`], 10000, { input: bundle });
    if (r.status !== 0) throw new LabError(`cannot write the lab's CAs into ${host}: ${r.stderr.trim()}`);
    return { PGSSLMODE: PG_CLIENT_TLS.sslmode, PGSSLROOTCERT: CLIENT_CA };
}

/** Every Patroni member of the lab, in every cluster. */
export function membersOf(state: LabState): string[] {
    return state.plan.patroniClusters.flatMap((c) => c.members);
}

/** A probe that samples every 100 ms whether the member accepts writes. */
export function watchMember(state: LabState, member: string, seconds = PROBE_SECONDS): Probe<WatchEvent> {
    return runProbe<WatchEvent>(state, member, ["watch", "--member", member, "--duration", String(seconds)]);
}

export interface Probe<T> {
    events: T[];
    /** True once the probe's process is gone (it dies with a killed host). */
    exited(): boolean;
    /** The last lines it wrote on stderr, for error messages. */
    stderr(): string;
    stop(): Promise<void>;
}

/**
 * The modes that write and read the drill table: as the app's role, in its database, through
 * HAProxy (pg_hba admits the app's role from HAProxy's hosts, the superuser only from the
 * members). The others (watch) log in as the superuser on the member itself.
 */
const APP_MODES = ["write", "setup", "count"];

/** A probe in a lab host; it logs in with `password` (default: its role's), given in its environment, never on its command line. */
export function runProbe<T>(state: LabState, host: string, args: string[], password?: string): Probe<T> {
    const db = labSecrets().database;
    const login = APP_MODES.includes(args[0])
        ? { PGUSER: APP_DATABASE.role, PGDATABASE: APP_DATABASE.name, PGPASSWORD: password ?? db.appPassword }
        : { PGUSER: DB_USERS.superuser, PGDATABASE: "postgres", PGPASSWORD: password ?? db.superuserPassword };
    const [cmd, ...argv] = inHost(state.holders[host], host, ["/usr/bin/python3", "-u", "-c", SCRIPT, ...args]);
    // A host not running (yet, or any more: a drill's fault) cannot take the CA file; its probe fails as it would without it.
    // Still verify-full, with a CA file that is not there: libpq's default (prefer) would not verify.
    let tls: Record<string, string> = { PGSSLMODE: PG_CLIENT_TLS.sslmode, PGSSLROOTCERT: "/nonexistent/nextcloud-ha-lab-ca.crt" };
    try {
        tls = pgClientEnv(state, host);
    } catch {
        /* the probe reports what it cannot reach */
    }
    const child: ChildProcess = spawn(cmd, argv, {
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...login, ...tls },
        stdio: ["ignore", "pipe", "pipe"],
    });
    const events: T[] = [];
    let buffer = "";
    let errors = "";
    let gone = false;
    child.stderr!.on("data", (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-2000)));
    child.stdout!.on("data", (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split("\n");
        buffer = lines.pop() ?? "";
        for (const l of lines) if (l.trim()) events.push(JSON.parse(l) as T);
    });
    const exited = new Promise<void>((resolve) => child.on("close", () => ((gone = true), resolve())));
    return {
        events,
        exited: () => gone,
        stderr: () => errors.trim().split("\n").slice(-3).join(" | "),
        async stop() {
            child.kill("SIGTERM");
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 8000)))]);
            clearTimeout(timer);
            child.kill("SIGKILL");
        },
    };
}

export async function probeOnce<T>(state: LabState, host: string, args: string[], password?: string): Promise<T> {
    const p = runProbe<T>(state, host, args, password);
    try {
        await waitFor(
            `${args[0]} on ${host}`,
            30000,
            () => (p.events.length > 0 ? true : p.exited() ? Promise.reject(new Error(p.stderr() || "the probe exited")) : undefined),
            100,
        );
    } finally {
        await p.stop();
    }
    return p.events[0];
}
