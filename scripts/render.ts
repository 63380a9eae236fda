/**
 * `npm run render -- <stack> --out DIR`: writes every file each host of the stack would
 * receive, plus its cloud-init user data, with secrets replaced by marked placeholders.
 * Needs neither Proxmox nor the Pulumi CLI.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { renderCloudInit } from "../render/cloudInit";
import { renderHost } from "../render/host";
import { loadPlan } from "../plan/load";
import { hostsOf } from "../plan/plan";
import { placeholderHostKey, placeholderInputs } from "../render/placeholders";
import { listStacks, readStackConfig } from "../plan/stackFiles";
import { parseCommandLine } from "../ops/args";

const USAGE = `usage: npm run render -- <stack> --out DIR
  writes, per host of the stack's site, every file the VM receives and its cloud-init user
  data into DIR/<host>/, secrets replaced by marked placeholders (stacks: ${listStacks().join(", ")})`;

function main(argv: string[]): void {
    const { values, positionals } = parseCommandLine("render", USAGE, argv, { out: { type: "string" } }, { min: 1, max: 1 });
    const stack = positionals[0];
    const out = values.out;
    if (!out) {
        console.error("render: --out DIR is required: where to write the hosts' files; see --help");
        process.exit(2);
    }
    const { config, plan } = loadPlan(readStackConfig(stack));
    for (const host of hostsOf(plan, { site: config.site })) {
        const rendered = renderHost(plan, host, placeholderInputs(host));
        const dir = path.join(out, host.name);
        for (const f of rendered.files) {
            const target = path.join(dir, f.path);
            fs.mkdirSync(path.dirname(target), { recursive: true });
            fs.writeFileSync(target, f.content, { mode: 0o644 });
        }
        const userData = path.join(dir, "cloud-init", "user-data.yaml");
        fs.mkdirSync(path.dirname(userData), { recursive: true });
        fs.writeFileSync(
            userData,
            renderCloudInit(host, rendered, { sshAuthorizedKeys: config.sshAuthorizedKeys, sshUser: config.sshUser, hostKey: placeholderHostKey(host.name) }),
        );
        console.log(`${host.name} (${host.roles.join(", ")}, ${host.address}): ${rendered.files.length} files + cloud-init user data -> ${dir}`);
    }
}

try {
    main(process.argv.slice(2));
} catch (e) {
    console.error(`render: ${(e as Error).message}`);
    process.exit(1);
}
