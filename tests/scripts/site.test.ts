/**
 * `npm run promote` / `npm run rejoin` against the VMs: the refusals that come before any
 * network traffic (one line, exit 2). The steps themselves: tests/ops and tests/lab/twoSite.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");
const TWO_SITE = path.join(ROOT, "examples", "two-site");

function site(args: string[], stackDir?: string) {
    const env: NodeJS.ProcessEnv = { ...process.env, ...(stackDir ? { NCHA_STACK_DIR: stackDir } : {}) };
    const r = spawnSync(TSX, [path.join(ROOT, "scripts", "site.ts"), ...args], { encoding: "utf8", env, timeout: 60000 });
    return { status: r.status, stderr: r.stderr.trim() };
}

test.each([
    [["promote", "dc2", "--confirm-fenced", "dc1"], undefined, /^promote: the plan is three-site: its one Patroni cluster fails over between sites by itself/],
    [["promote", "dc2", "--confirm-fenced", "dc9"], TWO_SITE, /^promote: --confirm-fenced dc9: no such site \(sites: dc1, dc2\)$/],
    [["promote", "dc2", "--confirm-fenced"], TWO_SITE, /^promote: --confirm-fenced needs the site you fenced/],
    [["rejoin", "dc1", "--planned"], TWO_SITE, /^rejoin: --planned belongs to promote$/],
    [["promote"], TWO_SITE, /^promote: which site\?/],
])(
    "%j refuses before touching anything",
    (args, dir, message) => {
        const r = site(args as string[], dir as string | undefined);
        expect(r.status).toBe(2);
        expect(r.stderr).toMatch(message as RegExp);
    },
    60000,
);
