/**
 * Command-line arguments for every `npm run` command, with Node's own parser (util.parseArgs,
 * strict): `--help` prints the usage and exits 0; an unknown flag, a missing value or a
 * stray argument is one line naming it, the usage hint, and exit 2 (nothing was done).
 * No Pulumi here: the lab's commands use it too.
 */
import { parseArgs, ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** The parsed flags and positionals; exits on --help and on bad input. */
export function parseCommandLine<O extends Options>(
    command: string,
    usage: string,
    argv: string[],
    options: O,
    positionals: { min: number; max: number } = { min: 0, max: 0 },
): { values: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>["values"]; positionals: string[] } {
    if (argv.includes("--help") || argv.includes("-h")) {
        console.log(usage);
        process.exit(0);
    }
    const refuse = (message: string): never => {
        console.error(`${command}: ${message}; see --help`);
        process.exit(2);
    };
    try {
        const parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
        if (parsed.positionals.length < positionals.min) refuse(`missing argument (${usage.split("\n")[0].replace(/^usage: /, "")})`);
        if (parsed.positionals.length > positionals.max) refuse(`unexpected argument ${JSON.stringify(parsed.positionals[positionals.max])}`);
        return parsed;
    } catch (e) {
        // Node's messages name the flag: "Unknown option '--foo'", "Option '--out <value>' argument missing".
        return refuse((e as Error).message.replace(/\. To specify a positional argument.*$/, "").replace(/\.$/, ""));
    }
}

/** A whole number flag within bounds, or the fallback; bad values refused like bad flags. */
export function wholeNumber(command: string, name: string, value: string | undefined, fallback: number, min: number, max: number): number {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
        console.error(`${command}: --${name} takes a whole number from ${min} to ${max}, got ${JSON.stringify(value)}; see --help`);
        process.exit(2);
    }
    return n;
}
