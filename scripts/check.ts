/**
 * `npm run check -- <stack>...` (or `--all`): the offline check. Runs the stack program
 * under the mock runtime with the stack's real config (mock values for secrets), evaluates
 * the policy pack's rules over every registered resource, prints the planned resources and
 * a mermaid diagram of the topology, and exits non-zero on any violation. No credentials.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { review } from "../policies/rules";
import { loadDeployment } from "../plan/load";
import { renderMermaid } from "../render/diagram";
import { listStacks, readStackConfig } from "../plan/stackFiles";
import { placeholderCertificate } from "../render/placeholders";
import { plainParts, settled, setupMocks } from "./mockRuntime";

const VM = "proxmoxve:index/vmLegacy:VmLegacy";

async function checkOne(stack: string): Promise<number> {
    // Secrets the stack holds encrypted (the wildcard certificate's key) are placeholders here.
    const raw = readStackConfig(stack);
    const cert = placeholderCertificate();
    const overrides = { tlsCertificate: raw.tlsCertificate ?? cert.cert, tlsKey: cert.key };
    const { config, plan } = loadDeployment({ ...raw, ...overrides }); // bad config: its one-line error, before anything else
    const run = setupMocks(stack, overrides);
    await import("../index");
    await settled(run);
    const resources = run.resources.map((r) => ({ type: r.type, name: r.name, props: plainParts(r.inputs) as Record<string, any> }));
    const lines = [`## stack ${stack} (site ${config.site}, ${config.topology})`, "", "Planned VMs:"];
    for (const vm of resources.filter((r) => r.type === VM)) {
        const p = vm.props;
        lines.push(`  ${p.name.padEnd(12)} node ${p.nodeName} vmId ${p.vmId} ${p.cpu.cores} cores ${p.memory.dedicated} MB disks ${p.disks.map((d: any) => `${d.size}G`).join("+")} ${p.initialization.ipConfigs[0].ipv4.address} tags ${p.tags.join(",")}`);
    }
    const counts = new Map<string, number>();
    for (const r of resources) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    lines.push("", "All resources:", ...[...counts].sort().map(([t, n]) => `  ${String(n).padStart(3)} ${t}`));
    lines.push("", "```mermaid", renderMermaid(plan), "```");
    const violations = review(resources);
    lines.push("", violations.length === 0 ? `policy: all rules pass over ${resources.length} resources` : `policy: ${violations.length} mandatory violations`);
    for (const v of violations) lines.push(`  [${v.rule}] ${v.resource}: ${v.message}`);
    console.log(lines.join("\n") + "\n");
    return violations.length === 0 ? 0 : 1;
}

function main(): void {
    const args = process.argv.slice(2);
    if (args[0] === "--one") {
        checkOne(args[1]).then(
            (code) => process.exit(code),
            (e) => (console.error(`check ${args[1]}: ${(e as Error).message}`), process.exit(1)),
        );
        return;
    }
    const stacks = args.includes("--all") || args.length === 0 ? listStacks() : args;
    const unknown = stacks.filter((s) => !listStacks().includes(s));
    if (unknown.length > 0) {
        console.error(`check: no stack file for ${unknown.join(", ")} (stacks: ${listStacks().join(", ")})`);
        process.exit(2);
    }
    // One process a stack, all at once: the stack program registers its resources at import time.
    const tsx = path.join(__dirname, "..", "node_modules", ".bin", "tsx");
    const runs = stacks.map(
        (stack) =>
            new Promise<{ code: number; out: string }>((resolve) => {
                const child = spawn(tsx, [__filename, "--one", stack], { stdio: ["ignore", "pipe", "pipe"] });
                let out = "";
                child.stdout.on("data", (c) => (out += c));
                child.stderr.on("data", (c) => (out += c));
                child.on("close", (code) => resolve({ code: code ?? 1, out }));
            }),
    );
    Promise.all(runs).then((results) => {
        for (const r of results) process.stdout.write(r.out);
        const failed = results.filter((r) => r.code !== 0).length;
        console.log(failed === 0 ? `check: ${stacks.length} stacks pass` : `check: ${failed} of ${stacks.length} stacks fail`);
        process.exit(failed === 0 ? 0 : 1);
    });
}

main();
