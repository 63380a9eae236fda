/** `npm run check`: the offline check passes the committed stacks and fails a violating one. */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { twoSiteConfig } from "../helpers/configs";
import { sealKeyFingerprint, sealKeyPairFrom } from "../../render/seal";

const ROOT = path.join(__dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");

function check(args: string[], stackDir?: string) {
    const r = spawnSync(TSX, [path.join(ROOT, "scripts", "check.ts"), ...args], {
        encoding: "utf8",
        env: { ...process.env, ...(stackDir ? { NCHA_STACK_DIR: stackDir } : {}) },
        timeout: 60000,
    });
    return { status: r.status, out: r.stdout + r.stderr };
}

test("the committed stacks pass every rule, with the planned VMs, a mermaid diagram and the failure matrix", () => {
    const r = check([]);
    expect(r.out).toContain("check: 3 stacks pass");
    expect(r.out).toMatch(/dc1-db1 +node pve-dc1 vmId 1102 4 cores 8192 MB/);
    expect(r.out).toContain("```mermaid");
    expect(r.out).toContain("| failure | etcd | patroni | haproxy | recovery | promised | drill |");
    expect(r.out).toContain("| site dc1 | ✓ | ✓ | ✓ | automatic | yes | site-loss |");
    expect(r.out).toContain("Deploy order: dc1, then dc2 (after dc1: dc2 reads the shared secrets from dc1's stack outputs), then dc3");
    expect(r.status).toBe(0);
}, 60000);

test("a config change shows in two checks as the changed trigger of exactly its host's step, and nothing else", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-check-steps-"));
    try {
        for (const f of fs.readdirSync(ROOT).filter((x) => /^Pulumi\..*yaml$/.test(x))) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
        const before = check(["dc1"], dir);
        const project = parse(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8"));
        project.config.haproxy = { value: { checkIntervalMs: 2000 } };
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), stringify(project));
        const after = check(["dc1"], dir);
        expect(before.status).toBe(0);
        expect(after.status).toBe(0);
        const lines = (out: string) => out.split("\n");
        const removed = lines(before.out).filter((l) => !lines(after.out).includes(l));
        const added = lines(after.out).filter((l) => !lines(before.out).includes(l));
        expect(removed).toEqual([expect.stringMatching(/^ {6}\/etc\/haproxy\/haproxy.cfg 0600 root:root sha256:[0-9a-f]{16}$/)]);
        expect(added).toEqual([expect.stringMatching(/^ {6}\/etc\/haproxy\/haproxy.cfg 0600 root:root sha256:[0-9a-f]{16}$/)]);
        // ... under dc1-lb1's step.
        const after1 = lines(after.out);
        const at = after1.indexOf(added[0]);
        expect(
            after1
                .slice(0, at)
                .reverse()
                .find((l) => /^ {2}\S/.test(l)),
        ).toBe("  dc1-lb1-converge-haproxy");
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}, 120000);

test("sealed parts: the check passes stacks whose plan gives each site a seal key (their private halves encrypted), names each key, and no host receives anything else", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-check-sealed-"));
    try {
        for (const f of fs.readdirSync(ROOT).filter((x) => /^Pulumi\..*yaml$/.test(x))) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
        const before = check(["dc2", "dc3"], dir);
        const project = parse(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8"));
        project.config.sites.value.dc2.sealKey = sealKeyPairFrom(Buffer.alloc(32, 2)).publicKey;
        project.config.sites.value.dc3.sealKey = sealKeyPairFrom(Buffer.alloc(32, 3)).publicKey;
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), stringify(project));
        for (const stack of ["dc2", "dc3"]) {
            const file = path.join(dir, `Pulumi.${stack}.yaml`);
            const config = parse(fs.readFileSync(file, "utf8"));
            config.config["nextcloud-ha:sealPrivateKey"] = { secure: "v1:bm90IGEga2V5" };
            fs.writeFileSync(file, stringify(config));
        }
        const after = check(["dc2", "dc3"], dir);
        expect(before.status).toBe(0);
        expect(after.status).toBe(0);
        expect(before.out).toContain("Shared secrets (dc1's outputs): dc2, dc3 in the clear");
        const fp = (n: number) => sealKeyFingerprint(sealKeyPairFrom(Buffer.alloc(32, n)).publicKey);
        expect(after.out).toContain(`Shared secrets (dc1's outputs): dc2 sealed to key ${fp(2)}; dc3 sealed to key ${fp(3)}`);
        const rest = (out: string) => out.split("\n").filter((l) => !l.startsWith("Shared secrets"));
        expect(rest(after.out)).toEqual(rest(before.out));
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}, 120000);

test("--json: the stacks' findings and the failure matrix, for tools", () => {
    const r = spawnSync(TSX, [path.join(ROOT, "scripts", "check.ts"), "dc1", "--json"], { encoding: "utf8", timeout: 60000 });
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.stacks.map((s: { stack: string }) => s.stack)).toEqual(["dc1"]);
    const site = doc.failureMatrix.rows.find((row: { failure: { id: string } }) => row.failure.id === "site dc1");
    expect(site).toMatchObject({ recovery: "automatic", promised: true, drill: "site-loss" });
}, 60000);

test("--help answers with the usage; an unknown flag or stack is refused in one line, exit 2", () => {
    const help = check(["--help"]);
    expect(help.status).toBe(0);
    expect(help.out).toMatch(/^usage: npm run check -- \[stack\.\.\.\|--all\] \[--json\]/);
    for (const [args, message] of [
        [["--bogus"], /^check: Unknown option '--bogus'; see --help\n$/],
        [["dc9"], /^check: no stack file for dc9 in .* \(stacks: dc1, dc2, dc3\)\n$/],
    ] as [string[], RegExp][]) {
        const r = check(args);
        expect(r.status).toBe(2);
        expect(r.out).toMatch(message);
    }
}, 60000);

test("the two-site example passes every rule: dc2 a standby cluster of dc1, quorums spread over Proxmox nodes; its matrix names the promotion", () => {
    const r = check(["--all"], path.join(ROOT, "examples", "two-site"));
    expect(r.out).toContain("check: 2 stacks pass");
    expect(r.out).toContain("nextcloud-dc2 is a standby cluster of nextcloud");
    expect(r.out).toContain("| site dc1 | ✗ | ✗ | ✗ | ✗ | one command: npm run promote -- dc2 --confirm-fenced dc1 | no | dc-promotion |");
    expect(r.out).toContain("| link dc1-dc2 |");
    // dc1's one HAProxy is a service gap: a warning, not a refusal.
    expect(r.out).toMatch(/\[failure-domains-service\] losing host dc1-lb1 leaves no haproxy: /);
    expect(r.status).toBe(0);
}, 60000);

test("a plan that leaves no promotable Patroni member after a failure it promises to survive is refused, naming the failure and the role", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-check-"));
    try {
        // Two-site with one Patroni member per site: losing dc1-db1 leaves dc1 without a primary.
        const project = parse(fs.readFileSync(path.join(ROOT, "examples", "two-site", "Pulumi.yaml"), "utf8"));
        project.config.sites.value.dc1.hosts = project.config.sites.value.dc1.hosts.filter((h: { name: string }) => h.name !== "dc1-db2");
        project.config.sites.value.dc1.hosts.push({ name: "dc1-etcd2", vmId: 2112, address: "10.10.1.12", roles: ["etcd"], proxmoxNode: "pve-dc1b" });
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), stringify(project));
        fs.copyFileSync(path.join(ROOT, "examples", "two-site", "Pulumi.dc1.yaml"), path.join(dir, "Pulumi.dc1.yaml"));
        const r = check(["dc1"], dir);
        expect(r.status).toBe(1);
        const lines = r.out.split("\n").filter((l) => l.includes("[failure-domains]"));
        // The host, and the Proxmox node it shares with dc1-lb1: one line each.
        expect(lines).toHaveLength(2);
        expect(lines[0]).toMatch(
            /^  \[failure-domains\] nextcloud-ha:index:FailureDomains::dc1-failure-domains: losing host dc1-db1 leaves no patroni: .*; give dc1 a second Patroni member/,
        );
        expect(lines[1]).toMatch(/: losing node dc1\/pve-dc1a leaves no patroni: /);
        expect(r.out).toContain("check: 1 of 1 stacks fail");
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}, 60000);

test("a quorum on a single Proxmox node fails with the rule's message", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-check-"));
    try {
        // Two-site: each site's three etcd members on the site's one Proxmox node.
        const project = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
        const two = twoSiteConfig() as any;
        project.config.topology = "two-site";
        project.config.sites.value = two.sites;
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), stringify(project));
        fs.copyFileSync(path.join(ROOT, "Pulumi.dc1.yaml"), path.join(dir, "Pulumi.dc1.yaml"));
        const r = check(["dc1"], dir);
        expect(r.status).toBe(1);
        expect(r.out).toContain("[quorum-spread] nextcloud-ha:index:EtcdQuorum::dc1-etcd");
        expect(r.out).toContain("set proxmoxNode on the hosts");
        expect(r.out).toContain("check: 1 of 1 stacks fail");
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}, 60000);
