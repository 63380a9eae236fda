/** `npm run check`: the offline check passes the committed stacks and fails a violating one. */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { twoSiteConfig } from "../helpers/configs";

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

test("the committed stacks pass every rule, with the planned VMs and a mermaid diagram", () => {
    const r = check(["--all"]);
    expect(r.out).toContain("check: 3 stacks pass");
    expect(r.out).toMatch(/dc1-db1 +node pve-dc1 vmId 1102 4 cores 8192 MB/);
    expect(r.out).toContain("```mermaid");
    expect(r.status).toBe(0);
}, 60000);

test("the two-site example passes every rule: dc2 a standby cluster of dc1, quorums spread over Proxmox nodes", () => {
    const r = check(["--all"], path.join(ROOT, "examples", "two-site"));
    expect(r.out).toContain("check: 2 stacks pass");
    expect(r.out).toContain("nextcloud-dc2 is a standby cluster of nextcloud");
    expect(r.status).toBe(0);
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
