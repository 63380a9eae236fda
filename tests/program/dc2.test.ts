/** dc2 reads the shared secrets from dc1's stack instead of creating its own. */
import { parse } from "yaml";
import { bundleGap, caRoundMismatch, takeIdentity } from "../../components/sharedSecrets";
import { hostFile, MockRun, plainParts, primaryStackOutputs, runProgram } from "../helpers/mocks";

let run: MockRun;
let stack: Awaited<ReturnType<typeof runProgram>>["program"];

beforeAll(async () => {
    ({ run, program: stack } = await runProgram("dc2"));
});

test("reads dc1's stack and creates no passwords or CA of its own", () => {
    const refs = run.byType("pulumi:pulumi:StackReference");
    expect(refs).toHaveLength(1);
    expect(refs[0].inputs.name).toBe("organization/nextcloud-ha/dc1");
    expect(run.byType("random:index/randomPassword:RandomPassword")).toHaveLength(0);
    expect(run.byType("tls:index/selfSignedCert:SelfSignedCert")).toHaveLength(0);
    expect(stack.sharedSecrets).toBeUndefined();
});

test("dc2's Patroni member uses dc1's passwords and the certificate dc1 issued for it: dc2 holds no CA key and signs nothing", () => {
    const patroni = parse(hostFile(run, "dc2-db1", "/etc/patroni/config.yml"));
    const shared = primaryStackOutputs().sharedSecrets as any;
    expect(patroni.postgresql.authentication.superuser.password).toBe(shared.database.superuserPassword);
    expect(run.byType("tls:index/locallySignedCert:LocallySignedCert")).toHaveLength(0);
    expect(run.byType("tls:index/privateKey:PrivateKey").map((k) => k.name)).toEqual(expect.not.arrayContaining([expect.stringMatching(/-etcd-tls-key$/)]));
    expect(hostFile(run, "dc2-db1", "/etc/patroni/pki/member.crt")).toContain("primary-issued-dc2-db1");
    expect(hostFile(run, "dc2-db1", "/etc/patroni/pki/member.key")).toContain("primary-issued-key-dc2-db1");
    const plain = JSON.stringify(run.resources.map((r) => plainParts(r.inputs)));
    expect(plain).not.toContain("primary-issued-key-dc2-db1");
    expect(plain).not.toContain(shared.database.superuserPassword);
});

test("a primary stack that has not issued a host's identity yet (a new host, or a primary from before) stops the stack with the fix", () => {
    const issued = { "dc2-db1": { cert: "C", key: "K" } };
    expect(takeIdentity(issued, "dc2-db1", "CA")).toEqual({ caCert: "CA", cert: "C", key: "K" });
    expect(() => takeIdentity(issued, "dc2-db2", "CA")).toThrow(
        "the primary stack exports no TLS identity for dc2-db2 (output hostIdentities); run `pulumi up` on the primary stack first: it issues every host's certificate",
    );
});

test("dc2's hosts trust what dc1 exports as its trust bundle (two CAs during a rotation), and dc1's signing CA alone from a dc1 that exports none", async () => {
    expect(hostFile(run, "dc2-etcd1", "/etc/etcd/pki/ca.crt")).toBe(primaryStackOutputs().etcdCaCertPem);
    const bundle =
        "-----BEGIN CERTIFICATE-----\nprimary-ca-cert\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nprimary-ca-1\n-----END CERTIFICATE-----\n";
    const round1 = { caSigning: 0, caTrusted: [0, 1] };
    const rotating = await runProgram(
        "dc2",
        { certificates: round1 },
        { ...primaryStackOutputs(), caTrustPem: bundle, caGenerations: { signing: 0, trusted: [0, 1] } },
    );
    expect(hostFile(rotating.run, "dc2-etcd1", "/etc/etcd/pki/ca.crt")).toBe(bundle);
    expect(hostFile(rotating.run, "dc2-db1", "/etc/patroni/pki/ca.crt")).toBe(bundle);
});

test("a stack refuses the primary's CAs when they are another round of a CA rotation than its plan's, naming both and the fix", () => {
    const dc1 = "organization/nextcloud-ha/dc1";
    expect(caRoundMismatch(dc1, { signing: 0, trusted: [0, 1] }, { signing: 0, trusted: [0, 1] })).toBeUndefined();
    // A primary from before rotation exports nothing: generation 0 alone.
    expect(caRoundMismatch(dc1, undefined, { signing: 0, trusted: [0] })).toBeUndefined();
    expect(caRoundMismatch(dc1, undefined, { signing: 0, trusted: [0, 1] })).toBe(
        "certificates: this stack's plan has caSigning 0, caTrusted [0, 1] but the primary stack organization/nextcloud-ha/dc1 last ran with caSigning 0, caTrusted [0]; " +
            "run `pulumi up` on organization/nextcloud-ha/dc1 first (each round of a CA rotation starts on the primary stack)",
    );
    // Round 2 on dc2 while dc1 is still at round 1: the trusted lists agree, the signer does not.
    expect(caRoundMismatch(dc1, { signing: 0, trusted: [0, 1] }, { signing: 1, trusted: [0, 1] })).toMatch(/caSigning 1, .* last ran with caSigning 0,/);
});

test("a primary stack whose last run predates a secret of the bundle is named, with the fix, before anything renders", () => {
    const exported = primaryStackOutputs().sharedSecrets as any;
    expect(bundleGap("org/nextcloud-ha/dc1", exported)).toBeUndefined();
    const older = { ...exported, haproxy: undefined };
    expect(bundleGap("org/nextcloud-ha/dc1", older)).toBe(
        "the primary stack org/nextcloud-ha/dc1 exports no HAProxy stats password yet (its last `pulumi up` predates it); run `pulumi up` on org/nextcloud-ha/dc1 first",
    );
});
