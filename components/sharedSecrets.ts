/**
 * The secrets every site shares: the bundle of render/secrets.ts (the Patroni cluster's
 * passwords, what every Nextcloud node holds) and the deployment CA that signs every host's
 * TLS identity. The primary site's stack creates them with @pulumi/random and @pulumi/tls,
 * and issues the TLS identities of the other sites' hosts too: the CA's key never leaves its
 * stack. The other stacks read the bundle and their hosts' identities from its outputs. They
 * stay secret end to end.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { CertificatesConfig, PasswordRole } from "../plan/config";
import { CertificateNames } from "../render/host";
import { TlsIdentity } from "../render/rendered";
import { issueTlsIdentity } from "./host/tlsIdentity";
import { bundleSecrets, generateSecrets, generationOf, SecretName, SecretsBundle } from "../render/secrets";

/** What the primary stack exports for the others; names listed in the README. */
export const SHARED_OUTPUTS = {
    secrets: "sharedSecrets",
    caCert: "etcdCaCertPem",
    caTrust: "caTrustPem",
    caGenerations: "caGenerations",
    hostIdentities: "hostIdentities",
    replication: "primaryEndpoints",
} as const;

/** The deployment CA's generations as the plan names them (plan `certificates`): the one that signs, the ones trusted. */
export interface CaGenerations {
    signing: number;
    trusted: number[];
}

/**
 * Why a stack cannot take the primary stack's bundle: it lacks a part this release renders (the
 * primary's last `pulumi up` predates it; its next one makes it).
 */
export function bundleGap(primaryStack: string, exported: Partial<SecretsBundle>): string | undefined {
    if (!exported.haproxy)
        return `the primary stack ${primaryStack} exports no HAProxy stats password yet (its last \`pulumi up\` predates it); run \`pulumi up\` on ${primaryStack} first`;
    return undefined;
}

/**
 * Why a stack must not take the primary stack's CAs: they are another round of a CA rotation
 * than its own plan's (the primary has not run this round yet, or has run the next one).
 * A primary stack from before rotation exports no generations: its one CA is generation 0.
 */
export function caRoundMismatch(primaryStack: string, exported: unknown, own: CaGenerations): string | undefined {
    const theirs = (exported as CaGenerations | undefined) ?? { signing: 0, trusted: [0] };
    const show = (g: CaGenerations) => `caSigning ${g.signing}, caTrusted [${g.trusted.join(", ")}]`;
    if (theirs.signing === own.signing && theirs.trusted.join() === own.trusted.join()) return undefined;
    return (
        `certificates: this stack's plan has ${show(own)} but the primary stack ${primaryStack} last ran with ${show(theirs)}; ` +
        `run \`pulumi up\` on ${primaryStack} first (each round of a CA rotation starts on the primary stack)`
    );
}

/** A host's certificate and key as the primary stack issued them (`hostIdentities`, by host name); the trust comes with `caTrustPem`. */
export interface IssuedIdentity {
    cert: string;
    key: string;
}

export interface SharedSecretsArgs {
    /** Fully qualified name of the primary stack (stack config `primaryStack`); when absent, this stack creates the secrets. */
    primaryStack?: string;
    /** Each password's rotation generation (plan `passwords.rotation`): a new generation draws a new value. */
    rotation: Record<PasswordRole, number>;
    /** The deployment CA's generations (plan `certificates`): the one that signs, and the ones every host trusts. */
    ca: CaGenerations;
    /** The primary stack: the other sites' hosts it issues TLS identities for, and their lifetime. */
    issueFor?: { hosts: { name: string; names: CertificateNames }[]; lifetime: CertificatesConfig };
}

/** A host's identity from what the primary issued, with the trusted CAs; one line with the fix when the primary has not issued it (yet). */
export function takeIdentity(issued: Record<string, IssuedIdentity>, host: string, caCert: string): TlsIdentity {
    const mine = issued[host];
    if (!mine)
        throw new Error(
            `the primary stack exports no TLS identity for ${host} (output ${SHARED_OUTPUTS.hostIdentities}); run \`pulumi up\` on the primary stack first: it issues every host's certificate`,
        );
    return { caCert, cert: mine.cert, key: mine.key };
}

export class SharedSecrets extends pulumi.ComponentResource {
    /** The passwords; secret. */
    readonly values: pulumi.Output<SecretsBundle>;
    /** The primary stack: the signing CA's key (secret), which signs its own hosts' identities. Never exported. */
    readonly caKeyPem?: pulumi.Output<string>;
    /** The primary stack: the identities it issued for the other sites' hosts (secret), by host name: exported as `hostIdentities`. */
    readonly issued?: pulumi.Output<Record<string, IssuedIdentity>>;
    /** The other stacks: the identities the primary issued, by host name (secret). */
    private readonly received?: pulumi.Output<Record<string, IssuedIdentity>>;
    /** The signing deployment CA's certificate (public). */
    readonly caCertPem: pulumi.Output<string>;
    /** Every trusted deployment CA's certificate, one PEM after the other: each host's ca.crt (public). */
    readonly caTrustPem: pulumi.Output<string>;
    /** The primary stack, on the other sites: where they read its outputs. */
    readonly primary?: pulumi.StackReference;

    constructor(name: string, args: SharedSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nextcloud-ha:index:SharedSecrets", name, args, opts);
        const parent = { parent: this };
        if (args.primaryStack) {
            const primary = (this.primary = new pulumi.StackReference(`${name}-primary`, { name: args.primaryStack }, parent));
            // A primary from before the CA's key stayed home exports it in the bundle: only the bundle's parts are taken.
            this.values = pulumi.secret(
                (primary.requireOutput(SHARED_OUTPUTS.secrets) as pulumi.Output<SecretsBundle>).apply((v) => {
                    const gap = bundleGap(args.primaryStack!, v);
                    if (gap) throw new pulumi.ResourceError(gap, this);
                    return { database: v.database, nextcloud: v.nextcloud, haproxy: v.haproxy };
                }),
            );
            this.received = pulumi.secret(primary.getOutput(SHARED_OUTPUTS.hostIdentities).apply((v) => (v ?? {}) as Record<string, IssuedIdentity>));
            // Only CAs of the plan's round: a host signed by or trusting another round's would fail in the next.
            const sameRound = primary.getOutput(SHARED_OUTPUTS.caGenerations).apply((exported) => {
                const mismatch = caRoundMismatch(args.primaryStack!, exported, args.ca);
                if (mismatch) throw new pulumi.ResourceError(mismatch, this);
                return true;
            });
            this.caCertPem = pulumi.all([primary.requireOutput(SHARED_OUTPUTS.caCert), sameRound]).apply(([pem]) => pem as string);
            // A primary stack from before CA rotation exports no bundle: its one CA is the trust.
            this.caTrustPem = pulumi
                .all([primary.getOutput(SHARED_OUTPUTS.caTrust), this.caCertPem])
                .apply(([bundle, signing]) => (typeof bundle === "string" && bundle ? bundle : signing));
        } else {
            // Resource names predate the bundle; they stay, or every password would be replaced.
            const NAMES: Record<string, string> = {
                superuserPassword: "superuser",
                replicationPassword: "replication",
                rewindPassword: "rewind",
                restApiPassword: "restapi",
                appPassword: "nextcloud-db",
                instanceId: "nextcloud-instanceid",
                passwordSalt: "nextcloud-passwordsalt",
                secret: "nextcloud-secret",
                redisPassword: "redis",
                adminPassword: "nextcloud-admin",
                statsPassword: "haproxy-stats",
            };
            const values = generateSecrets((key, spec) => {
                // Generation 0 sets no keepers, so the passwords made before rotation existed stay.
                const generation = generationOf(args.rotation, key);
                const keepers = generation > 0 ? { rotation: String(generation) } : undefined;
                return spec.alphabet === "lower"
                    ? new random.RandomString(`${name}-${NAMES[key]}`, { length: spec.length, special: false, upper: false, keepers }, parent).result
                    : new random.RandomPassword(`${name}-${NAMES[key]}`, { length: spec.length, special: false, keepers }, parent).result;
            });
            // A CA per trusted generation; generation 0 keeps the names it had before rotation existed.
            const cas = Object.fromEntries(
                args.ca.trusted.map((g) => {
                    const caName = g === 0 ? `${name}-etcd-ca` : `${name}-etcd-ca-${g}`;
                    const key = new tls.PrivateKey(caName, { algorithm: "ECDSA", ecdsaCurve: "P256" }, parent);
                    const cert = new tls.SelfSignedCert(
                        caName,
                        {
                            privateKeyPem: key.privateKeyPem,
                            isCaCertificate: true,
                            validityPeriodHours: 10 * 365 * 24,
                            allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
                            subject: { commonName: g === 0 ? "nextcloud-ha etcd CA" : `nextcloud-ha etcd CA ${g}` },
                        },
                        parent,
                    );
                    return [g, { key, cert }];
                }),
            );
            const signing = cas[args.ca.signing];
            if (!signing) throw new pulumi.ResourceError(`CA generation ${args.ca.signing} signs but is not trusted`, this);
            this.caCertPem = signing.cert.certPem;
            this.caTrustPem = pulumi.all(args.ca.trusted.map((g) => cas[g].cert.certPem)).apply((pems) => pems.join(""));
            this.values = pulumi.secret((pulumi.all(values) as pulumi.Output<Record<SecretName, string>>).apply((v) => bundleSecrets(v)));
            this.caKeyPem = pulumi.secret(signing.key.privateKeyPem);
            const ca = { certPem: this.caCertPem, keyPem: this.caKeyPem, trustPem: this.caTrustPem };
            const issued = (args.issueFor?.hosts ?? []).map((h) =>
                issueTlsIdentity(`${h.name}-etcd-tls`, h.names, ca, args.issueFor!.lifetime, this).apply(
                    (t) => [h.name, { cert: t.cert, key: t.key }] as const,
                ),
            );
            this.issued = pulumi.secret(pulumi.all(issued).apply((pairs) => Object.fromEntries(pairs) as Record<string, IssuedIdentity>));
        }
        this.registerOutputs({ caCertPem: this.caCertPem, caTrustPem: this.caTrustPem, values: this.values });
    }

    /** On the other stacks: a host's identity as the primary issued it, with the trusted CAs. */
    identityOf(host: string): pulumi.Output<TlsIdentity> {
        if (!this.received) throw new pulumi.ResourceError(`identityOf is for the stacks that read the primary's; the primary issues ${host}'s itself`, this);
        return pulumi.secret(pulumi.all([this.received, this.caTrustPem]).apply(([all, caCert]) => takeIdentity(all, host, caCert)));
    }
}
