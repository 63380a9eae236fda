/**
 * Clearly marked stand-ins for the values that exist only at deploy time (passwords from
 * @pulumi/random, certificates and keys from the deployment CA), so rendered files can be
 * read, diffed and validated without any secret.
 */
import { DatabaseSecrets, TlsIdentity } from "./rendered";
import { NextcloudSecrets } from "./nextcloud";

export function placeholder(what: string): string {
    return `<secret: ${what}, generated at deploy time>`;
}

export const PLACEHOLDER_DATABASE: DatabaseSecrets = {
    superuserPassword: placeholder("postgres superuser password"),
    replicationPassword: placeholder("replication password"),
    rewindPassword: placeholder("pg_rewind user password"),
    restApiPassword: placeholder("Patroni REST API password"),
    appPassword: placeholder("Nextcloud database password"),
};

export function placeholderTls(host: string): TlsIdentity {
    const pem = (kind: string, what: string) => `-----BEGIN ${kind}-----\n${placeholder(what)}\n-----END ${kind}-----\n`;
    return {
        caCert: pem("CERTIFICATE", "deployment CA certificate"),
        cert: pem("CERTIFICATE", `certificate of ${host}, signed by the deployment CA`),
        key: pem("PRIVATE KEY", `private key of ${host}`),
    };
}

export const PLACEHOLDER_NEXTCLOUD: NextcloudSecrets = {
    instanceId: placeholder("Nextcloud instanceid"),
    passwordSalt: placeholder("Nextcloud passwordsalt"),
    secret: placeholder("Nextcloud secret"),
    databasePassword: PLACEHOLDER_DATABASE.appPassword,
    redisPassword: placeholder("Redis password"),
    adminPassword: placeholder("Nextcloud admin password"),
};

export function placeholderCertificate(): { cert: string; key: string } {
    return { cert: `-----BEGIN CERTIFICATE-----\n${placeholder("wildcard certificate, from stack config")}\n-----END CERTIFICATE-----\n`, key: `-----BEGIN PRIVATE KEY-----\n${placeholder("wildcard key, from stack config")}\n-----END PRIVATE KEY-----\n` };
}
