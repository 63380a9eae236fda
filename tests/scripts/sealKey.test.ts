/** `npm run -s seal-key -- SITE`: the private half to a pipe only, the public half (the plan's form) on standard error. */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { SEAL_KEY_RE } from "../../plan/sealKey";
import { sealPublicKeyOf } from "../../render/seal";

const ROOT = path.join(__dirname, "..", "..");
const run = (args: string[], input?: string) =>
    spawnSync(path.join(ROOT, "node_modules", ".bin", "tsx"), [path.join(ROOT, "scripts", "sealKey.ts"), ...args], { encoding: "utf8", input });

test("a key pair: the private half (PEM) on a pipe, its public half for sites.SITE.sealKey on standard error; a new pair every time", () => {
    const a = run(["dc2"]);
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/);
    const line = a.stderr.match(/sites\.dc2:\n {4}sealKey: (\S+)/)![1];
    expect(line).toMatch(SEAL_KEY_RE);
    expect(sealPublicKeyOf(a.stdout)).toBe(line);
    expect(a.stderr).not.toContain(a.stdout.split("\n")[1]);
    expect(run(["dc2"]).stdout).not.toBe(a.stdout);
    // --public gives back the plan's line from the private half, to check a stack's key against the plan.
    const pub = run(["--public"], a.stdout);
    expect([pub.status, pub.stdout.split("\n")[0]]).toEqual([0, line]);
    const bad = run(["--public"], "not a key");
    expect([bad.status, bad.stdout, bad.stderr.trim()]).toEqual([
        2,
        "",
        "seal-key: standard input is not a PEM private key (make one with `npm run -s seal-key -- SITE`); see --help",
    ]);
}, 30000);

test("--help, a bad site name and a missing one: the usage, or one line and exit 2, nothing on standard output", () => {
    expect(run(["--help"]).stdout).toMatch(/^usage: npm run -s seal-key -- SITE/);
    const bad = run(["DC2"]);
    expect([bad.status, bad.stdout, bad.stderr.trim()]).toEqual([2, "", 'seal-key: "DC2" is not a site name (lower-case letters, digits, dashes); see --help']);
    const none = run([]);
    expect([none.status, none.stdout]).toEqual([2, ""]);
}, 30000);

test("on a terminal (a pty from script(1)) the private half is refused, with the pipe to use", () => {
    const tsx = path.join(ROOT, "node_modules", ".bin", "tsx");
    const r = spawnSync("script", ["-qec", `${tsx} ${path.join(ROOT, "scripts", "sealKey.ts")} dc2`, "/dev/null"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stdout).toContain("seal-key: standard output is a terminal");
    expect(r.stdout).toContain("| pulumi config set --secret nextcloud-ha:sealPrivateKey --stack");
    expect(r.stdout).not.toContain("PRIVATE KEY");
}, 30000);
