/**
 * Lab hosts: each is a holder process (lab/host-holder.sh) that owns the host's mount, UTS
 * and IPC namespaces inside its network namespace, over its own copy-on-write root of the
 * shared Debian 13 root. Its services are started by its converge steps over SSH, through the
 * lab's systemctl (lab/bootstrap.ts), as on a VM.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { RenderedFile } from "../render/rendered";
import { DeploymentPlan, HostPlan } from "../plan/plan";
import { ROOTFS } from "../debian/root";
import { LabError, run, sleep, spawnDetached, tryRun } from "./sh";
import { hostDir } from "./state";

const HOLDER = path.join(__dirname, "host-holder.sh");

function idsOf(file: string, name: string): number | undefined {
    const line = fs
        .readFileSync(path.join(ROOTFS, file), "utf8")
        .split("\n")
        .find((l) => l.startsWith(`${name}:`));
    return line ? Number(line.split(":")[2]) : undefined;
}

function owner(spec: string): { uid: number; gid: number } {
    const [user, group] = spec.split(":");
    const uid = idsOf("etc/passwd", user);
    const gid = idsOf("etc/group", group ?? user);
    if (uid === undefined || gid === undefined) throw new LabError(`the Debian 13 root has no user ${spec}; is its package in ROOT_PACKAGES?`);
    return { uid, gid };
}

/** Writes what the host gets before its first boot (cloud-init's part) into its stage; the holder copies it over the root at every boot. */
export function stageHost(plan: DeploymentPlan, host: HostPlan, files: RenderedFile[]): void {
    const dir = hostDir(host.name);
    for (const d of ["upper", "work", "root", "log", "stage"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
    const stage = path.join(dir, "stage");
    const base = [
        { path: "/etc/hostname", content: `${host.name}\n`, mode: "0644", owner: "root:root" },
        {
            path: "/etc/hosts",
            content: ["127.0.0.1 localhost", ...plan.hosts.map((h) => `${h.address} ${h.name}`)].join("\n") + "\n",
            mode: "0644",
            owner: "root:root",
        },
        // The root's resolv.conf names a resolver outside the lab: lab hosts must not use it.
        { path: "/etc/resolv.conf", content: "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", mode: "0644", owner: "root:root" },
    ];
    for (const f of [...base, ...files]) {
        const target = path.join(stage, f.path);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, f.content, { mode: parseInt(f.mode, 8) });
        fs.chmodSync(target, parseInt(f.mode, 8));
        const o = owner(f.owner);
        fs.chownSync(target, o.uid, o.gid);
    }
}

/** Boots (or re-boots) a host: starts its holder and waits until its root is mounted. */
export async function bootHost(host: HostPlan): Promise<number> {
    const dir = hostDir(host.name);
    fs.rmSync(path.join(dir, "ready"), { force: true });
    spawnDetached(
        "ip",
        [
            "netns",
            "exec",
            host.name,
            "unshare",
            "--mount",
            "--uts",
            "--ipc",
            "--propagation",
            "private",
            "--",
            "bash",
            HOLDER,
            ROOTFS,
            dir,
            host.name,
            ...(host.dataDisk ? [host.dataDisk.mountPoint] : []),
        ],
        path.join(dir, "log", "holder.log"),
    );
    for (let i = 0; i < 100; i++) {
        const ready = path.join(dir, "ready");
        if (fs.existsSync(ready) && fs.readFileSync(ready, "utf8").trim() !== "") return Number(fs.readFileSync(ready, "utf8").trim());
        await sleep(100);
    }
    throw new LabError(`host ${host.name} did not boot; see ${path.join(dir, "log", "holder.log")}`);
}

/** The argv that runs a command inside a booted host, as root. */
export function inHost(holderPid: number, host: string, argv: string[]): string[] {
    return ["nsenter", "-t", String(holderPid), "-m", "-u", "-i", "-n", "--", "chroot", path.join(hostDir(host), "root"), ...argv];
}

/** The main pid of a host's unit while it runs (the lab's systemctl records it), or what a one-shot unit did. */
export function unitState(host: string, unit: string): "running" | "done" | "stopped" {
    const dir = path.join(hostDir(host), "units");
    try {
        const pid = Number(fs.readFileSync(path.join(dir, `${unit}.pid`), "utf8").trim());
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        if (!/\) Z /.test(stat)) return "running";
    } catch {
        /* no pid file, or the process is gone */
    }
    return fs.existsSync(path.join(dir, `${unit}.done`)) ? "done" : "stopped";
}

/** SIGKILLs every process in the host's network namespace (holder included): the plug is pulled. */
export async function killHost(host: string): Promise<void> {
    for (let i = 0; i < 50; i++) {
        const pids = tryRun("ip", ["netns", "pids", host]).stdout.split(/\s+/).filter(Boolean);
        if (pids.length === 0) return;
        tryRun("kill", ["-9", ...pids]);
        await sleep(100);
    }
    throw new LabError(`processes survive SIGKILL in namespace ${host}: ${run("ip", ["netns", "pids", host]).trim()}`);
}

/** SIGKILLs the processes of one service on a host, by name. */
export function killProcesses(host: string, name: string): number {
    const pids = tryRun("ip", ["netns", "pids", host]).stdout.split(/\s+/).filter(Boolean);
    const hits = pids.filter((p) => {
        try {
            return fs.readFileSync(`/proc/${p}/comm`, "utf8").trim().startsWith(name);
        } catch {
            return false;
        }
    });
    if (hits.length > 0) tryRun("kill", ["-9", ...hits]);
    return hits.length;
}

/** Runs a command inside a booted host and waits for it (bounded); returns its result. */
export function execInHost(
    holderPid: number,
    host: string,
    argv: string[],
    timeoutMs = 60000,
    opts: { user?: string; input?: string } = {},
): { status: number; stdout: string; stderr: string } {
    const asUser = opts.user ? ["setpriv", `--reuid=${opts.user}`, `--regid=${opts.user}`, "--init-groups", "--reset-env", "--", ...argv] : argv;
    const [cmd, ...args] = inHost(holderPid, host, asUser);
    return tryRun(cmd, args, opts.input, timeoutMs);
}
