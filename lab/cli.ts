/**
 * `npm run lab -- <command>`: the lab CLI. Bad input gets one line and a non-zero exit.
 */
import { drill, DRILLS, formatDrill } from "./drill";
import { fault, heal } from "./faults";
import { apply, down, up } from "./lifecycle";
import { formatStatus, status } from "./status";
import { LabError } from "./sh";
import { parseCommandLine, wholeNumber } from "../ops/args";
import { ConfigError } from "../plan/config";
import { StackFileError } from "../plan/stackFiles";

const USAGE = `usage: npm run lab -- <command>
  up [--topology three-site|two-site] [--wan-delay MS]
                                                boot the plan of the stack files (two-site: examples/two-site)
  status [--json]                               hosts, services, Patroni, etcd, HAProxy
  apply [--dry-run]                             converge the running lab to the stack files, as \`pulumi up\`
                                                does: the steps whose files changed, over SSH, in order
  down                                          stop everything the lab started
  fault <kind> <target>                         kill-postgres|kill-host|isolate-host HOST|primary,
                                                kill-site|isolate-site SITE|primary, slow-wan MS
  heal                                          undo every fault
  drill <scenario> [--trials N] [--json]        ${DRILLS.join(", ")}`;

async function main(argv: string[]): Promise<void> {
    if (argv.includes("--help") || argv.includes("-h")) return void console.log(USAGE);
    const [command, ...args] = argv;
    // Each command's flags and arguments, parsed as every npm run command parses them (ops/args.ts).
    const parse = <O extends Parameters<typeof parseCommandLine>[3]>(options: O, positionals = { min: 0, max: 0 }) =>
        parseCommandLine(`lab ${command}`, USAGE, args, options, positionals);
    switch (command) {
        case "up": {
            const { values } = parse({ topology: { type: "string" }, "wan-delay": { type: "string" } });
            const wanDelayMs = wholeNumber(`lab ${command}`, "wan-delay", values["wan-delay"] as string | undefined, 0, 0, 10000);
            return up({ topology: values.topology as string | undefined, wanDelayMs });
        }
        case "status": {
            const json = parse({ json: { type: "boolean" } }).values.json === true;
            const s = await status();
            console.log(json ? JSON.stringify(s, null, 2) : formatStatus(s));
            return;
        }
        case "down":
            parse({});
            return down();
        case "apply": {
            const dryRun = parse({ "dry-run": { type: "boolean" } }).values["dry-run"] === true;
            console.log(await apply({ dryRun }));
            return;
        }
        case "fault": {
            const [kind, target] = parse({}, { min: 1, max: 2 }).positionals;
            console.log(await fault(kind, target));
            return;
        }
        case "heal":
            parse({});
            console.log(await heal());
            return;
        case "drill": {
            const { values, positionals } = parse({ json: { type: "boolean" }, trials: { type: "string" } }, { min: 1, max: 1 });
            const trials = wholeNumber(`lab ${command}`, "trials", values.trials as string | undefined, 1, 1, 1000);
            const result = await drill(positionals[0], { trials });
            console.log(values.json === true ? JSON.stringify(result, null, 2) : formatDrill(result));
            if (result.trials.some((t) => !t.ok)) process.exitCode = 1;
            return;
        }
        case undefined:
        case "help":
        case "--help":
            console.log(USAGE);
            return;
        default:
            throw new LabError(`unknown command ${command}\n${USAGE}`);
    }
}

main(process.argv.slice(2)).catch((e) => {
    const bad = e instanceof LabError || e instanceof ConfigError || e instanceof StackFileError;
    console.error(`lab: ${bad ? e.message : ((e as Error).stack ?? e)}`);
    process.exit(1);
});
