/** dc2 reads the shared secrets from dc1's stack instead of creating its own. */
import { parse } from "yaml";
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

test("dc2's Patroni member uses dc1's passwords and certificates signed by dc1's CA", () => {
    const patroni = parse(hostFile(run, "dc2-db1", "/etc/patroni/config.yml"));
    const shared = primaryStackOutputs().sharedSecrets as any;
    expect(patroni.postgresql.authentication.superuser.password).toBe(shared.database.superuserPassword);
    const signed = run.byType("tls:index/locallySignedCert:LocallySignedCert").find((r) => r.name === "dc2-db1-etcd-tls-cert")!;
    expect(JSON.stringify(signed.inputs.caCertPem)).toContain("primary-ca-cert");
    const plain = JSON.stringify(run.resources.map((r) => plainParts(r.inputs)));
    expect(plain).not.toContain(shared.caKeyPem.trim().split("\n")[1]);
    expect(plain).not.toContain(shared.database.superuserPassword);
});

test("dc2's hosts trust what dc1 exports as its trust bundle (two CAs during a rotation), and dc1's signing CA alone from a dc1 that exports none", async () => {
    expect(hostFile(run, "dc2-etcd1", "/etc/etcd/pki/ca.crt")).toBe(primaryStackOutputs().etcdCaCertPem);
    const bundle =
        "-----BEGIN CERTIFICATE-----\nprimary-ca-cert\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nprimary-ca-1\n-----END CERTIFICATE-----\n";
    const rotating = await runProgram("dc2", {}, { ...primaryStackOutputs(), caTrustPem: bundle });
    expect(hostFile(rotating.run, "dc2-etcd1", "/etc/etcd/pki/ca.crt")).toBe(bundle);
    expect(hostFile(rotating.run, "dc2-db1", "/etc/patroni/pki/ca.crt")).toBe(bundle);
});
