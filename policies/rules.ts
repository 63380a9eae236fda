/**
 * The invariants that keep the data safe, as pure functions over a resource's type, name
 * and inputs. The policy pack (index.ts) runs them at `pulumi preview`/`up`; `npm run check`
 * runs the same functions offline over what the program registers under the mock runtime.
 * No Pulumi import here.
 */

export interface ReviewedResource {
    type: string;
    name: string;
    /** The resource's inputs as the engine hands them to a policy: untyped JSON, read defensively by each rule. */
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    props: Record<string, any>;
    /** The resource's options that rules read (the engine hands them to the pack; the offline check records them). */
    opts?: { protect?: boolean };
}

export interface PolicyRule {
    name: string;
    description: string;
    /** mandatory (default): a violation stops `pulumi up` and fails `npm run check`; advisory: a warning. */
    enforcement?: "mandatory" | "advisory";
    /** Resource types the rule reads; every resource when absent. */
    types?: string[];
    /** Violation messages, each saying what to change; empty when the resource complies. */
    check(resource: ReviewedResource): string[];
}

export const TYPES = {
    host: "nextcloud-ha:index:ProxmoxHost",
    etcd: "nextcloud-ha:index:EtcdQuorum",
    patroni: "nextcloud-ha:index:PatroniCluster",
    gluster: "nextcloud-ha:index:GlusterVolume",
    failureDomains: "nextcloud-ha:index:FailureDomains",
    vm: "proxmoxve:index/vmLegacy:VmLegacy",
} as const;

/** The roles whose host holds data a rebuilt VM would not have (tags of the VM). */
const STATEFUL_ROLES = ["etcd", "patroni", "gluster", "gluster-arbiter"];

/** The marker the offline check puts where the engine holds a secret. */
export const SECRET_PLACEHOLDER = "[secret]";

/** Input names that carry a credential. */
const SENSITIVE = /(password|passphrase|secret|private_?key|api_?token|apikey|token)$/i;
/** Provider inputs the provider's schema marks secret, so the engine encrypts them anyway. */
const SCHEMA_SECRET = new Set([
    "tls:index/locallySignedCert:LocallySignedCert.caPrivateKeyPem",
    "tls:index/selfSignedCert:SelfSignedCert.privateKeyPem",
    "tls:index/certRequest:CertRequest.privateKeyPem",
]);

type Member = { name: string; site: string; proxmoxNode: string };

/** PostgreSQL, Patroni REST, etcd client and peer: never open beyond the plan's networks. */
/** What the platform opens to anyone: NGINX's HTTP and HTTPS. Every other port stays within the plan's networks. */
const PUBLIC_PORTS = [80, 443];

function ipv4(a: string): number | undefined {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
    return m ? m.slice(1).reduce((n, x) => n * 256 + Number(x), 0) : undefined;
}

/** True when the CIDR (or address) lies inside one of the networks. */
function within(cidr: string, networks: string[]): boolean {
    const [a, p = "32"] = cidr.split("/");
    const start = ipv4(a);
    if (start === undefined) return false;
    return networks.some((n) => {
        const [na, np] = n.split("/");
        const size = 2 ** (32 - Number(np));
        const base = ipv4(na)!;
        return Number(p) >= Number(np) && start >= base && start + 2 ** (32 - Number(p)) <= base + size;
    });
}

/** The ports a Proxmox dport expression covers ("5432", "5000:5001", "80,443"). */
function ports(dport: string): [number, number][] {
    return dport.split(",").map((part) => {
        const [lo, hi = lo] = part.split(":").map(Number);
        return [lo, hi];
    });
}

function spreadViolation(kind: string, members: Member[] | undefined): string[] {
    if (!members || members.length < 2) return [];
    const nodes = new Set(members.map((m) => `${m.site}/${m.proxmoxNode}`));
    return nodes.size === 1
        ? [
              `every member of this ${kind} (${members.map((m) => m.name).join(", ")}) runs on Proxmox node ${[...nodes][0]}: losing that one node loses the whole ${kind}; set proxmoxNode on the hosts so they spread over at least two nodes`,
          ]
        : [];
}

export const RULES: PolicyRule[] = [
    {
        name: "etcd-quorum-odd",
        description: "An etcd cluster has an odd number of members, at least 3.",
        types: [TYPES.etcd],
        check: ({ props }) => {
            const n = props.cluster?.members?.length ?? 0;
            return n >= 3 && n % 2 === 1
                ? []
                : [`etcd cluster ${props.cluster?.name} has ${n} members; use 3 or 5 (an odd number of at least 3): add or remove a host with the etcd role`];
        },
    },
    {
        name: "etcd-leader-kept",
        description:
            "An etcd cluster spread over sites keeps its raft leadership outside the data sites (the leader keeper, etcd.keepLeader): a warning when it does not.",
        enforcement: "advisory",
        types: [TYPES.etcd],
        check: ({ props }) => {
            const sites = new Set(((props.cluster?.members ?? []) as Member[]).map((m) => m.site));
            return sites.size > 1 && !(props.cluster?.leaders ?? []).length
                ? [
                      `etcd cluster ${props.cluster?.name} has no leader keeper (etcd.keepLeader is false): when etcd's leader is lost with the primary's site, the failover waits for another etcd election and the leases it renews (docs/BENCHMARKS-sites.md); set etcd.keepLeader: true`,
                  ]
                : [];
        },
    },
    {
        name: "patroni-timings",
        description: "Patroni's loop_wait + 2 * retry_timeout <= ttl.",
        types: [TYPES.patroni],
        check: ({ props }) => {
            const t = props.timings ?? {};
            return t.loopWait + 2 * t.retryTimeout <= t.ttl
                ? []
                : [
                      `loop_wait ${t.loopWait} + 2 * retry_timeout ${t.retryTimeout} exceeds ttl ${t.ttl}: a leader could lose its key while still retrying; raise patroni.ttl or lower patroni.loopWait/retryTimeout`,
                  ];
        },
    },
    {
        name: "three-site-synchronous",
        description: "A Patroni cluster stretched over sites replicates synchronously.",
        types: [TYPES.patroni],
        check: ({ props }) =>
            props.topology === "three-site" && props.cluster?.synchronousMode !== true
                ? [
                      `cluster ${props.cluster?.scope} spans sites without synchronous_mode: an automatic failover between sites could lose acknowledged writes; enable synchronous mode`,
                  ]
                : [],
    },
    {
        name: "gluster-arbiter",
        description: "A replica 2 Gluster volume has an arbiter.",
        types: [TYPES.gluster],
        check: ({ props }) => {
            const bricks: { arbiter?: boolean }[] = props.bricks ?? [];
            const data = bricks.filter((b) => !b.arbiter).length;
            const arbiters = bricks.filter((b) => b.arbiter).length;
            return data === 2 && arbiters !== 1
                ? [
                      `volume ${props.volume} is replica 2 with ${arbiters} arbiters: both halves of a cut link would accept writes (split-brain); add exactly one gluster-arbiter host`,
                  ]
                : [];
        },
    },
    {
        name: "quorum-spread",
        description: "The members of one quorum do not all run on one Proxmox node.",
        types: [TYPES.etcd, TYPES.patroni],
        check: ({ type, props }) => spreadViolation(type === TYPES.etcd ? "etcd cluster" : "Patroni cluster", props.cluster?.members),
    },
    {
        name: "ports-within-plan",
        description:
            "Every port the platform opens but NGINX's 80 and 443 (SSH, PostgreSQL, HAProxy, Patroni REST, etcd, Redis, Gluster, Nextcloud) is open only to the plan's and the management networks.",
        types: [TYPES.host],
        check: ({ name, props }) => {
            const networks: string[] = props.networks ?? [];
            const isPublic = ([lo, hi]: [number, number]) => lo === hi && PUBLIC_PORTS.includes(lo);
            return (props.firewall ?? [])
                .filter((r: { dport: string; proto: string }) => r.proto !== "vrrp" && (!r.dport || ports(r.dport).some((range) => !isPublic(range))))
                .filter((r: { source: string }) => !r.source || r.source.split(",").some((c) => !within(c.trim(), networks)))
                .map(
                    (r: { dport: string; source: string }) =>
                        `${name} opens port ${r.dport} to ${r.source || "any source"}, beyond the plan's networks (${networks.join(", ")}); restrict the rule's source to them`,
                );
        },
    },
    {
        name: "failure-domains",
        description:
            "Every failure the topology promises to survive by itself leaves etcd a quorum, Patroni a promotable member and the Gluster volume writable.",
        types: [TYPES.failureDomains],
        check: ({ props }) => props.dataGaps ?? [],
    },
    {
        name: "failure-domains-service",
        description:
            "Every failure the topology promises to survive by itself leaves an HAProxy, an NGINX, Redis, cron and the app a survivor (a warning until the app tier is highly available).",
        enforcement: "advisory",
        types: [TYPES.failureDomains],
        check: ({ props }) => props.serviceGaps ?? [],
    },
    {
        name: "stateful-vm-protected",
        description: "A VM that holds data (an etcd or Patroni member, a Gluster brick) is protected, so no change can delete or replace it with its disks.",
        types: [TYPES.vm],
        check: ({ name, props, opts }) => {
            const roles = ((props.tags ?? []) as string[]).filter((t) => STATEFUL_ROLES.includes(t));
            return roles.length > 0 && opts?.protect !== true
                ? [
                      `VM ${name} holds data (${roles.join(", ")}) but is not protected: a change that replaced it would destroy its disks; declare it with protect: true`,
                  ]
                : [];
        },
    },
    {
        name: "no-plaintext-secrets",
        description: "No password or key in plain text in any resource input.",
        check: ({ type, props }) => {
            const found: string[] = [];
            const walk = (v: unknown, path: string) => {
                if (typeof v === "string") {
                    const key = path.split(".").pop() ?? "";
                    const pem = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(v);
                    if (v !== SECRET_PLACEHOLDER && v !== "" && (SENSITIVE.test(key) || pem) && !SCHEMA_SECRET.has(`${type}.${path}`)) found.push(path);
                } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
                else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
            };
            walk(props, "");
            return found.map(
                (p) => `input ${p} holds a credential in plain text; pass it as a secret (pulumi.secret, config set --secret, or a @pulumi/random output)`,
            );
        },
    },
];

export interface Violation {
    rule: string;
    enforcement: "mandatory" | "advisory";
    resource: string;
    message: string;
}

/** Runs every rule over every resource; the violations, each naming the rule and the resource. */
export function review(resources: ReviewedResource[]): Violation[] {
    return resources.flatMap((r) =>
        RULES.filter((rule) => !rule.types || rule.types.includes(r.type)).flatMap((rule) =>
            rule.check(r).map((message) => ({ rule: rule.name, enforcement: rule.enforcement ?? "mandatory", resource: `${r.type}::${r.name}`, message })),
        ),
    );
}
