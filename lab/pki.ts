/**
 * The lab's deployment CA and host certificates, made with openssl (the Pulumi program
 * makes the same with @pulumi/tls): ECDSA P-256, each host's certificate valid as server
 * and client for its address, 127.0.0.1 and its name.
 */
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as tls from "node:tls";
import * as path from "node:path";
import { CertificatesConfig } from "../plan/config";
import { HostPlan } from "../plan/plan";
import { CertificateNames } from "../render/host";
import { TlsCertificate } from "../render/nginx";
import { TlsIdentity } from "../render/rendered";
import { run } from "./sh";

/** A new ECDSA P-256 key, unencrypted: `openssl req` arguments. */
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/** A self-signed certificate and its key, written to DIR/NAME.crt and DIR/NAME.key (kept when they are there); returns both. */
function selfSigned(dir: string, name: string, subject: string, days: number, extensions: string[]): TlsCertificate {
    const [cert, key] = [path.join(dir, `${name}.crt`), path.join(dir, `${name}.key`)];
    if (fs.existsSync(cert) && fs.existsSync(key)) return { cert: fs.readFileSync(cert, "utf8"), key: fs.readFileSync(key, "utf8") };
    const ext = extensions.flatMap((e) => ["-addext", e]);
    run("openssl", ["req", "-x509", ...NEW_KEY, "-keyout", key, "-out", cert, "-days", String(days), "-subj", subject, ...ext]);
    return { cert: fs.readFileSync(cert, "utf8"), key: fs.readFileSync(key, "utf8") };
}

/** The files of the deployment CA of a generation (config `certificates.caSigning`): generation 0 is DIR/ca.crt and .key. */
function caName(generation: number): string {
    return generation === 0 ? "ca" : `ca-${generation}`;
}

/** The lab's deployment CA of a generation, made once (generation 0 at `up`, a later one when a rotation first names it); returns its certificate. */
export function createCa(dir: string, generation = 0): string {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return selfSigned(dir, caName(generation), `/CN=nextcloud-ha lab CA${generation ? ` ${generation}` : ""}`, 3650, [
        "basicConstraints=critical,CA:TRUE",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]).cert;
}

/** What a host trusts: every trusted generation's CA certificate, one after the other (the program's `caTrustPem`). */
export function trustBundle(dir: string, certs: Pick<CertificatesConfig, "caTrusted">): string {
    return certs.caTrusted.map((g) => createCa(dir, g)).join("");
}

/** The trust bundle as a file (DIR/trusted.crt), for clients on the machine; returns its path. */
export function trustFile(dir: string, certs: Pick<CertificatesConfig, "caTrusted">): string {
    const file = path.join(dir, "trusted.crt");
    fs.writeFileSync(file, trustBundle(dir, certs));
    return file;
}

/** A self-signed certificate for the domain and its wildcard (DIR/wildcard.crt and .key), standing in for the real one. */
export function labCertificate(dir: string, domain: string): TlsCertificate {
    const parent = domain.split(".").slice(1).join(".");
    return selfSigned(dir, "wildcard", `/CN=*.${parent}`, 30, [`subjectAltName=DNS:*.${parent},DNS:${domain}`]);
}

/**
 * The host's certificate and key from the signing CA in DIR, and the trusted CAs: issued once,
 * then read back (a lab `apply` renders what `up` issued).
 */
export function issueIdentity(dir: string, names: CertificateNames, certs: CertificatesConfig): TlsIdentity {
    const base = path.join(dir, names.commonName ?? names.dnsNames[0]);
    const subject = names.commonName ? `/CN=${names.commonName}` : "/O=nextcloud-ha";
    const ca = caName(certs.caSigning);
    createCa(dir, certs.caSigning);
    const ext =
        `# signed by the lab's CA ${certs.caSigning}, subject ${subject}\n` +
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n" +
        `subjectAltName=${[...names.ipAddresses.map((a) => `IP:${a}`), ...names.dnsNames.map((d) => `DNS:${d}`)].join(",")}\n`;
    const caCert = trustBundle(dir, certs);
    // Issued for this name and address by this CA: kept. A host that comes back at another address, or a new signing CA, gets a new one,
    // as the program's certificate is replaced.
    if (fs.existsSync(`${base}.crt`) && fs.existsSync(`${base}.ext`) && fs.readFileSync(`${base}.ext`, "utf8") === ext) {
        const read = (f: string) => fs.readFileSync(f, "utf8");
        return { caCert, cert: read(`${base}.crt`), key: read(`${base}.key`) };
    }
    run("openssl", ["req", "-new", ...NEW_KEY, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", subject]);
    fs.writeFileSync(`${base}.ext`, ext);
    run("openssl", [
        "x509",
        "-req",
        "-in",
        `${base}.csr`,
        "-CA",
        path.join(dir, `${ca}.crt`),
        "-CAkey",
        path.join(dir, `${ca}.key`),
        "-CAcreateserial",
        "-days",
        String(certs.hostDays),
        "-sha256",
        "-extfile",
        `${base}.ext`,
        "-out",
        `${base}.crt`,
    ]);
    return {
        caCert,
        cert: fs.readFileSync(`${base}.crt`, "utf8"),
        key: fs.readFileSync(`${base}.key`, "utf8"),
    };
}

/** Drops a host's key and certificate, so the next `issueIdentity` issues new ones (a renewal, as the program's early renewal does). */
export function forgetIdentity(dir: string, host: HostPlan): void {
    for (const ext of ["crt", "key", "csr", "ext"]) fs.rmSync(path.join(dir, `${host.name}.${ext}`), { force: true });
}

/** The SHA-256 fingerprint of the certificate a TLS server presents (authenticating with a client certificate of the CA in DIR: etcd asks for one). */
export async function servedFingerprint(dir: string, client: HostPlan, address: string, port: number, alpn?: string): Promise<string> {
    return new X509Certificate(await servedCertificate(dir, client, address, port, alpn)).fingerprint256;
}

/** Whether a PEM certificate was issued by the lab's CA of a generation (its issuer and signature). */
export function issuedBy(dir: string, certPem: string | Buffer, generation: number): boolean {
    const ca = new X509Certificate(createCa(dir, generation));
    const cert = new X509Certificate(certPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/**
 * The certificate a TLS server presents, as PEM (authenticating with the client's certificate from DIR).
 * `alpn`: the protocol to offer; PostgreSQL 17 takes TLS first (without its SSLRequest) when offered `postgresql`.
 */
export function servedCertificate(dir: string, client: HostPlan, address: string, port: number, alpn?: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const socket = tls.connect({
            host: address,
            port,
            ...(alpn ? { ALPNProtocols: [alpn] } : {}),
            cert: fs.readFileSync(path.join(dir, `${client.name}.crt`)),
            key: fs.readFileSync(path.join(dir, `${client.name}.key`)),
            rejectUnauthorized: false,
            timeout: 5000,
        });
        socket.once("secureConnect", () => {
            const raw = socket.getPeerCertificate().raw;
            socket.end();
            resolve(new X509Certificate(raw).toString());
        });
        socket.once("timeout", () => (socket.destroy(), reject(new Error(`${address}:${port} did not answer in 5 s`))));
        socket.once("error", reject);
    });
}

/** The SHA-256 fingerprint of the host's certificate as the lab issued it. */
export function issuedFingerprint(dir: string, host: HostPlan): string {
    return new X509Certificate(fs.readFileSync(path.join(dir, `${host.name}.crt`))).fingerprint256;
}
