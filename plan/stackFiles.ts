/**
 * Reads the project's stack files the way Pulumi merges them (Pulumi.yaml's project-level
 * config, then Pulumi.<stack>.yaml on top), for the tools that run without the Pulumi CLI:
 * the render CLI, the lab and the offline checks. Secure values stay encrypted; nothing
 * here reads them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { CONFIG_KEYS, ConfigError, ConfigKey, PROJECT, RawConfig } from "./config";

export const REPO_ROOT = path.resolve(__dirname, "..");
/** Where the stack files are read from: the repository, unless NCHA_STACK_DIR names another folder. */
export const STACK_DIR = process.env.NCHA_STACK_DIR ?? REPO_ROOT;

/** A stack file that cannot be read as Pulumi reads it: the message names the file (and line), what is wrong and the fix. */
export class StackFileError extends Error {}

function readYaml(file: string): Record<string, unknown> {
    if (!fs.existsSync(file)) throw new StackFileError(`${file} does not exist`);
    let doc: unknown;
    try {
        // Duplicate keys are an error, as Pulumi treats them: which one wins would be silent.
        doc = parse(fs.readFileSync(file, "utf8"), { uniqueKeys: true });
    } catch (e) {
        const err = e as Error & { linePos?: { line: number; col: number }[] };
        const at = err.linePos?.[0] ? `:${err.linePos[0].line}:${err.linePos[0].col}` : "";
        throw new StackFileError(`${file}${at}: ${err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}; fix the YAML there`);
    }
    if (doc !== null && doc !== undefined && (typeof doc !== "object" || Array.isArray(doc)))
        throw new StackFileError(`${file}: expected a YAML mapping with a config section, got ${Array.isArray(doc) ? "a list" : typeof doc}`);
    return (doc ?? {}) as Record<string, unknown>;
}

/** The plan every stack shares: what a stack file must not set (it would make that stack's plan differ from the others'). */
const PROJECT_KEYS: readonly ConfigKey[] = [
    "topology",
    "primarySite",
    "activeSite",
    "sites",
    "managementNetworks",
    "patroni",
    "haproxy",
    "etcd",
    "certificates",
    "passwords",
    "packages",
    "gluster",
    "nextcloud",
    "sizes",
];

/** A project-level entry is a plain value, `{value: X}` or a schema with `default`. */
function projectValue(entry: unknown): unknown {
    if (typeof entry === "object" && entry !== null && !Array.isArray(entry)) {
        const e = entry as Record<string, unknown>;
        if ("value" in e) return e.value;
        if ("default" in e) return e.default;
    }
    return entry;
}

/** The key without this project's namespace; undefined for another package's (proxmoxve:...). A namespace that looks like a misspelling of this project's is refused. */
function ownKey(key: string, file: string): string | undefined {
    if (key.startsWith(`${PROJECT}:`)) return key.slice(PROJECT.length + 1);
    if (!key.includes(":")) return key;
    const namespace = key.slice(0, key.indexOf(":"));
    if (
        namespace
            .toLowerCase()
            .replace(/[^a-z]/g, "")
            .startsWith("nextcloud")
    )
        throw new StackFileError(
            `${file}: ${key}: unknown namespace ${JSON.stringify(namespace)} (Pulumi would ignore the key); write ${PROJECT}:${key.slice(namespace.length + 1)}`,
        );
    return undefined;
}

/** The site a stack file sets, if any (read without the rest of the config). */
function siteOf(file: string): unknown {
    const config = (readYaml(file).config ?? {}) as Record<string, unknown>;
    return config[`${PROJECT}:site`] ?? config.site;
}

/** The stacks that have a Pulumi.<stack>.yaml in the directory, sorted. */
export function listStacks(dir = STACK_DIR): string[] {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
        throw new StackFileError(
            `the stack directory ${dir} does not exist${dir === process.env.NCHA_STACK_DIR ? " (NCHA_STACK_DIR)" : ""}; point NCHA_STACK_DIR at a folder with Pulumi.yaml and Pulumi.<stack>.yaml, or unset it`,
        );
    return fs
        .readdirSync(dir)
        .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}

/** The merged raw config of a stack, keyed without the project prefix. */
export function readStackConfig(stack: string, dir = STACK_DIR): RawConfig {
    const stackFile = path.join(dir, `Pulumi.${stack}.yaml`);
    const stacks = listStacks(dir);
    if (!fs.existsSync(stackFile)) {
        throw new StackFileError(`no stack file ${path.basename(stackFile)} in ${dir}; the stacks here are ${stacks.join(", ") || "none"}`);
    }
    const raw: Record<string, unknown> = {};
    const project = (readYaml(path.join(dir, "Pulumi.yaml")).config ?? {}) as Record<string, unknown>;
    const layers: [Record<string, unknown>, boolean][] = [
        [project, true],
        [(readYaml(stackFile).config ?? {}) as Record<string, unknown>, false],
    ];
    for (const [layer, isProject] of layers) {
        const file = isProject ? "Pulumi.yaml" : path.basename(stackFile);
        for (const [key, entry] of Object.entries(layer)) {
            const own = ownKey(key, path.join(dir, file));
            if (own === undefined) continue; // another package's config (proxmoxve:...)
            if (!(own in CONFIG_KEYS)) {
                throw new ConfigError(own, `unknown key in ${file}; the keys are ${Object.keys(CONFIG_KEYS).join(", ")}`);
            }
            if (!isProject && PROJECT_KEYS.includes(own as ConfigKey))
                throw new ConfigError(
                    own,
                    `set in ${file}, but it is part of the plan every stack shares: move it to Pulumi.yaml's config (a stack's own value would make its plan differ from the other stacks')`,
                );
            // A secret in plain text in a stack file is readable by anyone who reads the repository; its value is never shown.
            if (CONFIG_KEYS[own as ConfigKey] === "secret" && !(typeof entry === "object" && entry !== null && "secure" in entry))
                throw new ConfigError(
                    own,
                    `is in plain text in ${file}, where anyone who reads it reads the secret: remove it, set it with \`pulumi config set --secret ${PROJECT}:${own}\`, and replace the secret (it has been exposed)`,
                );
            raw[own] = isProject ? projectValue(entry) : entry;
        }
    }
    // One stack per site: a second stack claiming a site would deploy its hosts twice.
    for (const other of stacks.filter((s) => s !== stack)) {
        if (raw.site !== undefined && siteOf(path.join(dir, `Pulumi.${other}.yaml`)) === raw.site)
            throw new ConfigError(
                "site",
                `${JSON.stringify(raw.site)} is already the site of stack ${other} (Pulumi.${other}.yaml); every site has one stack: set ${path.basename(stackFile)}'s site to its own`,
            );
    }
    return raw as RawConfig;
}
