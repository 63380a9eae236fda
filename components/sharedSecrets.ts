/**
 * The secrets every site shares: the Patroni cluster's passwords and the deployment CA that
 * signs every etcd certificate. The primary site's stack creates them with @pulumi/random
 * and @pulumi/tls; the other stacks read them from its outputs. They stay secret end to end.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { DatabaseSecrets } from "../render/rendered";
import { NextcloudSecrets } from "../render/nextcloud";

/** What the primary stack exports for the others; names listed in the README. */
export const SHARED_OUTPUTS = { secrets: "sharedSecrets", caCert: "etcdCaCertPem", replication: "primaryEndpoints" } as const;

export interface SharedSecretValues {
    database: DatabaseSecrets;
    /** Identical on every Nextcloud node of every site (databasePassword = database.appPassword). */
    nextcloud: NextcloudSecrets;
    caKeyPem: string;
}

export interface SharedSecretsArgs {
    /** Fully qualified name of the primary stack; when absent, this stack creates the secrets. */
    primaryStack?: string;
}

export class SharedSecrets extends pulumi.ComponentResource {
    /** Passwords and CA key; secret. */
    readonly values: pulumi.Output<SharedSecretValues>;
    /** The deployment CA certificate (public). */
    readonly caCertPem: pulumi.Output<string>;
    /** The primary stack, on the other sites: where they read its outputs. */
    readonly primary?: pulumi.StackReference;

    constructor(name: string, args: SharedSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nextcloud-ha:index:SharedSecrets", name, args, opts);
        const parent = { parent: this };
        if (args.primaryStack) {
            const primary = (this.primary = new pulumi.StackReference(`${name}-primary`, { name: args.primaryStack }, parent));
            this.values = pulumi.secret(primary.requireOutput(SHARED_OUTPUTS.secrets) as pulumi.Output<SharedSecretValues>);
            this.caCertPem = primary.requireOutput(SHARED_OUTPUTS.caCert) as pulumi.Output<string>;
        } else {
            const password = (what: string, length = 32) =>
                new random.RandomPassword(`${name}-${what}`, { length, special: false }, parent).result;
            // Nextcloud's own format: "oc" and ten lower-case letters or digits.
            const instanceId = new random.RandomString(`${name}-nextcloud-instanceid`, { length: 10, special: false, upper: false }, parent).result;
            const caKey = new tls.PrivateKey(`${name}-etcd-ca`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, parent);
            const caCert = new tls.SelfSignedCert(
                `${name}-etcd-ca`,
                {
                    privateKeyPem: caKey.privateKeyPem,
                    isCaCertificate: true,
                    validityPeriodHours: 10 * 365 * 24,
                    allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
                    subject: { commonName: "nextcloud-ha etcd CA" },
                },
                parent,
            );
            this.caCertPem = caCert.certPem;
            this.values = pulumi.secret(
                pulumi
                    .all([
                        pulumi.all([password("superuser"), password("replication"), password("rewind"), password("restapi"), password("nextcloud-db")]),
                        pulumi.all([instanceId, password("nextcloud-passwordsalt", 30), password("nextcloud-secret", 48), password("redis"), password("nextcloud-admin", 24)]),
                        caKey.privateKeyPem,
                    ])
                    .apply(([[superuserPassword, replicationPassword, rewindPassword, restApiPassword, appPassword], [id, passwordSalt, secret, redisPassword, adminPassword], caKeyPem]) => ({
                        database: { superuserPassword, replicationPassword, rewindPassword, restApiPassword, appPassword },
                        nextcloud: { instanceId: `oc${id}`, passwordSalt, secret, databasePassword: appPassword, redisPassword, adminPassword },
                        caKeyPem,
                    })),
            );
        }
        this.registerOutputs({ caCertPem: this.caCertPem, values: this.values });
    }
}
