/**
 * How a connection that is not a `remote.Command` pins a VM's SSH host key (the Docker
 * provider's `ssh` command): a known_hosts of that one key, strict checking. Pure: the program
 * writes the file (program.ts `writeKnownHosts`).
 */

/** The known_hosts line of one host: its address and its public key (`ssh-ed25519 AAAA...`). */
export function knownHostsLine(address: string, publicKey: string): string {
    return `${address} ${publicKey.trim()}\n`;
}

/** `ssh` options that trust exactly the keys in `knownHostsFile`, and only ed25519 keys. */
export function pinnedSshOptions(knownHostsFile: string): string[] {
    return ["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHostsFile}`, "-o", "HostKeyAlgorithms=ssh-ed25519"];
}
