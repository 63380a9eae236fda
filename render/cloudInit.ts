/**
 * Renders a host's cloud-init user data: the bootstrap only. Packages installed with their
 * services held back, the users, the SSH identity (the program's host key, the operator's
 * authorised keys), the data disk. No application secret: the rendered files and the services
 * come with the converge steps over SSH (render/converge.ts), at the first `pulumi up` and
 * every later one. Pure.
 */
import { stringify } from "yaml";
import { HostPlan } from "../plan/plan";
import { RenderedHost } from "./rendered";

/** Packages every VM gets whatever its role. */
export const BASE_PACKAGES = ["qemu-guest-agent", "ca-certificates"];

// Held back during the first boot so packages do not start services with default config
// (a default etcd would bootstrap a one-member cluster; Patroni must create PostgreSQL).
const HOLD_SERVICES = "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d";

/** Who logs in, and how the host proves who it is. */
export interface HostIdentity {
    /** Public keys authorised for the image's user (stack config `sshAuthorizedKeys`). */
    sshAuthorizedKeys: string[];
    /** The image's user that remote commands log in as (stack config `sshUser`). */
    sshUser: string;
    /** The host's SSH host key (ed25519, OpenSSH format), made by the program so every connection can pin it. */
    hostKey: { privateKey: string; publicKey: string };
}

export function renderCloudInit(host: HostPlan, rendered: RenderedHost, identity: HostIdentity): string {
    const replaced = [...new Set(rendered.services.flatMap((s) => s.replaces ?? []))];
    const doc = {
        hostname: host.name,
        manage_etc_hosts: true,
        timezone: "Etc/UTC",
        ssh_pwauth: false,
        ssh_authorized_keys: identity.sshAuthorizedKeys,
        // The template's host keys go; the program's key is the only one, known before the first connection.
        ssh_deletekeys: true,
        ssh_genkeytypes: [],
        ssh_keys: { ed25519_private: identity.hostKey.privateKey, ed25519_public: identity.hostKey.publicKey },
        ...(host.dataDisk
            ? {
                  // The second disk (scsi1), by id, formatted once and mounted by label.
                  fs_setup: [{ label: "data", filesystem: host.dataDisk.filesystem, device: host.dataDisk.device, partition: "none", overwrite: false }],
                  mounts: [["LABEL=data", host.dataDisk.mountPoint, host.dataDisk.filesystem, "defaults,nofail", "0", "2"]],
              }
            : {}),
        package_update: true,
        package_upgrade: false,
        packages: [...new Set([...BASE_PACKAGES, ...rendered.packages])].sort(),
        bootcmd: [["cloud-init-per", "once", "nextcloud-ha-hold-services", "sh", "-c", HOLD_SERVICES]],
        // Only what must exist before the packages install (it holds no secret); every other
        // file reaches the host with its converge step (render/converge.ts), over SSH.
        write_files: rendered.files
            .filter((f) => f.beforePackages)
            .map((f) => ({ path: f.path, content: f.content, permissions: f.mode, owner: f.owner, defer: false })),
        runcmd: [
            ["rm", "-f", "/usr/sbin/policy-rc.d"],
            // The packages' own units (PostgreSQL's, say) must not start at a boot: the converge steps start what runs.
            ...replaced.map((u) => ["systemctl", "disable", "--now", u]),
            ["systemctl", "enable", "--now", "qemu-guest-agent.service"],
            // Docker over SSH as the image's user (the app tier's containers) needs its group.
            ...(rendered.packages.includes("docker.io") ? [["usermod", "-aG", "docker", identity.sshUser]] : []),
        ],
    };
    return (
        `#cloud-config\n# ${host.name}: ${host.roles.join(", ")} in ${host.site}; rendered by nextcloud-ha\n` + stringify(doc, { lineWidth: 0, version: "1.1" })
    );
}
