/**
 * The Debian 13 root the lab runs its hosts from and the tests validate configs with, so
 * both use exactly the binaries a VM gets. Built once by debian/rootfs.sh and cached.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const ROOTFS = process.env.NCHA_ROOTFS ?? "/var/cache/nextcloud-ha/trixie";

/** The union of the roles' packages, plus the tools the lab and the tests use inside. */
export const ROOT_PACKAGES = [
    "patroni",
    "python3-etcd",
    "python3-psycopg2",
    "postgresql-17",
    "postgresql-client-17",
    "etcd-server",
    "etcd-client",
    "haproxy",
    "socat",
    "glusterfs-server",
    "glusterfs-client",
    "nginx",
    "keepalived",
    "redis-server",
    "iproute2",
    "procps",
    "ca-certificates",
    "openssl",
    // The lab reaches its hosts as `pulumi up` reaches the VMs: SSH as the plan's sshUser, sudo.
    "openssh-server",
    "sudo",
];

/** True when the root exists with every package (a cheap check: the marker and binaries). */
export function rootReady(root = ROOTFS): boolean {
    return [
        "usr/bin/patroni",
        "usr/bin/etcd",
        "usr/sbin/haproxy",
        "usr/lib/postgresql/17/bin/postgres",
        "usr/sbin/sshd",
        "usr/bin/sudo",
        "usr/bin/socat",
        "usr/bin/redis-server",
    ].every((p) => fs.existsSync(path.join(root, p)));
}

/** Builds or completes the root (needs root privileges; prints progress to stderr). */
export function ensureRoot(root = ROOTFS): string {
    try {
        execFileSync("bash", [path.join(__dirname, "rootfs.sh"), root, ...ROOT_PACKAGES], { stdio: ["ignore", "ignore", "inherit"] });
    } catch {
        throw new Error(`could not build the Debian 13 root at ${root} with ${ROOT_PACKAGES.join(" ")}; the lines above and ${root}.apt.log say why`);
    }
    return root;
}
