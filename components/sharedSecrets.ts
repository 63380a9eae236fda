/**
 * The secrets every site shares: the bundle of render/secrets.ts (the Patroni cluster's
 * passwords, what every Nextcloud node holds) and the deployment CA that signs every host's
 * TLS identity. The primary site's stack creates them with @pulumi/random and @pulumi/tls,
 * and issues the TLS identities of the other sites' hosts too: the CA's key never leaves its
 * stack. The other stacks read the bundle and their hosts' identities from its outputs. They
 * stay secret end to end.
 *
 * A site with a seal key in the plan (`sites.<site>.sealKey`) reads its part sealed instead:
 * the primary seals, to that key, the parts of the passwords the site's hosts take and its own
 * hosts' identities (render/seal.ts), and exports the sealed texts as a plain output; the site's
 * stack opens its own with its `sealPrivateKey`. Once every other site has a key, the primary
 * exports no secret at all, and no stack's state holds another site's keys or, on the witness,
 * any password but etcd's root one.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { CertificatesConfig, PasswordRole } from "../plan/config";
import { DeploymentPlan, hostsOf, siteByName } from "../plan/plan";
import { CertificateNames, secretPartsOf } from "../render/host";
import { openSealed, seal, sealedTo, sealKeyFingerprint, sealPublicKeyOf } from "../render/seal";
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
    sealed: "sealedForSites",
    replication: "primaryEndpoints",
} as const;

/** A site the primary seals for: its key (plan), its hosts, the parts of the shared secrets they take. */
export interface SealTarget {
    site: string;
    sealKey: string;
    hosts: string[];
    parts: (keyof SecretsBundle)[];
}

/** What one site opens: the parts of the passwords its hosts take, and its hosts' identities. */
export interface SitePart {
    site: string;
    secrets?: Partial<SecretsBundle>;
    identities: Record<string, IssuedIdentity>;
}

/** What the primary seals for a site with a seal key in the plan: its key, its hosts, the parts their roles take (render/host.ts `secretPartsOf`). */
export function sealTargetOf(plan: DeploymentPlan, site: string): SealTarget | undefined {
    const s = siteByName(plan, site);
    if (site === plan.primarySite || !s.sealKey) return undefined;
    const hosts = hostsOf(plan, { site });
    return { site, sealKey: s.sealKey, hosts: hosts.map((h) => h.name), parts: [...new Set(hosts.flatMap((h) => secretPartsOf(plan, h)))] };
}

/** The sites the primary seals for: every other site with a seal key in the plan. */
export function sealTargets(plan: DeploymentPlan): SealTarget[] {
    return plan.sites.flatMap((s) => sealTargetOf(plan, s.name) ?? []);
}

/** Whether the primary exports the passwords and the issued identities in the clear: while a site reads them so (one without a seal key). */
export function exportsInTheClear(plan: DeploymentPlan): boolean {
    return plan.sites.some((s) => s.name !== plan.primarySite && s.sealKey === undefined);
}

/** A site's part sealed to its key (`sealedForSites.<site>`): the bundle's parts it takes, its hosts' identities; deterministic in the seed and the content. */
export function sealPart(target: SealTarget, bundle: SecretsBundle, issued: Record<string, IssuedIdentity>, seed: string): string {
    const secrets = Object.fromEntries(target.parts.map((p) => [p, bundle[p]])) as Partial<SecretsBundle>;
    const part: SitePart = {
        site: target.site,
        ...(target.parts.length > 0 ? { secrets } : {}),
        identities: Object.fromEntries(target.hosts.filter((h) => issued[h]).map((h) => [h, issued[h]])),
    };
    return seal(JSON.stringify(part), target.site, target.sealKey, seed);
}

/**
 * A site's part from the primary's `sealedForSites`, opened with the site's private key; one
 * line naming what to do when the primary has not sealed it (yet, or to the plan's key) or the
 * private key is not the plan's key's.
 */
export function openPart(
    primaryStack: string,
    target: Pick<SealTarget, "site" | "sealKey"> & Partial<Pick<SealTarget, "parts">>,
    exported: unknown,
    privateKeyPem: string,
): SitePart {
    const { site, sealKey } = target;
    let own: string;
    try {
        own = sealPublicKeyOf(privateKeyPem);
    } catch (e) {
        throw new Error(`sealPrivateKey ${(e as Error).message}`);
    }
    const planned = sealKeyFingerprint(sealKey);
    if (own !== sealKey)
        throw new Error(
            `sealPrivateKey is the private half of key ${sealKeyFingerprint(own)}, but the plan's sites.${site}.sealKey is key ${planned}; set this stack's sealPrivateKey to the plan key's private half, or sealKey to this key's public half`,
        );
    const text = (exported as Record<string, unknown> | undefined)?.[site];
    if (typeof text !== "string")
        throw new Error(
            `the primary stack ${primaryStack} exports nothing sealed for ${site} (output ${SHARED_OUTPUTS.sealed}); run \`pulumi up\` on ${primaryStack} first: it seals ${site}'s part to sites.${site}.sealKey`,
        );
    const to = sealedTo(text);
    if (to !== planned)
        throw new Error(
            `the primary stack ${primaryStack} sealed ${site}'s part to key ${to ?? "(unknown)"}, not to the plan's sites.${site}.sealKey (key ${planned}); run \`pulumi up\` on ${primaryStack} first: it seals again to the plan's key`,
        );
    let opened: string;
    try {
        opened = openSealed(text, site, privateKeyPem);
    } catch (e) {
        throw new Error(`the primary stack ${primaryStack}'s ${SHARED_OUTPUTS.sealed}.${site} ${(e as Error).message}`);
    }
    let part: SitePart;
    try {
        part = JSON.parse(opened) as SitePart;
    } catch {
        // Not the parser's message: it would quote what was sealed.
        throw new Error(`the primary stack ${primaryStack}'s ${SHARED_OUTPUTS.sealed}.${site} opens to something that is not a site's part`);
    }
    if (part.site !== site) throw new Error(`the primary stack ${primaryStack}'s ${SHARED_OUTPUTS.sealed}.${site} holds ${part.site}'s part`);
    const missing = (target.parts ?? []).filter((p) => !part.secrets?.[p]);
    if (missing.length > 0)
        throw new Error(
            `the primary stack ${primaryStack} sealed no ${missing.join(", ")} secrets for ${site}, whose hosts take them (its last \`pulumi up\` predates them); run \`pulumi up\` on ${primaryStack} first`,
        );
    return part;
}

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
    if (!exported.etcd || !exported.database?.etcdPassword)
        return `the primary stack ${primaryStack} exports no etcd passwords yet (its last \`pulumi up\` predates etcd.auth); run \`pulumi up\` on ${primaryStack} first`;
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
    /** The primary stack: the sites whose parts it seals (`sealTargets`), exported as `sealedForSites`. */
    sealFor?: SealTarget[];
    /** The other stacks, where the plan gives their site a seal key: what the primary seals for it (`sealTargetOf`), and the key's private half (stack secret `sealPrivateKey`). */
    sealedPart?: { target: SealTarget; privateKeyPem: pulumi.Output<string> };
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
    /** The passwords; secret. A site that reads its part sealed: the parts its hosts take; none on the witness. */
    readonly values?: pulumi.Output<Partial<SecretsBundle>>;
    /** The primary stack: each sealed site's part, sealed to its key (public: ciphertext), one output a site: exported as `sealedForSites`. */
    readonly sealed?: Record<string, pulumi.Output<string>>;
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
            const sealedPart = args.sealedPart;
            if (sealedPart) {
                const { site, parts } = sealedPart.target;
                // The site's own part, opened here: the other sites' parts stay sealed to their keys.
                const part = pulumi.secret(
                    pulumi
                        .all([
                            primary.getOutput(SHARED_OUTPUTS.sealed),
                            primary.getOutput(SHARED_OUTPUTS.secrets),
                            primary.getOutput(SHARED_OUTPUTS.hostIdentities),
                            sealedPart.privateKeyPem,
                        ])
                        .apply(([exported, clearBundle, clearIdentities, key]): SitePart => {
                            const text = (exported as Record<string, unknown> | undefined)?.[site];
                            // A preview before the primary's first run with the site's key (a pull request turning sealing on):
                            // from the bundle it still exports in the clear, said as a warning; `pulumi up` refuses.
                            const gap = clearBundle ? bundleGap(args.primaryStack!, clearBundle as Partial<SecretsBundle>) : undefined;
                            if (text === undefined && clearBundle && !gap && pulumi.runtime.isDryRun()) {
                                void pulumi.log.warn(
                                    `the primary stack ${args.primaryStack} exports nothing sealed for ${site} yet: previewed from its outputs in the clear; run \`pulumi up\` on it before this stack's`,
                                    this,
                                );
                                const bundle = clearBundle as SecretsBundle;
                                return {
                                    site,
                                    secrets: Object.fromEntries(parts.map((p) => [p, bundle[p]])),
                                    identities: (clearIdentities ?? {}) as Record<string, IssuedIdentity>,
                                };
                            }
                            try {
                                return openPart(args.primaryStack!, sealedPart.target, exported, key);
                            } catch (e) {
                                throw new pulumi.ResourceError((e as Error).message, this);
                            }
                        }),
                );
                this.values = parts.length > 0 ? part.apply((p) => p.secrets ?? {}) : undefined;
                this.received = part.apply((p) => p.identities);
            } else {
                // A primary from before the CA's key stayed home exports it in the bundle: only the bundle's parts are taken.
                this.values = pulumi.secret(
                    (primary.requireOutput(SHARED_OUTPUTS.secrets) as pulumi.Output<SecretsBundle>).apply((v) => {
                        const gap = bundleGap(args.primaryStack!, v);
                        if (gap) throw new pulumi.ResourceError(gap, this);
                        return { database: v.database, nextcloud: v.nextcloud, haproxy: v.haproxy, etcd: v.etcd };
                    }),
                );
                this.received = pulumi.secret(primary.getOutput(SHARED_OUTPUTS.hostIdentities).apply((v) => (v ?? {}) as Record<string, IssuedIdentity>));
            }
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
                etcdRootPassword: "etcd-root",
                etcdPatroniPassword: "etcd-patroni",
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
            const issuedBy = Object.fromEntries(
                (args.issueFor?.hosts ?? []).map((h) => [
                    h.name,
                    issueTlsIdentity(`${h.name}-etcd-tls`, h.names, ca, args.issueFor!.lifetime, this).apply((t): IssuedIdentity => ({
                        cert: t.cert,
                        key: t.key,
                    })),
                ]),
            );
            this.issued = pulumi.secret(pulumi.all(issuedBy));
            if (args.sealFor && args.sealFor.length > 0) {
                // The seed of the sealing's ephemeral keys: a sealed text changes only when its content or its key does.
                const seed = new random.RandomPassword(`${name}-seal-seed`, { length: 64, special: false }, parent).result;
                const bundle = this.values;
                // One output a site, from what that site's part holds only: a change elsewhere leaves its text (and its preview) alone.
                // Ciphertext, exported in the clear: only each site's private key opens its part.
                this.sealed = Object.fromEntries(
                    args.sealFor.map((t) => {
                        const identities = pulumi.all(Object.fromEntries(t.hosts.filter((h) => issuedBy[h]).map((h) => [h, issuedBy[h]])));
                        const content = pulumi.all([t.parts.length > 0 ? bundle : undefined, identities, seed]);
                        return [t.site, pulumi.unsecret(content.apply(([b, i, sd]) => sealPart(t, b as SecretsBundle, i, sd)))];
                    }),
                );
            }
        }
        this.registerOutputs({ caCertPem: this.caCertPem, caTrustPem: this.caTrustPem, values: this.values });
    }

    /** On the other stacks: a host's identity as the primary issued it, with the trusted CAs. */
    identityOf(host: string): pulumi.Output<TlsIdentity> {
        if (!this.received) throw new pulumi.ResourceError(`identityOf is for the stacks that read the primary's; the primary issues ${host}'s itself`, this);
        return pulumi.secret(pulumi.all([this.received, this.caTrustPem]).apply(([all, caCert]) => takeIdentity(all, host, caCert)));
    }
}
