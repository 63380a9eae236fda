/**
 * `npm run check -- [stack...] [--json]`: the offline check. Runs the stack program under the
 * mock runtime with each stack's real config (mock values for secrets), evaluates the policy
 * pack's rules over every registered resource, and prints the planned VMs, each remote step
 * with its triggers (so two checks show which host's step a change reruns), a mermaid diagram
 * and the plan's failure matrix (what survives each single failure, and how service comes
 * back). Exits 1 on any mandatory violation, 2 on bad input. No credentials.
 */
import { DATA_ROLES, failureGaps, failureMatrix, FailureMatrix, formatMatrix, SERVICE_ROLES } from "../plan/failureDomains";
import { loadDeployment } from "../plan/load";
import { DeploymentPlan, siteByName } from "../plan/plan";
import { listStacks, readStackConfig, STACK_DIR } from "../plan/stackFiles";
import { review, Violation } from "../policies/rules";
import { renderMermaid } from "../render/diagram";
import { placeholderCertificate, placeholderSealKey } from "../render/placeholders";
import { sealKeyFingerprint } from "../render/seal";
import { RawConfig } from "../plan/config";
import { parseCommandLine } from "../ops/args";
import { reviewed, runInStack, settled, setupMocks } from "./mockRuntime";

const VM = "proxmoxve:index/vmLegacy:VmLegacy";

const USAGE = `usage: npm run check -- [stack...|--all] [--json]
  runs each stack's program offline (the mock runtime, placeholder secrets) with its stack
  file, checks every policy rule, and prints the planned VMs, each remote step with its
  triggers (run it before and after a change: a changed line is a step pulumi up runs, on that
  host), the topology as a mermaid
  diagram, and the failure matrix: for every host, Proxmox node, site (and in two-site the
  link between the sites), what survives and how service comes back. Every stack by default
  (the Pulumi.<stack>.yaml here; another directory: NCHA_STACK_DIR=DIR).
  --all    every stack (the default when none is named)
  --json   the same as one JSON document, for tools
Exit codes: 0 every mandatory rule passes; 1 a violation; 2 bad input.`;

interface StackReport {
    stack: string;
    site: string;
    vms: string[];
    /** Each remote step that places config (converge and cluster steps) with its triggers: between two checks, a changed line is a step `pulumi up` runs. */
    steps: Record<string, string[]>;
    resources: Record<string, number>;
    violations: Violation[];
}

/** Runs one stack's program under the mocks and reviews what it registers. */
async function checkStack(stack: string): Promise<{ report: StackReport; plan: DeploymentPlan }> {
    // Secrets the stack holds encrypted (the wildcard certificate's key) are placeholders here.
    // The certificate is public and checked as pulumi up checks it; the key is encrypted in the stack file, so only whether it is set counts.
    const raw = readStackConfig(stack);
    const overrides: RawConfig = raw.tlsKey === undefined ? {} : { tlsKey: placeholderCertificate().key };
    const { config, plan } = loadDeployment({ ...raw, ...overrides }); // bad config: its one-line error, before anything else
    // Likewise the private half of the site's seal key: the mocked primary seals the site's part to a placeholder pair's public half.
    const sealKey = siteByName(plan, config.site).sealKey;
    if (sealKey) {
        const sites = raw.sites as Record<string, Record<string, unknown>>;
        const pair = placeholderSealKey();
        overrides.sealPrivateKey = pair.privateKeyPem;
        overrides.sites = { ...sites, [config.site]: { ...sites[config.site], sealKey: pair.publicKey } };
    }
    const run = setupMocks(stack, overrides);
    // Loaded here, after the mocks: it imports the Pulumi SDK's runtime.
    const { deploySite } = await import("../program");
    const { declared } = await runInStack(deploySite);
    await settled(run);
    const resources = reviewed(run, declared);
    const vms = resources
        .filter((r) => r.type === VM)
        .map(({ props: p }) =>
            [
                p.name.padEnd(12),
                `node ${p.nodeName} vmId ${p.vmId} ${p.cpu.cores} cores ${p.memory.dedicated} MB`,
                `disks ${p.disks.map((d: { size: number }) => `${d.size}G`).join("+")} ${p.initialization.ipConfigs[0].ipv4.address} tags ${p.tags.join(",")}`,
            ].join(" "),
        );
    const counts: Record<string, number> = {};
    for (const r of resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
    const steps = Object.fromEntries(
        run
            .byType("command:remote:Command")
            .filter((c) => c.name.includes("-converge-") || c.name.endsWith("-cluster-config"))
            .map((c) => [c.name, (c.inputs.triggers as string[]).filter((t) => !t.startsWith("vm "))]),
    );
    return { report: { stack, site: config.site, vms, steps, resources: counts, violations: review(resources) }, plan };
}

function formatStack(r: StackReport, topology: string): string {
    const mandatory = r.violations.filter((v) => v.enforcement === "mandatory");
    const advisory = r.violations.filter((v) => v.enforcement === "advisory");
    const total = Object.values(r.resources).reduce((a, b) => a + b, 0);
    return [
        `## stack ${r.stack} (site ${r.site}, ${topology})`,
        "",
        "Planned VMs:",
        ...r.vms.map((v) => `  ${v}`),
        "",
        "Remote steps and their triggers (compare two checks: a changed line is a step `pulumi up` runs; files by hash, never content):",
        ...Object.entries(r.steps).flatMap(([name, triggers]) => [`  ${name}`, ...triggers.map((t) => `      ${t}`)]),
        "",
        "All resources:",
        ...Object.entries(r.resources)
            .sort()
            .map(([t, n]) => `  ${String(n).padStart(3)} ${t}`),
        "",
        mandatory.length === 0 ? `policy: every mandatory rule passes over ${total} resources` : `policy: ${mandatory.length} mandatory violations`,
        ...mandatory.map((v) => `  [${v.rule}] ${v.resource}: ${v.message}`),
        ...(advisory.length > 0 ? [`policy: ${advisory.length} warnings (advisory rules)`, ...advisory.map((v) => `  [${v.rule}] ${v.message}`)] : []),
        "",
    ].join("\n");
}

/** How each other site reads its part of the shared secrets: sealed to its key, or in the clear from the primary's outputs. */
function sharedSecretsLine(plan: DeploymentPlan): string {
    const others = plan.sites.filter((s) => s.name !== plan.primarySite);
    const clear = others.filter((s) => !s.sealKey).map((s) => s.name);
    const sealed = others.filter((s) => s.sealKey).map((s) => `${s.name} sealed to key ${sealKeyFingerprint(s.sealKey!)}`);
    return (
        `Shared secrets (${plan.primarySite}'s outputs): ` +
        [
            ...sealed,
            ...(clear.length
                ? [`${clear.join(", ")} in the clear, every secret in every stack's state (give each a seal key: npm run -s seal-key -- --help)`]
                : []),
        ].join("; ")
    );
}

function formatPlan(plan: DeploymentPlan, matrix: FailureMatrix): string {
    const data = failureGaps(matrix, DATA_ROLES);
    const service = failureGaps(matrix, SERVICE_ROLES);
    return [
        `## the plan (${plan.topology}, sites ${plan.sites.map((s) => s.name).join(", ")}, active site ${plan.activeSite})`,
        "",
        "Deploy order: " +
            plan.deployOrder
                .map(
                    (s) =>
                        `${s.site}${s.pass === 2 ? " again" : ""}${s.after.length ? ` (after ${s.after.map((a) => `${a.site}: ${a.why}`).join("; ")})` : ""}`,
                )
                .join(", then "),
        "",
        sharedSecretsLine(plan),
        "",
        "```mermaid",
        renderMermaid(plan),
        "```",
        "",
        "Failure matrix: ✓ the role keeps a survivor, ✗ it has none; promised: the topology promises to recover by itself.",
        "",
        formatMatrix(matrix),
        "",
        data.length === 0 ? "Every promised failure leaves etcd a quorum, Patroni a promotable member and the files writable." : `Data gaps (refused):`,
        ...data.map((g) => `  ${g.message}`),
        ...(service.length > 0 ? ["Service gaps (warnings):", ...service.map((g) => `  ${g.message}`)] : []),
        "",
    ].join("\n");
}

async function main(argv: string[]): Promise<number> {
    const { values, positionals } = parseCommandLine("check", USAGE, argv, { json: { type: "boolean" }, all: { type: "boolean" } }, { min: 0, max: 99 });
    if (values.all && positionals.length > 0) {
        console.error(`check: --all checks every stack; drop it or the stack names (${positionals.join(", ")}); see --help`);
        return 2;
    }
    const known = listStacks();
    const stacks = positionals.length === 0 ? known : positionals;
    const unknown = stacks.filter((s) => !known.includes(s));
    if (known.length === 0) {
        console.error(`check: no Pulumi.<stack>.yaml in ${STACK_DIR}; run it from the project's directory, or set NCHA_STACK_DIR`);
        return 2;
    }
    if (unknown.length > 0) {
        console.error(`check: no stack file for ${unknown.join(", ")} in ${STACK_DIR} (stacks: ${known.join(", ")})`);
        return 2;
    }
    const reports: StackReport[] = [];
    let plan: DeploymentPlan | undefined;
    for (const stack of stacks) {
        const r = await checkStack(stack);
        reports.push(r.report);
        plan = r.plan;
    }
    const matrix = failureMatrix(plan!);
    const failed = reports.filter((r) => r.violations.some((v) => v.enforcement === "mandatory"));
    if (values.json) {
        console.log(JSON.stringify({ stacks: reports, plan: { topology: plan!.topology, deployOrder: plan!.deployOrder }, failureMatrix: matrix }, null, 2));
    } else {
        for (const r of reports) console.log(formatStack(r, plan!.topology));
        console.log(formatPlan(plan!, matrix));
        console.log(failed.length === 0 ? `check: ${stacks.length} stacks pass` : `check: ${failed.length} of ${stacks.length} stacks fail`);
    }
    return failed.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
        console.error(`check: ${e.message}`);
        process.exit(2);
    },
);
