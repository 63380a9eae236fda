/**
 * A host's etcd TLS identity: a key and a certificate for its plan address, signed by the
 * deployment CA, valid both as server and as client (etcd members use it for peers and
 * clients, Patroni as its etcd client certificate).
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { CertificatesConfig } from "../../plan/config";
import { CertificateNames } from "../../render/host";
import { TlsIdentity } from "../../render/rendered";

export function issueTlsIdentity(
    name: string,
    names: CertificateNames,
    ca: { certPem: pulumi.Input<string>; keyPem: pulumi.Input<string>; trustPem: pulumi.Input<string> },
    lifetime: CertificatesConfig,
    parent: pulumi.Resource,
): pulumi.Output<TlsIdentity> {
    const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent });
    const csr = new tls.CertRequest(
        `${name}-csr`,
        {
            privateKeyPem: key.privateKeyPem,
            subject: names.commonName ? { commonName: names.commonName } : { organization: "nextcloud-ha" },
            dnsNames: names.dnsNames,
            ipAddresses: names.ipAddresses,
        },
        { parent },
    );
    const cert = new tls.LocallySignedCert(
        `${name}-cert`,
        {
            certRequestPem: csr.certRequestPem,
            caCertPem: ca.certPem,
            caPrivateKeyPem: ca.keyPem,
            // Renewed by the first pulumi up inside the window; the converge steps deliver it.
            validityPeriodHours: lifetime.hostDays * 24,
            earlyRenewalHours: lifetime.renewBeforeDays * 24,
            allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
        },
        { parent },
    );
    // The host trusts every trusted CA (its ca.crt), and its certificate comes from the signing one.
    return pulumi.all([ca.trustPem, cert.certPem, key.privateKeyPem]).apply(([caCert, certPem, keyPem]) => ({ caCert, cert: certPem, key: keyPem }));
}
