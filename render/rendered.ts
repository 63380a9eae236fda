/**
 * What a renderer produces for one host: files to write, services to run and how a change
 * reaches each (its apply rule), Debian packages to install. The shells consume it unchanged:
 * cloud-init installs the packages, the converge scripts (render/converge.ts) write the files
 * and apply the rules over SSH, and the lab runs the services itself. Pure types; no Pulumi.
 */

export interface RenderedFile {
    path: string;
    content: string;
    /** Octal permissions, e.g. "0600". */
    mode: string;
    /** "user:group" (the user may come with a package). */
    owner: string;
    /** Must exist before packages install (e.g. to stop a package's default setup): written by cloud-init, and holds no secret. */
    beforePackages?: boolean;
    /** The service that reads it: a change applies that service's rule. Default: the first service of the renderer that wrote it. */
    service?: string;
    /** A change is written and applies nothing: the service reads it only at its first start, or never (a script, a tool's settings). */
    noApply?: boolean;
}

/**
 * How a changed file reaches its running service. `reload`: check the new config (a command
 * that fails on a bad one), then `systemctl reload`; `restart`: check, `systemctl restart`,
 * then wait (bounded) until `healthy` succeeds; `prepare` runs after the check, before a reload
 * of a running service (HAProxy saves its servers' state for the new workers), `after` after it
 * (Patroni's passfile mended); `run`: a command of the renderer's own, then wait until `healthy`;
 * `none`: the service reads it when it next needs it (or a oneshot unit at boot).
 */
export type ApplyRule =
    | { kind: "reload"; check?: string; prepare?: string; after?: string }
    | { kind: "restart"; check?: string; healthy?: string }
    /** `run`: a command of its own (Docker's containers restarted to re-read what they copy at start), then wait until `healthy`. */
    | { kind: "run"; command: string; healthy?: string }
    | { kind: "none" };

export interface ServiceSpec {
    /** Short name the lab and the docs use ("etcd", "patroni", "haproxy"). */
    name: string;
    /** systemd unit the VM enables. */
    unit: string;
    /** User the service runs as (the unit's `User=`). */
    user: string;
    /** The unit's command line, which the lab runs directly. */
    command: string[];
    /** Environment files the unit reads, in order, each where it exists (`EnvironmentFile=-`). */
    envFiles?: string[];
    /** Units the package starts that this service replaces; the VM disables them. */
    replaces?: string[];
    /** How a change of its files reaches it once it runs. */
    apply: ApplyRule;
    /** The signal the unit's `ExecReload` sends (default HUP where the rule is `reload`); the lab's systemctl sends it itself. */
    reloadSignal?: string;
    /** The unit runs to completion and then counts as active (a mount, or `Type=oneshot` with `RemainAfterExit=yes`). */
    oneshot?: boolean;
    /**
     * The first start does not wait for the service to be up: it waits for something another
     * step or stack brings (an etcd member for its peers, Patroni for etcd, a Gluster mount for
     * the volume that the last brick site's stack creates). Others are up when their step ends.
     */
    startsWithoutWaiting?: boolean;
    /** What a failed first start most likely means, and what to do (it follows systemd's own message). */
    startFailure?: string;
    /** Runs (as root) before the first start, and stops the step when it fails: an etcd member joining a running cluster. */
    beforeFirstStart?: string;
    /** Runs (as root) after the first start: waits for what `beforeFirstStart` began (an etcd member that joined, healthy). */
    afterFirstStart?: string;
    /**
     * Its Debian packages' updates (config `packages.update`): when `generation` rises, the step
     * upgrades `packages` in place before it writes the files (`apt-get install --only-upgrade`,
     * dpkg's own restarts held: the service restarts when this step says, not when dpkg does), and
     * if a version changed applies `then`: what takes the new binaries into use (a restart and a
     * health wait, HAProxy's reload re-executing its master, Patroni's member restart).
     */
    update?: { generation: number; packages: string[]; then: ApplyRule };
    /**
     * The command (argv, run as root) that takes the service out of its cluster before its host
     * goes or loses the role: a Patroni member hands over and stops, an etcd member is removed.
     * The program runs it as the `delete` of `<host>-leave-<service>`, the lab when its plan drops
     * the host. Holds no secret: it reads the host's files.
     */
    leave?: string[];
}

export interface RenderedHost {
    files: RenderedFile[];
    services: ServiceSpec[];
    packages: string[];
}

/** A host's TLS identity from the deployment CA: the trusted CAs' certificates, and the host's own certificate and key. */
export interface TlsIdentity {
    /** Every CA the host trusts (ca.crt), one PEM after the other: during a CA rotation, two. */
    caCert: string;
    cert: string;
    key: string;
}

/** Joins the parts of several renderers for one host, in order. */
export function mergeRendered(parts: RenderedHost[]): RenderedHost {
    const files = parts.flatMap((p) => p.files.map((f) => ({ ...f, service: f.service ?? p.services[0]?.name })));
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
