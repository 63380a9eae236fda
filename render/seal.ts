/**
 * Sealing a site's part of the shared secrets to that site's key, so the primary stack can
 * export it as a plain output that only the site's stack opens (docs/design/security.md,
 * "Stacks read only the secrets they need"). Pure: Node's crypto (OpenSSL) only.
 *
 * The construction is HPKE's base mode (RFC 9180) in spirit: an ephemeral X25519 key agrees
 * with the site's public key, HKDF-SHA256 turns the shared secret into an AES-256-GCM key and
 * nonce used once, the site's name is the associated data. One difference, on purpose: the
 * ephemeral key is not random but derived (HMAC-SHA256) from a secret seed of the primary
 * stack, the site's public key and the content. The same content sealed to the same key gives
 * the same text at every `pulumi up`, so a preview shows a sealed output change only when what
 * is inside changes; it says no more than that (equal texts, equal contents), and a new seed,
 * key or content gives a fresh ephemeral key, so no AES key ever seals two texts.
 */
import { sealKeyProblem } from "../plan/sealKey";
import { shortHash } from "./hash";
import { createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, createCipheriv, createDecipheriv, KeyObject } from "node:crypto";

/** DER prefixes that wrap 32 raw bytes as an X25519 private key (PKCS#8) or public key (SPKI). */
const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_X25519 = Buffer.from("302a300506032b656e032100", "hex");
const VERSION = "ncha-seal-v1";

/** A site's seal key pair: the public key as the plan holds it (one base64 line), the private key as its stack holds it (PKCS#8 PEM). */
export interface SealKeyPair {
    publicKey: string;
    privateKeyPem: string;
}

/** The one-line form of a public key (its SPKI DER in base64, the body of `openssl pkey -pubout`). */
function publicLine(key: KeyObject): string {
    return (createPublicKey(key).export({ format: "der", type: "spki" }) as Buffer).toString("base64");
}

function publicKeyOf(line: string): KeyObject {
    const problem = sealKeyProblem(line);
    if (problem) throw new Error(`the seal key ${problem}`);
    return createPublicKey({ key: Buffer.from(line, "base64"), format: "der", type: "spki" });
}

/** A short, public name for a seal key: the first 8 bytes of its SHA-256, in hex. */
export function sealKeyFingerprint(publicKey: string): string {
    return shortHash(Buffer.from(publicKey, "base64"));
}

/** A key pair from 32 bytes of seed (`npm run seal-key` draws them from the kernel; the offline check's placeholder is fixed). */
export function sealKeyPairFrom(seed: Buffer): SealKeyPair {
    if (seed.length !== 32) throw new Error(`a seal key needs 32 bytes of seed, got ${seed.length}`);
    const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, seed]), format: "der", type: "pkcs8" });
    return { publicKey: publicLine(key), privateKeyPem: key.export({ format: "pem", type: "pkcs8" }) as string };
}

/** The public key (plan form) of a private key; a one-line error when the text is no X25519 private key. */
export function sealPublicKeyOf(privateKeyPem: string): string {
    let key: KeyObject;
    try {
        key = createPrivateKey(privateKeyPem);
    } catch {
        throw new Error("is not a PEM private key (make one with `npm run -s seal-key -- SITE`)");
    }
    if (key.asymmetricKeyType !== "x25519")
        throw new Error(`is an ${key.asymmetricKeyType} key, not an X25519 one (make one with \`npm run -s seal-key -- SITE\`)`);
    return publicLine(key);
}

function keyAndNonce(shared: Buffer, ephemeralPublic: Buffer, recipient: string, site: string): { key: Buffer; nonce: Buffer } {
    const salt = Buffer.concat([ephemeralPublic, Buffer.from(recipient, "base64")]);
    const okm = Buffer.from(hkdfSync("sha256", shared, salt, `${VERSION} ${site}`, 44));
    return { key: okm.subarray(0, 32), nonce: okm.subarray(32) };
}

/**
 * Seals `content` for `site` to its public key (plan form). Deterministic in (seed, key,
 * site, content); the text names the version and the key's fingerprint, never the content.
 */
export function seal(content: string, site: string, recipient: string, seed: string): string {
    const recipientKey = publicKeyOf(recipient);
    const ephemeralSeed = createHmac("sha256", seed).update(`${VERSION}\0${site}\0${recipient}\0`).update(content).digest();
    const ephemeral = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, ephemeralSeed]), format: "der", type: "pkcs8" });
    const ephemeralPublic = Buffer.from(publicLine(ephemeral), "base64").subarray(SPKI_X25519.length);
    const { key, nonce } = keyAndNonce(diffieHellman({ privateKey: ephemeral, publicKey: recipientKey }), ephemeralPublic, recipient, site);
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    cipher.setAAD(Buffer.from(site));
    const sealed = Buffer.concat([cipher.update(content, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return [VERSION, sealKeyFingerprint(recipient), ephemeralPublic.toString("base64url"), sealed.toString("base64url")].join(":");
}

/** The fingerprint of the key a sealed text was sealed to; undefined when the text is not a sealed text. */
export function sealedTo(text: string): string | undefined {
    const parts = text.split(":");
    return parts.length === 4 && parts[0] === VERSION ? parts[1] : undefined;
}

/**
 * Opens a text sealed for `site` with the site's private key (PEM). Throws a one-line error
 * when the text was sealed to another key, for another site, or altered.
 */
export function openSealed(text: string, site: string, privateKeyPem: string): string {
    const parts = text.split(":");
    if (parts.length !== 4 || parts[0] !== VERSION) throw new Error(`is not a text sealed by this release (${VERSION})`);
    const [, fingerprint, ephemeralB64, sealedB64] = parts;
    const recipient = sealPublicKeyOf(privateKeyPem);
    if (fingerprint !== sealKeyFingerprint(recipient))
        throw new Error(`was sealed to the key ${fingerprint}, not to this private key's (${sealKeyFingerprint(recipient)})`);
    const ephemeralPublic = Buffer.from(ephemeralB64, "base64url");
    const sealed = Buffer.from(sealedB64, "base64url");
    if (ephemeralPublic.length !== 32 || sealed.length < 16) throw new Error("is truncated");
    let shared: Buffer;
    try {
        const ephemeral = createPublicKey({ key: Buffer.concat([SPKI_X25519, ephemeralPublic]), format: "der", type: "spki" });
        shared = diffieHellman({ privateKey: createPrivateKey(privateKeyPem), publicKey: ephemeral });
    } catch {
        throw new Error("is altered: its ephemeral key is not a usable X25519 key");
    }
    const { key, nonce } = keyAndNonce(shared, ephemeralPublic, recipient, site);
    const decipher = createDecipheriv("aes-256-gcm", key, nonce);
    decipher.setAAD(Buffer.from(site));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    try {
        return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]).toString("utf8");
    } catch {
        throw new Error(`does not open for ${site}: it was sealed for another site or altered`);
    }
}
