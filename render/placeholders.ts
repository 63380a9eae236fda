/**
 * Clearly marked stand-ins for the values that exist only at deploy time (passwords from
 * @pulumi/random, certificates and keys from the deployment CA, the wildcard certificate
 * from stack config), so rendered files can be read, diffed and validated without any secret.
 */
import { HostPlan } from "../plan/plan";
import { HostInputs, needsTls } from "./host";
import { TlsCertificate } from "./nginx";
import { TlsIdentity } from "./rendered";
import { SealKeyPair, sealKeyPairFrom } from "./seal";
import { bundleSecrets, generateSecrets, SecretsBundle } from "./secrets";

export function placeholder(what: string): string {
    return `<secret: ${what}, generated at deploy time>`;
}

/** The secrets bundle with every value a marked placeholder, built like the real one. */
export function placeholderSecrets(): SecretsBundle {
    return bundleSecrets(generateSecrets((_, spec) => placeholder(spec.what)));
}

function pem(kind: string, what: string): string {
    return `-----BEGIN ${kind}-----\n${placeholder(what)}\n-----END ${kind}-----\n`;
}

export function placeholderTls(host: string): TlsIdentity {
    return {
        caCert: pem("CERTIFICATE", "deployment CA certificate"),
        cert: pem("CERTIFICATE", `certificate of ${host}, signed by the deployment CA`),
        key: pem("PRIVATE KEY", `private key of ${host}`),
    };
}

/** A host's SSH host key, as a marked placeholder. */
export function placeholderHostKey(host: string): { privateKey: string; publicKey: string } {
    return {
        privateKey: pem("OPENSSH PRIVATE KEY", `SSH host key of ${host}`),
        publicKey: `ssh-ed25519 <public SSH host key of ${host}, made at deploy time>`,
    };
}

/**
 * A site's seal key pair for the offline check, which cannot read the stack's encrypted
 * `sealPrivateKey`: a fixed, public pair (32 bytes of 0x5e), never a deployment's.
 */
export function placeholderSealKey(): SealKeyPair {
    return sealKeyPairFrom(Buffer.alloc(32, 0x5e));
}

export function placeholderCertificate(): TlsCertificate {
    return { cert: pem("CERTIFICATE", "wildcard certificate, from stack config"), key: pem("PRIVATE KEY", "wildcard key, from stack config") };
}

/** Everything a host's renderers need, as placeholders: what `npm run render` shows and the lab's service list reads. */
export function placeholderInputs(host: HostPlan): HostInputs {
    return {
        secrets: placeholderSecrets(),
        tls: needsTls(host) ? placeholderTls(host.name) : undefined,
        certificate: host.roles.includes("nginx") ? placeholderCertificate() : undefined,
    };
}
