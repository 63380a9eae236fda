/**
 * The secrets every site shares: the bundle of render/secrets.ts (the Patroni cluster's
 * passwords, what every Nextcloud node holds) and the deployment CA that signs every host's
 * TLS identity. The primary site's stack creates them with @pulumi/random and @pulumi/tls;
 * the other stacks read them from its outputs. They stay secret end to end.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { PasswordRole } from "../plan/config";
import { bundleSecrets, generateSecrets, generationOf, SecretName, SecretsBundle } from "../render/secrets";

/** What the primary stack exports for the others; names listed in the README. */
export const SHARED_OUTPUTS = { secrets: "sharedSecrets", caCert: "etcdCaCertPem", caTrust: "caTrustPem", replication: "primaryEndpoints" } as const;

/** The secrets bundle and the signing deployment CA's private key: the primary stack's `sharedSecrets` output. */
export interface SharedSecretValues extends SecretsBundle {
    caKeyPem: string;
}

export interface SharedSecretsArgs {
    /** Fully qualified name of the primary stack (stack config `primaryStack`); when absent, this stack creates the secrets. */
    primaryStack?: string;
    /** Each password's rotation generation (plan `passwords.rotation`): a new generation draws a new value. */
    rotation: Record<PasswordRole, number>;
    /** The deployment CA's generations (plan `certificates`): the one that signs, and the ones every host trusts. */
    ca: { signing: number; trusted: number[] };
}

export class SharedSecrets extends pulumi.ComponentResource {
    /** Passwords and CA key; secret. */
    readonly values: pulumi.Output<SharedSecretValues>;
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
            this.values = pulumi.secret(primary.requireOutput(SHARED_OUTPUTS.secrets) as pulumi.Output<SharedSecretValues>);
            this.caCertPem = primary.requireOutput(SHARED_OUTPUTS.caCert) as pulumi.Output<string>;
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
            this.values = pulumi.secret(
                pulumi
                    .all([pulumi.all(values) as pulumi.Output<Record<SecretName, string>>, signing.key.privateKeyPem])
                    .apply(([v, caKeyPem]) => ({ ...bundleSecrets(v), caKeyPem })),
            );
        }
        this.registerOutputs({ caCertPem: this.caCertPem, caTrustPem: this.caTrustPem, values: this.values });
    }
}
