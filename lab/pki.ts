/**
 * The lab's deployment CA and host certificates, made with openssl (the Pulumi program
 * makes the same with @pulumi/tls): ECDSA P-256, each host's certificate valid as server
 * and client for its address, 127.0.0.1 and its name.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { TlsIdentity } from "../render/rendered";
import { HostPlan } from "../plan/plan";
import { run } from "./sh";

export function createCa(dir: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    run("openssl", [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        path.join(dir, "ca.key"),
        "-out",
        path.join(dir, "ca.crt"),
        "-days",
        "3650",
        "-subj",
        "/CN=nextcloud-ha lab CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
}

export function issueIdentity(dir: string, host: HostPlan): TlsIdentity {
    const base = path.join(dir, host.name);
    run("openssl", [
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        `${base}.key`,
        "-out",
        `${base}.csr`,
        "-subj",
        `/CN=${host.name}`,
    ]);
    fs.writeFileSync(
        `${base}.ext`,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n" +
            `subjectAltName=IP:${host.address},IP:127.0.0.1,DNS:${host.name},DNS:localhost\n`,
    );
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
        "825",
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
