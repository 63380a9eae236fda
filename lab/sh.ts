/** Running commands for the lab, and its progress output. No Pulumi here, ever. */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";

const started = Date.now();

/** A progress line on stderr, with the seconds since the command started. */
export function progress(message: string): void {
    process.stderr.write(`[lab +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
}

/** An error the CLI prints as one line, without a stack trace. */
export class LabError extends Error {}

export function requireRoot(): void {
    if (process.getuid?.() !== 0) throw new LabError("the lab needs root (network namespaces, mounts, chroot); run it with sudo");
}

export interface Result {
    status: number;
    stdout: string;
    stderr: string;
}

export function tryRun(cmd: string, args: string[], input?: string, timeoutMs = 60000): Result {
    const r = spawnSync(cmd, args, { encoding: "utf8", input, timeout: timeoutMs });
    return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
}

/** Runs a command and returns its stdout; throws with its stderr when it fails. */
export function run(cmd: string, args: string[], input?: string, timeoutMs?: number): string {
    const r = tryRun(cmd, args, input, timeoutMs);
    if (r.status !== 0) throw new LabError(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
    return r.stdout;
}

/** Starts a long-running process in its own session, output appended to a log; returns its pid. */
export function spawnDetached(cmd: string, args: string[], logFile: string): number {
    const fd = fs.openSync(logFile, "a");
    const child = spawn(cmd, args, { detached: true, stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    child.unref();
    if (child.pid === undefined) throw new LabError(`could not start ${cmd}`);
    return child.pid;
}

export function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

/** Polls until the check returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, everyMs = 500): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError = "";
    while (Date.now() < deadline) {
        try {
            const v = await check();
            if (v !== undefined) return v;
        } catch (e) {
            lastError = (e as Error).message;
        }
        await sleep(everyMs);
    }
    throw new LabError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ""}`);
}
