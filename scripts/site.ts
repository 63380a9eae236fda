/**
 * `npm run promote -- <site>` and `npm run rejoin -- <site>`: moving the primary between the
 * sites of a two-site deployment (docs/runbooks/two-site.md). Against the VMs by default
 * (the plan from the stack files; run it from a machine inside the plan's networks with SSH
 * to the hosts), or against the running lab with --lab.
 */
import { ConfigError } from "../plan/config";
import { loadPlan } from "../plan/load";
import { LabError } from "../lab/sh";
import { listStacks, readStackConfig, StackFileError } from "../plan/stackFiles";
import { promote } from "../ops/promote";
import { rejoin } from "../ops/rejoin";
import { checkTwoSite, PartialMoveError, SiteMoveError, SiteTransport } from "../ops/siteMove";
import { remoteTransport } from "../ops/remote";
import { DeploymentPlan } from "../plan/plan";

const USAGE = `usage: npm run promote -- <site> [--confirm-fenced SITE] [--planned] [--dry-run] [--lab]
       npm run rejoin -- <site> [--confirm-fenced SITE] [--dry-run] [--lab]
  promote   the site's standby cluster becomes the primary. Needs --confirm-fenced naming
            the other site (you fenced it: silence alone could be a cut link), or --planned
            (the other site is healthy: demote it first, lose nothing)
  rejoin    the site's cluster becomes a standby of the active site (failback, step one)
  --dry-run say what would be changed, change nothing
  --lab     act on the running lab (npm run lab -- up --topology two-site) instead of the VMs
Exit codes: 0 done; 2 refused, nothing changed; 3 failed after changing something (the
message says what was done and how to finish or undo it); 1 a bug.`;

async function target(lab: boolean): Promise<{ plan: DeploymentPlan; transport: SiteTransport }> {
    if (lab) {
        // Loaded only here: the lab needs root and its state; the VM path needs neither.
        const { requireState } = await import("../lab/state");
        const { labTransport } = await import("../lab/converge");
        const state = requireState();
        return { plan: state.plan, transport: labTransport(state) };
    }
    const stacks = listStacks();
    if (stacks.length === 0) throw new SiteMoveError("no Pulumi.<stack>.yaml here; run it from the project's directory");
    const { config, plan } = loadPlan(readStackConfig(stacks[0]));
    return { plan, transport: remoteTransport(config.sshUser) };
}

async function main(argv: string[]): Promise<void> {
    const [command, ...args] = argv;
    if (args.includes("--help") || args.includes("-h")) {
        console.log(USAGE);
        return;
    }
    const take = (name: string) => {
        const i = args.indexOf(name);
        if (i < 0) return false;
        args.splice(i, 1);
        return true;
    };
    const fenced: string[] = [];
    for (let i = args.indexOf("--confirm-fenced"); i >= 0; i = args.indexOf("--confirm-fenced")) {
        const v = args[i + 1];
        if (v === undefined || v.startsWith("--")) throw new SiteMoveError("--confirm-fenced needs the site you fenced, e.g. --confirm-fenced dc1");
        fenced.push(v);
        args.splice(i, 2);
    }
    const opts = { confirmFenced: fenced, planned: take("--planned"), dryRun: take("--dry-run"), say: (l: string) => console.log(`${command}: ${l}`) };
    const lab = take("--lab");
    const unknown = args.find((a) => a.startsWith("-"));
    if (unknown) throw new SiteMoveError(`unknown flag ${unknown}; the flags are --confirm-fenced SITE, --planned, --dry-run, --lab (see --help)`);
    const [site, ...rest] = args;
    if (!site || rest.length > 0 || site.startsWith("--")) throw new SiteMoveError(`${rest[0] ? `unexpected argument ${rest[0]}` : "which site?"}\n${USAGE}`);
    if (command !== "promote" && command !== "rejoin") throw new SiteMoveError(USAGE);
    if (command === "rejoin" && opts.planned) throw new SiteMoveError("--planned belongs to promote");
    const { plan, transport } = await target(lab);
    checkTwoSite(plan, site);
    for (const f of fenced)
        if (!plan.sites.some((s) => s.name === f))
            throw new SiteMoveError(`--confirm-fenced ${f}: no such site (sites: ${plan.sites.map((s) => s.name).join(", ")})`);
    switch (command) {
        case "promote": {
            const r = await promote(plan, transport, site, opts);
            console.log(`promote: ${site} is the primary site${r.leader ? ` (leader ${r.leader})` : ""}${opts.dryRun ? " (dry run: nothing changed)" : ""}`);
            return;
        }
        case "rejoin": {
            const r = await rejoin(plan, transport, site, opts);
            console.log(
                `rejoin: ${site} follows ${r.following}${r.streaming ? " and streams" : ""}; Gluster quorum ${r.glusterQuorum}${opts.dryRun ? " (dry run: nothing changed)" : ""}`,
            );
            return;
        }
        default:
            throw new SiteMoveError(USAGE);
    }
}

// Exit codes: 2 refused, nothing changed; 3 failed after changing something (the message says what, and how to finish or undo); 1 a bug.
main(process.argv.slice(2)).catch((e) => {
    const refused = e instanceof SiteMoveError || e instanceof ConfigError || e instanceof StackFileError || e instanceof LabError;
    const partial = e instanceof PartialMoveError;
    console.error(`${process.argv[2] ?? "site"}: ${refused || partial ? (e as Error).message : ((e as Error).stack ?? e)}`);
    process.exit(refused ? 2 : partial ? 3 : 1);
});
