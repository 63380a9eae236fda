/**
 * Bad input to the stack files and the command lines: one line that names the file or key, the
 * value and the fix; a non-zero exit; nothing written.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigError } from "../../plan/config";
import { readStackConfig, StackFileError } from "../../plan/stackFiles";

const ROOT = path.join(__dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");

function run(script: string, args: string[], stackDir?: string) {
    const r = spawnSync(TSX, [path.join(ROOT, script), ...args], {
        encoding: "utf8",
        env: { ...process.env, ...(stackDir ? { NCHA_STACK_DIR: stackDir } : {}) },
        timeout: 60000,
    });
    const lines = r.stderr.split("\n").filter((l) => l.trim() && !l.startsWith("npm warn"));
    return { status: r.status, stdout: r.stdout, lines };
}

/** A copy of the committed stack files, edited. */
function stackDir(edit: (dir: string) => void = () => undefined): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-bad-input-"));
    for (const f of fs.readdirSync(ROOT).filter((x) => /^Pulumi\..*yaml$/.test(x))) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
    edit(dir);
    return dir;
}
const append = (dir: string, file: string, text: string) => fs.appendFileSync(path.join(dir, file), text);
const replace = (dir: string, file: string, from: string | RegExp, to: string) => {
    const p = path.join(dir, file);
    const before = fs.readFileSync(p, "utf8");
    const after = before.replace(from, to);
    if (after === before) throw new Error(`${file}: nothing to replace`);
    fs.writeFileSync(p, after);
};
const failure = (dir: string, stack = "dc1"): Error => {
    try {
        readStackConfig(stack, dir);
    } catch (e) {
        return e as Error;
    }
    throw new Error("expected the stack files to be refused");
};

test("a YAML syntax error names the file, line and column, in one line", () => {
    const dir = stackDir((d) => append(d, "Pulumi.dc2.yaml", "  nextcloud-ha:sshUser: [unclosed\n"));
    const e = failure(dir, "dc2");
    expect(e).toBeInstanceOf(StackFileError);
    expect(e.message).toMatch(new RegExp(`^${dir}/Pulumi\\.dc2\\.yaml:\\d+:\\d+: .*; fix the YAML there$`));
    expect(e.message.split("\n")).toHaveLength(1);
});

test("a duplicate key is refused with the file (which one wins would be silent)", () => {
    const dir = stackDir((d) => append(d, "Pulumi.dc1.yaml", "  nextcloud-ha:site: dc2\n"));
    const e = failure(dir);
    expect(e).toBeInstanceOf(StackFileError);
    expect(e.message).toMatch(/Pulumi\.dc1\.yaml:\d+:\d+: Map keys must be unique/);
});

test("a stack file that sets a key of the shared plan is refused, naming the key, the file and where it belongs", () => {
    const dir = stackDir((d) => append(d, "Pulumi.dc2.yaml", "  nextcloud-ha:patroni:\n    ttl: 60\n"));
    const e = failure(dir, "dc2");
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe(
        "nextcloud-ha:patroni: set in Pulumi.dc2.yaml, but it is part of the plan every stack shares: move it to Pulumi.yaml's config (a stack's own value would make its plan differ from the other stacks')",
    );
});

test("a key under a misspelt namespace is refused (Pulumi would ignore it); other packages' keys are left alone", () => {
    const dir = stackDir((d) => append(d, "Pulumi.dc1.yaml", "  nextcloud_ha:sshUser: admin\n"));
    expect(failure(dir).message).toMatch(
        /Pulumi\.dc1\.yaml: nextcloud_ha:sshUser: unknown namespace "nextcloud_ha" \(Pulumi would ignore the key\); write nextcloud-ha:sshUser$/,
    );
    const fine = stackDir((d) => append(d, "Pulumi.dc1.yaml", "  docker:host: ssh://x\n"));
    expect(readStackConfig("dc1", fine).site).toBe("dc1");
});

test("a secret written in plain text in a stack file is refused without showing it; one set with --secret is taken", () => {
    const dir = stackDir((d) => append(d, "Pulumi.dc2.yaml", "  nextcloud-ha:sealPrivateKey: plain-private-key-Qz81\n"));
    const e = failure(dir, "dc2");
    expect(e.message).toBe(
        "nextcloud-ha:sealPrivateKey: is in plain text in Pulumi.dc2.yaml, where anyone who reads it reads the secret: remove it, set it with `pulumi config set --secret nextcloud-ha:sealPrivateKey`, and replace the secret (it has been exposed)",
    );
    expect(e.message).not.toContain("Qz81");
    const secure = stackDir((d) => append(d, "Pulumi.dc2.yaml", "  nextcloud-ha:tlsKey:\n    secure: v1:bm90IGEga2V5\n"));
    expect(readStackConfig("dc2", secure).tlsKey).toEqual({ secure: "v1:bm90IGEga2V5" });
});

test("a stack claiming a site another stack owns is refused, naming both", () => {
    const dir = stackDir((d) => replace(d, "Pulumi.dc3.yaml", /nextcloud-ha:site: dc3/, "nextcloud-ha:site: dc2"));
    const e = failure(dir, "dc3");
    expect(e.message).toBe(
        'nextcloud-ha:site: "dc2" is already the site of stack dc2 (Pulumi.dc2.yaml); every site has one stack: set Pulumi.dc3.yaml\'s site to its own',
    );
});

test("a missing stack directory is one line naming it and NCHA_STACK_DIR, not a stack trace", () => {
    for (const script of ["scripts/render.ts", "scripts/check.ts"]) {
        const r = run(script, script.includes("render") ? ["dc1", "--out", "/tmp/ncha-never"] : [], "/nonexistent/stacks");
        expect(r.status).not.toBe(0);
        expect(r.lines).toEqual([
            expect.stringMatching(/^(render|check): the stack directory \/nonexistent\/stacks does not exist \(NCHA_STACK_DIR\); point NCHA_STACK_DIR at/),
        ]);
    }
    expect(fs.existsSync("/tmp/ncha-never")).toBe(false);
}, 60000);

test("render: --out naming a file, or a path in the way, is refused before anything is written", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-render-out-"));
    const file = path.join(out, "a-file");
    fs.writeFileSync(file, "");
    const r = run("scripts/render.ts", ["dc1", "--out", file]);
    expect(r.status).toBe(1);
    expect(r.lines).toEqual([`render: --out ${file} is a file; name a directory (it is created if missing)`]);
    // A later host's path blocked by a file: the earlier hosts are not written either.
    const dir = path.join(out, "site");
    fs.mkdirSync(path.join(dir, "dc1-lb1", "etc", "haproxy"), { recursive: true });
    fs.mkdirSync(path.join(dir, "dc1-lb1", "etc", "haproxy", "haproxy.cfg"));
    const blocked = run("scripts/render.ts", ["dc1", "--out", dir]);
    expect(blocked.status).toBe(1);
    expect(blocked.lines).toEqual([expect.stringMatching(/^render: .*dc1-lb1\/etc\/haproxy\/haproxy\.cfg is in the way \(not a file\)/)]);
    expect(fs.readdirSync(dir)).toEqual(["dc1-lb1"]);
}, 60000);

test("check: --all with stack names is refused; a site with NGINX and no certificate fails as pulumi up would (no placeholder)", () => {
    const both = run("scripts/check.ts", ["dc1", "--all"]);
    expect(both.status).toBe(2);
    expect(both.lines).toEqual(["check: --all checks every stack; drop it or the stack names (dc1); see --help"]);
    const { appTierConfig, writeStackDir } = require("../helpers/configs") as typeof import("../helpers/configs");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-check-cert-"));
    writeStackDir(dir, appTierConfig());
    const r = run("scripts/check.ts", ["dc1"], dir);
    expect(r.status).toBe(2);
    expect(r.lines).toEqual([expect.stringMatching(/^check: nextcloud-ha:tlsCertificate: missing or not a PEM certificate; site dc1 terminates TLS/)]);
}, 60000);

test("lab: an unknown or misspelt flag is named itself, not blamed on the argument after it", () => {
    const lab = (...args: string[]) => run("lab/cli.ts", args);
    expect(lab("drill", "--trails", "3", "site-loss").lines).toEqual(["lab drill: Unknown option '--trails'; see --help"]);
    expect(lab("drill", "site-loss", "--trials").lines).toEqual(["lab drill: Option '--trials <value>' argument missing; see --help"]);
    expect(lab("drill", "site-loss", "--trials", "x").lines).toEqual(['lab drill: --trials takes a whole number from 1 to 1000, got "x"; see --help']);
    expect(lab("status", "extra").lines).toEqual(['lab status: unexpected argument "extra"; see --help']);
    expect(lab("drill", "--trails", "3", "site-loss").status).toBe(2);
}, 60000);
