/**
 * A site's seal key as the plan holds it (`sites.<site>.sealKey`): the public half of an X25519
 * pair, its SPKI DER in base64 (the body of `openssl pkey -pubout`). What makes one usable is
 * checked here, where the plan is loaded; render/seal.ts seals to it. Pure.
 */
import { createPrivateKey, createPublicKey, diffieHellman } from "node:crypto";

/** 12 fixed bytes of SPKI, then the 32 of the key. */
export const SEAL_KEY_RE = /^MCowBQYDK2VuAyEA[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
/** The start of an X25519 private key's PKCS#8 DER in base64: the private half pasted where the public one belongs. */
const PRIVATE_KEY_START = "MC4CAQAwBQYDK2Vu";
/** A fixed private key to try an agreement with: a low-order public key gives no shared secret. */
const PROBE = createPrivateKey({ key: Buffer.from("302e020100300506032b656e04220420" + "11".repeat(32), "hex"), format: "der", type: "pkcs8" });

/** Whether `line` is a private key pasted where the public half belongs: never to be repeated in a message. */
export function looksPrivate(line: string): boolean {
    return line.startsWith(PRIVATE_KEY_START) || line.includes("PRIVATE KEY");
}

/** Why `line` is no usable seal key, or undefined when it is one. Never repeats the value. */
export function sealKeyProblem(line: string): string | undefined {
    if (looksPrivate(line))
        return "is a private key: the plan holds the public half only (the private half is the stack's secret sealPrivateKey); make a new pair, this one is exposed";
    if (!SEAL_KEY_RE.test(line)) return "is not an X25519 public key line";
    try {
        diffieHellman({ privateKey: PROBE, publicKey: createPublicKey({ key: Buffer.from(line, "base64"), format: "der", type: "spki" }) });
    } catch {
        return "is not a usable X25519 key (a low-order point: nothing sealed to it would be secret)";
    }
    return undefined;
}
