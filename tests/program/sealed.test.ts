/**
 * Sealed per-site parts (docs/design/security.md, "Stacks read only the secrets they need"):
 * with a seal key in the plan for every other site, the primary stack exports no secret, each
 * site's part sealed to its key; each site's stack opens its own part and deploys from it; the
 * witness's part holds etcd's root password alone (its member's changes take it) and its host's
 * identity. The primary's real exports are fed to the other stacks.
 */
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { openPart, sealPart, SHARED_OUTPUTS, SitePart } from "../../components/sharedSecrets";
import { loadDeployment } from "../../plan/load";
import { readStackConfig } from "../../plan/stackFiles";
import { sealKeyFingerprint, sealKeyPairFrom } from "../../render/seal";
import { hostFile, MockRun, plainParts, primaryStackOutputs, runProgram, valueOf } from "../helpers/mocks";

const keys = { dc2: sealKeyPairFrom(Buffer.alloc(32, 2)), dc3: sealKeyPairFrom(Buffer.alloc(32, 3)) };
type Keyed = keyof typeof keys;
const primaryStack = readStackConfig("dc2").primaryStack as string;

function sitesWith(keyed: Keyed[], publicKeys: Record<string, string> = {}): Record<string, Record<string, unknown>> {
    const sites = structuredClone(readStackConfig("dc1").sites) as Record<string, Record<string, unknown>>;
    for (const s of keyed) sites[s].sealKey = publicKeys[s] ?? keys[s].publicKey;
    return sites;
}

/** Every output of a stack's program with its value, as a StackReference reads them. */
async function exportsOf(program: Record<string, unknown>): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(program)) if (v !== undefined) out[k] = await valueOf(pulumi.output(v));
    return out;
}

const partOf = (exported: Record<string, unknown>, site: Keyed, sites = sitesWith(["dc2", "dc3"])): SitePart =>
    openPart(primaryStack, { site, sealKey: sites[site].sealKey as string }, exported[SHARED_OUTPUTS.sealed], keys[site].privateKeyPem);

let dc1: { run: MockRun; program: Record<string, unknown> };
let exported: Record<string, unknown>;

beforeAll(async () => {
    dc1 = await runProgram("dc1", { sites: sitesWith(["dc2", "dc3"]) });
    exported = await exportsOf(dc1.program);
});

test("with a seal key for every other site, the primary exports no secret: each site's part sealed to its key, in the clear", async () => {
    // One output a site: a change to one site's part leaves the others' texts (and their previews) alone.
    const sealed = dc1.program[SHARED_OUTPUTS.sealed] as Record<string, pulumi.Output<string>>;
    for (const text of Object.values(sealed)) expect(await pulumi.isSecret(text)).toBe(false);
    expect(Object.keys(exported[SHARED_OUTPUTS.sealed] as object).sort()).toEqual(["dc2", "dc3"]);
    for (const name of [SHARED_OUTPUTS.secrets, SHARED_OUTPUTS.hostIdentities, "replicationCredentials"]) expect(exported[name]).toBeUndefined();
    // Nothing any other stack's StackReference reads is secret, and no password or key is in it in the clear.
    for (const [name, value] of Object.entries(dc1.program))
        if (pulumi.Output.isInstance(value)) expect([name, await pulumi.isSecret(value as pulumi.Output<unknown>)]).toEqual([name, false]);
    const text = JSON.stringify(exported);
    expect(dc1.run.generatedSecrets.length).toBeGreaterThan(20);
    for (const s of dc1.run.generatedSecrets) expect(text).not.toContain(s);
});

test("each site opens its own part and nothing more: dc2 the passwords its roles take and its hosts' identities, the witness etcd's root password and its host's identity alone", () => {
    const dc2 = partOf(exported, "dc2");
    // dc2 runs Patroni, HAProxy and an etcd member, no app node: the database's, HAProxy's and etcd's root password, not the app's.
    expect(Object.keys(dc2.secrets!).sort()).toEqual(["database", "etcd", "haproxy"]);
    expect(dc2.secrets!.database!.superuserPassword).toMatch(/^mockpw-shared-superuser-/);
    expect(dc2.secrets!.haproxy!.statsPassword).toMatch(/^mockpw-shared-haproxy-stats-/);
    expect(Object.keys(dc2.identities).sort()).toEqual(["dc2-db1", "dc2-etcd1", "dc2-lb1"]);
    expect(dc2.identities["dc2-db1"].key).toMatch(/^mockkey-dc2-db1-etcd-tls-key-/);
    const dc3 = partOf(exported, "dc3");
    expect(dc3.secrets).toEqual({ etcd: { rootPassword: expect.stringMatching(/^mockpw-shared-etcd-root-/) } });
    expect(Object.keys(dc3.identities)).toEqual(["dc3-etcd1"]);
    // The witness's key does not open dc2's part.
    const sealed = exported[SHARED_OUTPUTS.sealed] as Record<string, string>;
    expect(() => openPart(primaryStack, { site: "dc3", sealKey: keys.dc3.publicKey }, { dc3: sealed.dc2 }, keys.dc3.privateKeyPem)).toThrow(
        /sealed dc3's part to key [0-9a-f]{16}, not to the plan's sites.dc3.sealKey/,
    );
});

test("the same plan seals to the same texts at every run (a quiet preview); a rotated password changes the data site's text, not the witness's", async () => {
    const again = await runProgram("dc1", { sites: sitesWith(["dc2", "dc3"]) });
    expect(await valueOf(pulumi.output(again.program[SHARED_OUTPUTS.sealed]))).toEqual(exported[SHARED_OUTPUTS.sealed]);
    const rotated = await runProgram("dc1", { sites: sitesWith(["dc2", "dc3"]), passwords: { rotation: { app: 1 } } });
    const before = exported[SHARED_OUTPUTS.sealed] as Record<string, string>;
    const after = (await valueOf(pulumi.output(rotated.program[SHARED_OUTPUTS.sealed]))) as Record<string, string>;
    expect(after.dc2).not.toBe(before.dc2);
    expect(after.dc3).toBe(before.dc3);
});

test("dc2 and the witness deploy from their sealed parts, from the primary's real exports, holding no password in the clear", async () => {
    const sites = sitesWith(["dc2", "dc3"]);
    const dc2 = await runProgram("dc2", { sites, sealPrivateKey: keys.dc2.privateKeyPem }, exported);
    const part = partOf(exported, "dc2");
    const patroni = parse(hostFile(dc2.run, "dc2-db1", "/etc/patroni/config.yml"));
    expect(patroni.postgresql.authentication.superuser.password).toBe(part.secrets!.database!.superuserPassword);
    expect(hostFile(dc2.run, "dc2-db1", "/etc/patroni/pki/member.key")).toBe(part.identities["dc2-db1"].key);
    const plain = JSON.stringify(dc2.run.resources.map((r) => plainParts(r.inputs)));
    for (const secret of [part.secrets!.database!.superuserPassword, part.secrets!.haproxy!.statsPassword, part.identities["dc2-db1"].key])
        expect(plain).not.toContain(secret);
    const dc3 = await runProgram("dc3", { sites, sealPrivateKey: keys.dc3.privateKeyPem }, exported);
    expect(hostFile(dc3.run, "dc3-etcd1", "/etc/etcd/pki/member.key")).toBe(partOf(exported, "dc3").identities["dc3-etcd1"].key);
});

test("partly sealed: the primary still exports the bundle (secret) for the site without a key, and seals for the one with", async () => {
    const sites = sitesWith(["dc3"]);
    const partial = await runProgram("dc1", { sites });
    const out = await exportsOf(partial.program);
    expect(await pulumi.isSecret(partial.program[SHARED_OUTPUTS.secrets] as pulumi.Output<unknown>)).toBe(true);
    expect(Object.keys(out[SHARED_OUTPUTS.sealed] as object)).toEqual(["dc3"]);
    const dc2 = await runProgram("dc2", { sites }, out);
    expect(parse(hostFile(dc2.run, "dc2-db1", "/etc/patroni/config.yml")).postgresql.authentication.superuser.password).toBe(
        (out[SHARED_OUTPUTS.secrets] as any).database.superuserPassword,
    );
    const dc3 = await runProgram("dc3", { sites, sealPrivateKey: keys.dc3.privateKeyPem }, out);
    expect(hostFile(dc3.run, "dc3-etcd1", "/etc/etcd/pki/member.crt")).toContain("cert-dc3-etcd1-etcd-tls-cert");
});

test("a preview of a site before the primary has sealed for it (the pull request turning sealing on) previews from the bundle in the clear, with a warning", async () => {
    const sites = sitesWith(["dc2"]);
    const before = primaryStackOutputs();
    const warn = jest.spyOn(pulumi.log, "warn");
    const preview = await runProgram("dc2", { sites, sealPrivateKey: keys.dc2.privateKeyPem }, before, true);
    expect(preview.run.byType("proxmoxve:index/vmLegacy:VmLegacy")).toHaveLength(3);
    expect(warn).toHaveBeenCalledWith(
        expect.stringContaining(`the primary stack ${primaryStack} exports nothing sealed for dc2 yet: previewed from its outputs in the clear`),
        expect.anything(),
    );
    warn.mockRestore();
    // `pulumi up` (no preview) refuses with openPart's line, tested below: an error inside an apply fails the whole run.
});

test("a site cannot open its part: the wrong private key, a primary that has not sealed for it (yet, or to the plan's key), each named with the fix", () => {
    const sealed = exported[SHARED_OUTPUTS.sealed];
    const fp = (k: Keyed) => sealKeyFingerprint(keys[k].publicKey);
    expect(() => openPart(primaryStack, { site: "dc2", sealKey: keys.dc2.publicKey }, sealed, keys.dc3.privateKeyPem)).toThrow(
        `sealPrivateKey is the private half of key ${fp("dc3")}, but the plan's sites.dc2.sealKey is key ${fp("dc2")}; set this stack's sealPrivateKey to the plan key's private half, or sealKey to this key's public half`,
    );
    expect(() => openPart(primaryStack, { site: "dc2", sealKey: keys.dc2.publicKey }, undefined, keys.dc2.privateKeyPem)).toThrow(
        `the primary stack ${primaryStack} exports nothing sealed for dc2 (output sealedForSites); run \`pulumi up\` on ${primaryStack} first: it seals dc2's part to sites.dc2.sealKey`,
    );
    // The site's key changed in the plan (and its stack's private key with it); the primary has not run since.
    const next = sealKeyPairFrom(Buffer.alloc(32, 9));
    expect(() => openPart(primaryStack, { site: "dc2", sealKey: next.publicKey }, sealed, next.privateKeyPem)).toThrow(
        `the primary stack ${primaryStack} sealed dc2's part to key ${fp("dc2")}, not to the plan's sites.dc2.sealKey (key ${sealKeyFingerprint(next.publicKey)}); run \`pulumi up\` on ${primaryStack} first: it seals again to the plan's key`,
    );
    expect(() =>
        openPart(primaryStack, { site: "dc2", sealKey: keys.dc2.publicKey }, sealed, "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"),
    ).toThrow("sealPrivateKey is not a PEM private key");
    // A primary from before a part existed (etcd's root password): named, with the fix.
    const bundle = primaryStackOutputs().sharedSecrets as any;
    const older = { dc2: sealPart({ site: "dc2", sealKey: keys.dc2.publicKey, hosts: [], parts: ["database"] }, bundle, {}, "s") };
    expect(() => openPart(primaryStack, { site: "dc2", sealKey: keys.dc2.publicKey, parts: ["database", "etcd"] }, older, keys.dc2.privateKeyPem)).toThrow(
        `the primary stack ${primaryStack} sealed no etcd secrets for dc2, whose hosts take them (its last \`pulumi up\` predates them); run \`pulumi up\` on ${primaryStack} first`,
    );
});

test("bad seal config is refused in one line naming the key, before any resource", () => {
    const load = (stack: string, overrides: Record<string, unknown>) => () => loadDeployment({ ...readStackConfig(stack), ...overrides });
    const withKey = sitesWith(["dc2"]);
    expect(load("dc2", { sites: withKey })).toThrow(
        "nextcloud-ha:sealPrivateKey: missing; the plan seals dc2's part of the shared secrets to sites.dc2.sealKey: set that key's private half as this stack's secret (`npm run -s seal-key -- --help` says how)",
    );
    expect(load("dc2", { sealPrivateKey: "[secret]" })).toThrow(
        "nextcloud-ha:sealPrivateKey: set, but the plan has no sites.dc2.sealKey; add its public half there (`pulumi config get nextcloud-ha:sealPrivateKey | npm run -s seal-key -- --public` prints it) or remove sealPrivateKey",
    );
    expect(load("dc1", { sealPrivateKey: "[secret]" })).toThrow("nextcloud-ha:sealPrivateKey: dc1 is the primary site and opens nothing sealed");
    const onPrimary = sitesWith([]);
    onPrimary.dc1.sealKey = keys.dc2.publicKey;
    expect(load("dc2", { sites: onPrimary })).toThrow(
        "nextcloud-ha:sites.dc1.sealKey: dc1 is the primary site: its stack seals the other sites' secrets and receives none",
    );
    expect(load("dc2", { sites: sitesWith(["dc2"], { dc2: "ssh-ed25519 AAAA" }), sealPrivateKey: "[secret]" })).toThrow(
        'nextcloud-ha:sites.dc2.sealKey: "ssh-ed25519 AAAA" is not an X25519 public key line; set it to the public key line `npm run -s seal-key -- dc2` prints',
    );
    expect(load("dc2", { sites: withKey, sealPrivateKey: "[secret]" })).not.toThrow();
    // One key for two sites: each site's stack would open the other's part.
    const twins = sitesWith(["dc2", "dc3"], { dc3: keys.dc2.publicKey });
    expect(load("dc2", { sites: twins, sealPrivateKey: "[secret]" })).toThrow(
        "nextcloud-ha:sites.dc3.sealKey: is also sites.dc2.sealKey: each site's stack would open the other's part; give each site its own pair (`npm run -s seal-key -- dc3`)",
    );
    // A low-order point (all zeros) would make every sealed text readable; a private key pasted there is named, not repeated.
    const zero = "MCowBQYDK2VuAyEA" + "A".repeat(42) + "A=";
    expect(load("dc2", { sites: sitesWith(["dc2"], { dc2: zero }), sealPrivateKey: "[secret]" })).toThrow(
        'nextcloud-ha:sites.dc2.sealKey: "MCowBQYDK2VuAyEAAAAAAAAA..." is not a usable X25519 key (a low-order point: nothing sealed to it would be secret)',
    );
    const pasted = keys.dc2.privateKeyPem.split("\n")[1];
    const refused = (() => {
        try {
            load("dc2", { sites: sitesWith(["dc2"], { dc2: pasted }), sealPrivateKey: "[secret]" })();
        } catch (e) {
            return (e as Error).message;
        }
        return "";
    })();
    expect(refused).toMatch(/^nextcloud-ha:sites.dc2.sealKey: is a private key: the plan holds the public half only/);
    expect(refused).not.toContain(pasted.slice(16));
    // The primary's own mock outputs, untouched: a plan without keys reads as before.
    expect(primaryStackOutputs()[SHARED_OUTPUTS.sealed]).toBeUndefined();
});
