import * as pulumi from "@pulumi/pulumi";
import { deploySite } from "../../program";
import { settled, setupMocks } from "../../scripts/mockRuntime";

export * from "../../scripts/mockRuntime";

/** A resource as the program declared it: its parent and what it must wait for (resource names). */
export interface Declared {
    type: string;
    name: string;
    parent?: string;
    dependsOn: string[];
}

const nameOf = (r: unknown) => (r as { __name?: string } | undefined)?.__name;

/**
 * Runs the stack program (deploySite) once, in its own root stack resource, under the mocks
 * with the stack's config and `overrides`; records every resource's parent and `dependsOn`
 * through a stack transformation (the mock engine does not see them); waits for every resource.
 */
export async function runProgram(stack: string, overrides: Record<string, unknown> = {}, primaryOutputs?: Record<string, unknown>) {
    const run = setupMocks(stack, overrides, primaryOutputs);
    const declared: Declared[] = [];
    let program: ReturnType<typeof deploySite> | undefined;
    await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((a) => {
            const deps = a.opts.dependsOn === undefined ? [] : ([] as unknown[]).concat(a.opts.dependsOn);
            declared.push({ type: a.type, name: a.name, parent: nameOf(a.opts.parent), dependsOn: deps.map((d) => nameOf(d) ?? "?") });
            return undefined;
        });
        program = deploySite();
        return {};
    });
    await settled(run, 300);
    /** The names `name` waits for, directly or through its ancestors' dependsOn. */
    const waitsFor = (name: string): string[] => {
        const d = declared.find((x) => x.name === name);
        if (!d) throw new Error(`no resource named ${name} was declared`);
        return [...d.dependsOn, ...(d.parent && d.parent !== `nextcloud-ha-${stack}` ? waitsFor(d.parent) : [])];
    };
    return { run, program: program!, declared, waitsFor };
}
