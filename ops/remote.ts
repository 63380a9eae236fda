/**
 * The site commands' transport against the VMs: Patroni's REST API over HTTP from where the
 * command runs (a machine in `managementNetworks`: in two-site the Proxmox firewall opens the
 * REST API's 8008 and HAProxy's 5000 to it), and commands over SSH as the stack's sshUser with sudo, using the
 * operator's SSH agent, as the Pulumi program's remote commands do.
 */
import { spawn } from "node:child_process";
import { DB_USERS } from "../render/patroni";
import { DeploymentPlan } from "../plan/plan";
import { httpRequest, tcpOpen } from "./http";
import { CommandResult, SiteMoveError, SiteTransport } from "./siteMove";

/** Where the REST password comes from: never a command-line argument (it would land in shell history and ps). */
export const REST_PASSWORD_ENV = "NCHA_PATRONI_REST_PASSWORD";

/** Quotes one word for the remote shell that ssh hands the command line to. */
export function shellQuote(word: string): string {
    return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `sshOptions`: more `ssh` arguments (the lab's key and known_hosts); the operator's own come from ~/.ssh/config. */
export function remoteTransport(plan: DeploymentPlan, sshUser: string, restPassword: string | undefined, sshOptions: string[] = []): SiteTransport {
    return {
        async patroni(host, method, path, body) {
            if (method !== "GET" && !restPassword)
                throw new SiteMoveError(`set ${REST_PASSWORD_ENV} to Patroni's REST password first (docs/runbooks/two-site.md)`);
            try {
                return await httpRequest(`http://${host.address}:${plan.ports.patroniRest}${path}`, {
                    method,
                    body,
                    timeoutMs: 5000,
                    ...(method === "GET" ? {} : { auth: `${DB_USERS.restApi}:${restPassword}` }),
                });
            } catch {
                return undefined;
            }
        },
        tcpOpen: (address, port) => tcpOpen(address, port),
        run(host, argv, opts = {}) {
            const sudo = ["sudo", "-n", ...(opts.user ? ["-u", opts.user] : []), "--", ...argv];
            const args = [...sshOptions, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", `${sshUser}@${host.address}`, sudo.map(shellQuote).join(" ")];
            return new Promise<CommandResult>((resolve) => {
                const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
                let stdout = "";
                let stderr = "";
                const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60000);
                child.stdout.on("data", (c) => (stdout += c));
                child.stderr.on("data", (c) => (stderr += c));
                child.on("error", (e) => (stderr += String(e)));
                child.on("close", (code) => (clearTimeout(timer), resolve({ status: code ?? 255, stdout, stderr })));
                child.stdin.end(opts.stdin ?? "");
            });
        },
    };
}
