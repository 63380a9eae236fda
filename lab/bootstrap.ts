/**
 * What cloud-init does for a VM, done for a lab host: its SSH identity (a host key made here
 * and pinned in the lab's known_hosts, as the program pins its own), the plan's sshUser with
 * the operator's key and sudo, sshd; plus what systemd is for a VM: the lab's `systemctl`
 * stand-in (lab/systemctl.sh) and a unit file per service (from the renderers' ServiceSpec).
 * Everything else reaches the host as on a VM: through its converge steps, over SSH.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DeploymentPlan, HostPlan } from "../plan/plan";
import { RenderedFile, ServiceSpec } from "../render/rendered";
import { shellQuote as quote } from "../ops/remote";
import { execInHost } from "./hosts";
import { LabError, run, tryRun } from "./sh";
import { LAB_DIR } from "./state";

export const SSH_DIR = path.join(LAB_DIR, "ssh");
const CLIENT_KEY = path.join(SSH_DIR, "id_ed25519");
const KNOWN_HOSTS = path.join(SSH_DIR, "known_hosts");
/** Where a lab host's units live (the stand-in reads them). */
export const UNIT_DIR = "/etc/nextcloud-ha/lab-units";

/** The ssh options that make the lab's connections what the program's are: its key, the pinned host keys, nothing else. */
export function sshOptions(): string[] {
    return ["-i", CLIENT_KEY, "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${KNOWN_HOSTS}`, "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR"];
}

function keyPair(file: string, comment: string): { privateKey: string; publicKey: string } {
    if (!fs.existsSync(file)) run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
    return { privateKey: fs.readFileSync(file, "utf8"), publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim() };
}

/** The operator's key and every host's key, made once per lab; the host keys pinned in known_hosts. */
export function makeKeys(plan: DeploymentPlan): void {
    if (tryRun("sh", ["-c", "command -v ssh && command -v ssh-keygen"]).status !== 0)
        throw new LabError("the lab needs the OpenSSH client (ssh, ssh-keygen): apt-get install openssh-client");
    fs.mkdirSync(path.join(SSH_DIR, "hosts"), { recursive: true, mode: 0o700 });
    keyPair(CLIENT_KEY, "nextcloud-ha lab operator");
    const lines = plan.hosts.map(
        (h) =>
            `${h.address} ${keyPair(path.join(SSH_DIR, "hosts", h.name), h.name)
                .publicKey.split(" ")
                .slice(0, 2)
                .join(" ")}`,
    );
    fs.writeFileSync(KNOWN_HOSTS, lines.join("\n") + "\n", { mode: 0o600 });
}

/** The lab's unit file of a service: what its systemd unit runs, for the stand-in. */
export function unitFile(spec: ServiceSpec): RenderedFile {
    const vars = {
        NAME: spec.name,
        RUN_AS: spec.user,
        ENV_FILES: (spec.envFiles ?? []).join(" "),
        COMMAND: spec.command.map(quote).join(" "),
        RELOAD_SIGNAL: spec.reloadSignal ?? (spec.apply.kind === "reload" ? "HUP" : ""),
        ONESHOT: spec.oneshot ? "1" : "0",
    };
    return {
        path: `${UNIT_DIR}/${spec.unit}`,
        content: Object.entries(vars)
            .map(([k, v]) => `${k}=${quote(v)}`)
            .join("\n")
            .concat("\n"),
        mode: "0644",
        owner: "root:root",
        service: spec.name,
    };
}

const SSHD: ServiceSpec = {
    name: "ssh",
    unit: "ssh.service",
    user: "root",
    command: ["/bin/sh", "-c", "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e"],
    apply: { kind: "reload" },
};

/** What a lab host has before its first converge step: cloud-init's part and the stand-ins for systemd. */
export function bootstrapFiles(plan: DeploymentPlan, host: HostPlan, sshUser: string): RenderedFile[] {
    const hostKey = keyPair(path.join(SSH_DIR, "hosts", host.name), host.name);
    return [
        { path: "/usr/local/sbin/systemctl", content: fs.readFileSync(path.join(__dirname, "systemctl.sh"), "utf8"), mode: "0755", owner: "root:root" },
        unitFile(SSHD),
        { path: "/etc/ssh/ssh_host_ed25519_key", content: hostKey.privateKey, mode: "0600", owner: "root:root" },
        { path: "/etc/ssh/ssh_host_ed25519_key.pub", content: `${hostKey.publicKey}\n`, mode: "0644", owner: "root:root" },
        {
            // Debian's sshd_config includes these first, and the first value wins. No PAM: no login sessions in a namespace.
            path: "/etc/ssh/sshd_config.d/50-nextcloud-ha-lab.conf",
            content: [
                "HostKey /etc/ssh/ssh_host_ed25519_key",
                `ListenAddress ${host.address}`,
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin no",
                "",
            ].join("\n"),
            mode: "0644",
            owner: "root:root",
        },
        // What cloud-init gives the image's default user.
        { path: "/etc/sudoers.d/90-cloud-init-users", content: `${sshUser} ALL=(ALL) NOPASSWD:ALL\n`, mode: "0440", owner: "root:root" },
    ];
}

/**
 * cloud-init's first boot on a booted lab host: the user with the operator's key (a password
 * of `*`: no password login, and not locked, which sshd without PAM refuses), then sshd.
 */
export function firstBoot(holder: number, host: HostPlan, sshUser: string): void {
    const key = fs.readFileSync(`${CLIENT_KEY}.pub`, "utf8").trim();
    const script = [
        "set -eu",
        `id -u ${sshUser} >/dev/null 2>&1 || useradd -m -s /bin/bash -p '*' ${sshUser}`,
        `install -d -m 0700 -o ${sshUser} -g ${sshUser} /home/${sshUser}/.ssh`,
        `printf '%s\\n' ${quote(key)} >/home/${sshUser}/.ssh/authorized_keys`,
        `chown ${sshUser}:${sshUser} /home/${sshUser}/.ssh/authorized_keys; chmod 0600 /home/${sshUser}/.ssh/authorized_keys`,
        `systemctl enable --now ${SSHD.unit}`,
    ].join("\n");
    const r = execInHost(holder, host.name, ["sh", "-s"], 30000, { input: script });
    if (r.status !== 0)
        throw new LabError(`bootstrapping ${host.name} (its user and sshd) failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
}
