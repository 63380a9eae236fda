/**
 * The site commands' transport against the VMs: commands over SSH as the stack's sshUser with
 * sudo, using the operator's SSH agent, as the Pulumi program's remote commands do; Patroni's
 * REST API asked on the member itself (REST_CALL: HTTPS with the member's certificate and the
 * REST password from its config, neither of which leaves the host), and HAProxy's 5000 probed
 * from where the command runs (a machine in `managementNetworks`).
 */
import { spawn } from "node:child_process";
import { PATRONI_CONFIG } from "../render/patroni";
import { HostPlan } from "../plan/plan";
import { tcpOpen } from "./http";
import { CommandResult, SiteTransport } from "./siteMove";

/** Quotes one word for the remote shell that ssh hands the command line to. */
export function shellQuote(word: string): string {
    return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Run on a member as postgres (`python3 -c`, the request as one JSON line on stdin):
 * Patroni's REST API at its own address, the server verified by the deployment CAs, the
 * member's certificate presented and, for a method that changes something, the REST password
 * from Patroni's config. Prints `{"status", "body"}`; exit 3 when the API does not answer.
 */
export const REST_CALL = `import base64, json, ssl, sys, urllib.error, urllib.request
import yaml
req = json.loads(sys.stdin.readline())
with open(${JSON.stringify(PATRONI_CONFIG)}) as f:
    c = yaml.safe_load(f)
api, ctl = c["restapi"], c["ctl"]
tls = ssl.create_default_context(cafile=api["cafile"])
tls.load_cert_chain(ctl["certfile"], ctl["keyfile"])
data = None if req.get("body") is None else json.dumps(req["body"]).encode()
r = urllib.request.Request(f"https://{api['connect_address']}{req['path']}", data=data, method=req["method"])
if req["method"] != "GET":
    a = api["authentication"]
    r.add_header("Authorization", "Basic " + base64.b64encode(f"{a['username']}:{a['password']}".encode()).decode())
if data is not None:
    r.add_header("Content-Type", "application/json")
try:
    with urllib.request.urlopen(r, timeout=5, context=tls) as answer:
        status, body = answer.status, answer.read().decode()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read().decode()
except OSError as e:
    print(f"Patroni's REST API does not answer: {e}", file=sys.stderr)
    sys.exit(3)
print(json.dumps({"status": status, "body": body}))
`;

/** `sshOptions`: more `ssh` arguments (the lab's key and known_hosts); the operator's own come from ~/.ssh/config. */
export function remoteTransport(sshUser: string, sshOptions: string[] = []): SiteTransport {
    /** A command on the host as root (or `user`) through sudo; `connectTimeoutS`: how long to wait for SSH to connect at all. */
    const ssh = (host: HostPlan, argv: string[], opts: { user?: string; stdin?: string; timeoutMs?: number; connectTimeoutS?: number } = {}) => {
        const sudo = ["sudo", "-n", ...(opts.user ? ["-u", opts.user] : []), "--", ...argv];
        const args = [
            ...sshOptions,
            "-o",
            "BatchMode=yes",
            "-o",
            `ConnectTimeout=${opts.connectTimeoutS ?? 10}`,
            `${sshUser}@${host.address}`,
            sudo.map(shellQuote).join(" "),
        ];
        return new Promise<CommandResult>((resolve) => {
            const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60000);
            child.stdout.on("data", (c) => (stdout += c));
            child.stderr.on("data", (c) => (stderr += c));
            child.on("error", (e) => (stderr += String(e)));
            child.on("close", (code) => (clearTimeout(timer), resolve({ status: code ?? 255, stdout, stderr })));
            // ssh that cannot reach the host (a cut-off site) exits before it reads stdin: the write then
            // fails with EPIPE, which is the same answer as its exit status, not an error of ours.
            child.stdin.on("error", (e) => (stderr += String(e)));
            child.stdin.end(opts.stdin ?? "");
        });
    };
    const transport: SiteTransport = {
        async patroni(host, method, path, body) {
            // The request on stdin (the script names no secret; the password stays in the member's config).
            // A host that does not answer within 5 s counts as not answering, as an HTTP timeout would.
            const r = await ssh(host, ["python3", "-c", REST_CALL], {
                user: "postgres",
                stdin: JSON.stringify({ method, path, body }) + "\n",
                timeoutMs: 15000,
                connectTimeoutS: 5,
            });
            if (r.status !== 0) return undefined;
            try {
                return JSON.parse(r.stdout.trim().split("\n").pop()!) as { status: number; body: string };
            } catch {
                return undefined;
            }
        },
        tcpOpen: (address, port) => tcpOpen(address, port),
        run: (host, argv, opts = {}) => ssh(host, argv, opts),
    };
    return transport;
}
