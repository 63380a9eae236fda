/** render/seal.ts: a site's part sealed to its key opens only with that key, for that site, unaltered; the same content seals to the same text. */
import { openSealed, seal, sealedTo, sealKeyFingerprint, sealKeyPairFrom, sealPublicKeyOf } from "../../render/seal";
import { SEAL_KEY_RE } from "../../plan/sealKey";
import { execFileSync } from "node:child_process";

const dc2 = sealKeyPairFrom(Buffer.alloc(32, 2));
const dc3 = sealKeyPairFrom(Buffer.alloc(32, 3));
const content = JSON.stringify({ site: "dc2", secrets: { database: { superuserPassword: "pw-Xq81" } } });

test("a sealed text opens with the site's private key, names its key's fingerprint, and holds nothing of the content in the clear", () => {
    const text = seal(content, "dc2", dc2.publicKey, "seed-1");
    expect(openSealed(text, "dc2", dc2.privateKeyPem)).toBe(content);
    expect(sealedTo(text)).toBe(sealKeyFingerprint(dc2.publicKey));
    expect(text).not.toContain("pw-Xq81");
    expect(Buffer.from(text.split(":")[3], "base64url").toString("latin1")).not.toContain("pw-Xq81");
});

test("the same content, key and seed seal to the same text (a quiet preview); a change of any of them to another", () => {
    const text = seal(content, "dc2", dc2.publicKey, "seed-1");
    expect(seal(content, "dc2", dc2.publicKey, "seed-1")).toBe(text);
    const others = [
        seal(content + " ", "dc2", dc2.publicKey, "seed-1"),
        seal(content, "dc2", dc2.publicKey, "seed-2"),
        seal(content, "dc2", dc3.publicKey, "seed-1"),
        seal(content, "dc3", dc2.publicKey, "seed-1"),
    ];
    // Each with its own ephemeral key: no AES key seals two texts.
    const ephemerals = new Set([text, ...others].map((t) => t.split(":")[2]));
    expect(ephemerals.size).toBe(5);
});

test("another site's key, another site's name, or an altered text does not open, each with its reason", () => {
    const text = seal(content, "dc2", dc2.publicKey, "seed-1");
    expect(() => openSealed(text, "dc2", dc3.privateKeyPem)).toThrow(
        `was sealed to the key ${sealKeyFingerprint(dc2.publicKey)}, not to this private key's (${sealKeyFingerprint(dc3.publicKey)})`,
    );
    expect(() => openSealed(text, "dc3", dc2.privateKeyPem)).toThrow("does not open for dc3: it was sealed for another site or altered");
    const parts = text.split(":");
    const body = Buffer.from(parts[3], "base64url");
    body[0] ^= 1;
    expect(() => openSealed([...parts.slice(0, 3), body.toString("base64url")].join(":"), "dc2", dc2.privateKeyPem)).toThrow("altered");
    expect(() => openSealed("v0:abc", "dc2", dc2.privateKeyPem)).toThrow("is not a text sealed by this release (ncha-seal-v1)");
});

test("keys: OpenSSL's X25519 keys are taken as they are; the plan's form is the body of `openssl pkey -pubout`; other keys are refused", () => {
    expect(dc2.publicKey).toMatch(SEAL_KEY_RE);
    expect(sealPublicKeyOf(dc2.privateKeyPem)).toBe(dc2.publicKey);
    const pem = execFileSync("openssl", ["genpkey", "-algorithm", "X25519"], { encoding: "utf8" });
    const pub = execFileSync("openssl", ["pkey", "-pubout"], { input: pem, encoding: "utf8" }).split("\n")[1];
    expect(sealPublicKeyOf(pem)).toBe(pub);
    expect(openSealed(seal(content, "dc2", pub, "s"), "dc2", pem)).toBe(content);
    const ed = execFileSync("openssl", ["genpkey", "-algorithm", "ED25519"], { encoding: "utf8" });
    expect(() => sealPublicKeyOf(ed)).toThrow("is an ed25519 key, not an X25519 one");
    expect(() => sealPublicKeyOf("not a key")).toThrow("is not a PEM private key");
    expect(() => seal(content, "dc2", "MCowBQYDK2VwAyEA" + "A".repeat(43) + "=", "s")).toThrow("is not an X25519 public key line");
});
