/**
 * `npm run lab -- <command>`: the lab CLI. Bad input gets one line and a non-zero exit.
 */
import { drill, DRILLS, formatDrill } from "./drill";
import { fault, heal } from "./faults";
import { apply, down, up } from "./lifecycle";
import { formatStatus, status } from "./status";
import { LabError } from "./sh";

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

function flag(args: string[], name: string): string | undefined {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) throw new LabError(`${name} needs a value`);
    args.splice(i, 2);
    return v;
}

function bool(args: string[], name: string): boolean {
    const i = args.indexOf(name);
    if (i >= 0) args.splice(i, 1);
    return i >= 0;
}

function int(name: string, v: string | undefined, fallback: number, min: number, max: number): number {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new LabError(`${name} takes a whole number from ${min} to ${max}, got ${v}`);
    return n;
}

function noMore(args: string[]): void {
    if (args.length > 0) throw new LabError(`unexpected argument ${args[0]}\n${USAGE}`);
}

async function main(argv: string[]): Promise<void> {
    if (argv.includes("--help") || argv.includes("-h")) return void console.log(USAGE);
    const [command, ...args] = argv;
    switch (command) {
        case "up": {
            const topology = flag(args, "--topology");
            const wanDelayMs = int("--wan-delay", flag(args, "--wan-delay"), 0, 0, 10000);
            noMore(args);
            return up({ topology, wanDelayMs });
        }
        case "status": {
            const json = bool(args, "--json");
            noMore(args);
            const s = await status();
            console.log(json ? JSON.stringify(s, null, 2) : formatStatus(s));
            return;
        }
        case "down":
            noMore(args);
            return down();
        case "apply": {
            const dryRun = bool(args, "--dry-run");
            noMore(args);
            console.log(await apply({ dryRun }));
            return;
        }
        case "fault": {
            const [kind, target, ...rest] = args;
            noMore(rest);
            console.log(await fault(kind ?? "", target));
            return;
        }
        case "heal":
            noMore(args);
            console.log(await heal());
            return;
        case "drill": {
            const json = bool(args, "--json");
            const trials = int("--trials", flag(args, "--trials"), 1, 1, 1000);
            const [scenario, ...rest] = args;
            noMore(rest);
            const result = await drill(scenario ?? "", { trials });
            console.log(json ? JSON.stringify(result, null, 2) : formatDrill(result));
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
    console.error(`lab: ${e instanceof LabError ? e.message : ((e as Error).stack ?? e)}`);
    process.exit(1);
});
