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
import { readStackConfig } from "../plan/stackFiles";
import { parseCommandLine } from "../ops/args";

const USAGE = `usage: npm run render -- <stack> --out DIR
  writes, per host of the stack's site, every file the VM receives and its cloud-init user
  data into DIR/<host>/, secrets replaced by marked placeholders (a stack: a Pulumi.<stack>.yaml
  here, or in NCHA_STACK_DIR). Nothing is written when anything fails.`;

function main(argv: string[]): void {
    const { values, positionals } = parseCommandLine("render", USAGE, argv, { out: { type: "string" } }, { min: 1, max: 1 });
    const stack = positionals[0];
    const out = values.out;
    if (!out) {
        console.error("render: --out DIR is required: where to write the hosts' files; see --help");
        process.exit(2);
    }
    if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new Error(`--out ${out} is a file; name a directory (it is created if missing)`);
    const { config, plan } = loadPlan(readStackConfig(stack));
    // Everything rendered first: a failure leaves nothing half-written.
    const hosts = hostsOf(plan, { site: config.site }).map((host) => {
        const rendered = renderHost(plan, host, placeholderInputs(host));
        const userData = renderCloudInit(host, rendered, {
            sshAuthorizedKeys: config.sshAuthorizedKeys,
            sshUser: config.sshUser,
            hostKey: placeholderHostKey(host.name),
        });
        const files = [...rendered.files.map((f) => ({ path: f.path, content: f.content })), { path: "/cloud-init/user-data.yaml", content: userData }];
        return { host, files, count: rendered.files.length };
    });
    for (const { host, files } of hosts)
        for (const f of files) {
            const target = path.join(out, host.name, f.path);
            if (fs.existsSync(target) && !fs.statSync(target).isFile())
                throw new Error(`${target} is in the way (not a file); remove it or pick another --out`);
        }
    for (const { host, files, count } of hosts) {
        const dir = path.join(out, host.name);
        for (const f of files) {
            const target = path.join(dir, f.path);
            fs.mkdirSync(path.dirname(target), { recursive: true });
            fs.writeFileSync(target, f.content, { mode: 0o644 });
        }
        console.log(`${host.name} (${host.roles.join(", ")}, ${host.address}): ${count} files + cloud-init user data -> ${dir}`);
    }
}

try {
    main(process.argv.slice(2));
} catch (e) {
    console.error(`render: ${(e as Error).message}`);
    process.exit(1);
}
