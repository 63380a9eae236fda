/**
 * Renders a host's cloud-init user data, so that a VM cloned from the Debian 13 cloud
 * image boots straight into its role: packages installed with their services held back,
 * the rendered files written once the service users exist, then the role's units enabled.
 * Pure.
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
        write_files: rendered.files.map((f) => ({
            path: f.path,
            content: f.content,
            permissions: f.mode,
            owner: f.owner,
            defer: !f.beforePackages,
        })),
        runcmd: [
            ["rm", "-f", "/usr/sbin/policy-rc.d"],
            ...replaced.map((u) => ["systemctl", "disable", "--now", u]),
            ["systemctl", "enable", "--now", "qemu-guest-agent.service"],
            ...rendered.services.map((s) => ["systemctl", "enable", "--now", s.unit]),
            // Docker over SSH as the image's user (the app tier's containers) needs its group.
            ...(rendered.packages.includes("docker.io") ? [["usermod", "-aG", "docker", identity.sshUser]] : []),
        ],
    };
    return (
        `#cloud-config\n# ${host.name}: ${host.roles.join(", ")} in ${host.site}; rendered by nextcloud-ha\n` + stringify(doc, { lineWidth: 0, version: "1.1" })
    );
}
