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
import { placeholderInputs } from "../render/placeholders";
import { listStacks, readStackConfig } from "../plan/stackFiles";

function usage(): never {
    console.error(`usage: npm run render -- <stack> --out DIR   (stacks: ${listStacks().join(", ")})`);
    process.exit(2);
}

function main(argv: string[]): void {
    const outAt = argv.indexOf("--out");
    const out = outAt >= 0 ? argv[outAt + 1] : undefined;
    const stack = argv.find((a, i) => !a.startsWith("--") && i !== outAt + 1);
    if (!stack || !out) usage();
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
        fs.writeFileSync(userData, renderCloudInit(host, rendered, config.sshAuthorizedKeys));
        console.log(`${host.name} (${host.roles.join(", ")}, ${host.address}): ${rendered.files.length} files + cloud-init user data -> ${dir}`);
    }
}

try {
    main(process.argv.slice(2));
} catch (e) {
    console.error(`render: ${(e as Error).message}`);
    process.exit(1);
}
