/**
 * Reads the project's stack files the way Pulumi merges them (Pulumi.yaml's project-level
 * config, then Pulumi.<stack>.yaml on top), for the tools that run without the Pulumi CLI:
 * the render CLI, the lab and the offline checks. Secure values stay encrypted; nothing
 * here reads them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { CONFIG_KEYS, ConfigError, PROJECT, RawConfig } from "./config";

export const REPO_ROOT = path.resolve(__dirname, "..");
/** Where the stack files are read from: the repository, unless NCHA_STACK_DIR names another folder. */
export const STACK_DIR = process.env.NCHA_STACK_DIR ?? REPO_ROOT;

function readYaml(file: string): Record<string, unknown> {
    if (!fs.existsSync(file)) throw new Error(`${file} does not exist`);
    const doc = parse(fs.readFileSync(file, "utf8"));
    return (doc ?? {}) as Record<string, unknown>;
}

/** A project-level entry is a plain value, `{value: X}` or a schema with `default`. */
function projectValue(entry: unknown): unknown {
    if (typeof entry === "object" && entry !== null && !Array.isArray(entry)) {
        const e = entry as Record<string, unknown>;
        if ("value" in e) return e.value;
        if ("default" in e) return e.default;
    }
    return entry;
}

function ownKey(key: string): string | undefined {
    if (key.startsWith(`${PROJECT}:`)) return key.slice(PROJECT.length + 1);
    return key.includes(":") ? undefined : key;
}

/** The stacks that have a Pulumi.<stack>.yaml in the directory, sorted. */
export function listStacks(dir = STACK_DIR): string[] {
    return fs
        .readdirSync(dir)
        .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}

/** The merged raw config of a stack, keyed without the project prefix. */
export function readStackConfig(stack: string, dir = STACK_DIR): RawConfig {
    const stackFile = path.join(dir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(stackFile)) {
        throw new Error(`no stack file ${path.basename(stackFile)}; the stacks here are ${listStacks(dir).join(", ") || "none"}`);
    }
    const raw: Record<string, unknown> = {};
    const project = (readYaml(path.join(dir, "Pulumi.yaml")).config ?? {}) as Record<string, unknown>;
    const layers: [Record<string, unknown>, boolean][] = [
        [project, true],
        [(readYaml(stackFile).config ?? {}) as Record<string, unknown>, false],
    ];
    for (const [layer, isProject] of layers) {
        for (const [key, entry] of Object.entries(layer)) {
            const own = ownKey(key);
            if (own === undefined) continue; // another package's config (proxmoxve:...)
            if (!(own in CONFIG_KEYS)) {
                throw new ConfigError(
                    own,
                    `unknown key in ${isProject ? "Pulumi.yaml" : path.basename(stackFile)}; the keys are ${Object.keys(CONFIG_KEYS).join(", ")}`,
                );
            }
            raw[own] = isProject ? projectValue(entry) : entry;
        }
    }
    return raw as RawConfig;
}
