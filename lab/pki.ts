/**
 * The lab's deployment CA and host certificates, made with openssl (the Pulumi program
 * makes the same with @pulumi/tls): ECDSA P-256, each host's certificate valid as server
 * and client for its address, 127.0.0.1 and its name.
 */
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as tls from "node:tls";
import * as path from "node:path";
import { HostPlan } from "../plan/plan";
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

export function createCa(dir: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    selfSigned(dir, "ca", "/CN=nextcloud-ha lab CA", 3650, ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]);
}

/** A self-signed certificate for the domain and its wildcard (DIR/wildcard.crt and .key), standing in for the real one. */
export function labCertificate(dir: string, domain: string): TlsCertificate {
    const parent = domain.split(".").slice(1).join(".");
    return selfSigned(dir, "wildcard", `/CN=*.${parent}`, 30, [`subjectAltName=DNS:*.${parent},DNS:${domain}`]);
}

/** The host's certificate and key from the CA in DIR: issued once, then read back (a lab `apply` renders what `up` issued). */
export function issueIdentity(dir: string, host: HostPlan, days: number): TlsIdentity {
    const base = path.join(dir, host.name);
    const ext =
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n" +
        `subjectAltName=IP:${host.address},IP:127.0.0.1,DNS:${host.name},DNS:localhost\n`;
    // Issued for this name and address: kept. A host that comes back at another address gets a new one, as the program's certificate is replaced.
    if (fs.existsSync(`${base}.crt`) && fs.existsSync(`${base}.ext`) && fs.readFileSync(`${base}.ext`, "utf8") === ext) {
        const read = (f: string) => fs.readFileSync(f, "utf8");
        return { caCert: read(path.join(dir, "ca.crt")), cert: read(`${base}.crt`), key: read(`${base}.key`) };
    }
    run("openssl", ["req", "-new", ...NEW_KEY, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${host.name}`]);
    fs.writeFileSync(`${base}.ext`, ext);
    run("openssl", [
        "x509",
        "-req",
        "-in",
        `${base}.csr`,
        "-CA",
        path.join(dir, "ca.crt"),
        "-CAkey",
        path.join(dir, "ca.key"),
        "-CAcreateserial",
        "-days",
        String(days),
        "-sha256",
        "-extfile",
        `${base}.ext`,
        "-out",
        `${base}.crt`,
    ]);
    return {
        caCert: fs.readFileSync(path.join(dir, "ca.crt"), "utf8"),
        cert: fs.readFileSync(`${base}.crt`, "utf8"),
        key: fs.readFileSync(`${base}.key`, "utf8"),
    };
}

/** Drops a host's key and certificate, so the next `issueIdentity` issues new ones (a renewal, as the program's early renewal does). */
export function forgetIdentity(dir: string, host: HostPlan): void {
    for (const ext of ["crt", "key", "csr", "ext"]) fs.rmSync(path.join(dir, `${host.name}.${ext}`), { force: true });
}

/** The SHA-256 fingerprint of the certificate a TLS server presents (authenticating with a client certificate of the CA in DIR: etcd asks for one). */
export function servedFingerprint(dir: string, client: HostPlan, address: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
        const socket = tls.connect({
            host: address,
            port,
            cert: fs.readFileSync(path.join(dir, `${client.name}.crt`)),
            key: fs.readFileSync(path.join(dir, `${client.name}.key`)),
            rejectUnauthorized: false,
            timeout: 5000,
        });
        socket.once("secureConnect", () => {
            const fingerprint = socket.getPeerCertificate().fingerprint256;
            socket.end();
            resolve(fingerprint);
        });
        socket.once("timeout", () => (socket.destroy(), reject(new Error(`${address}:${port} did not answer in 5 s`))));
        socket.once("error", reject);
    });
}

/** The SHA-256 fingerprint of the host's certificate as the lab issued it. */
export function issuedFingerprint(dir: string, host: HostPlan): string {
    return new X509Certificate(fs.readFileSync(path.join(dir, `${host.name}.crt`))).fingerprint256;
}
