/**
 * What a renderer produces for one host: files to write, services to run, Debian packages
 * to install. Both shells consume it unchanged: the cloud-init renderer turns it into user
 * data for a Proxmox VM, and the lab writes the files into a host's namespace and runs the
 * services itself. Pure types; no Pulumi.
 */

export interface RenderedFile {
    path: string;
    content: string;
    /** Octal permissions, e.g. "0600". */
    mode: string;
    /** "user:group" (the user may come with a package). */
    owner: string;
    /** Must exist before packages install (e.g. to stop a package's default setup). */
    beforePackages?: boolean;
}

export interface ServiceSpec {
    /** Short name the lab and the docs use ("etcd", "patroni", "haproxy"). */
    name: string;
    /** systemd unit the VM enables. */
    unit: string;
    /** User the service runs as (the unit's `User=`). */
    user: string;
    /** The unit's command line, which the lab runs directly. */
    command: string[];
    /** Environment file the unit reads (`EnvironmentFile=`). */
    envFile?: string;
    /** Units the package starts that this service replaces; the VM disables them. */
    replaces?: string[];
}

export interface RenderedHost {
    files: RenderedFile[];
    services: ServiceSpec[];
    packages: string[];
}

/** A host's TLS identity from the deployment CA: the CA's certificate, and the host's own certificate and key. */
export interface TlsIdentity {
    caCert: string;
    cert: string;
    key: string;
}

/** Joins the parts of several renderers for one host, in order. */
export function mergeRendered(parts: RenderedHost[]): RenderedHost {
    const files = parts.flatMap((p) => p.files);
    const seen = new Set<string>();
    for (const f of files) {
        if (seen.has(f.path)) throw new Error(`two renderers write ${f.path}`);
        seen.add(f.path);
    }
    return {
        files,
        services: parts.flatMap((p) => p.services),
        packages: [...new Set(parts.flatMap((p) => p.packages))].sort(),
    };
}
