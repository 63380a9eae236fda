import * as pulumi from "@pulumi/pulumi";
import { settled, setupMocks, valueOf } from "../../scripts/mockRuntime";

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
 * Runs the stack program once, in its own module registry and its own root stack resource,
 * under the mocks; records every resource's parent and `dependsOn` through a stack
 * transformation (the mock engine does not see them); waits for every resource.
 */
export async function runProgram(stack: string, overrides: Record<string, unknown>, primaryOutputs?: Record<string, unknown>) {
    const run = setupMocks(stack, overrides, primaryOutputs);
    const declared: Declared[] = [];
    let program: typeof import("../../index") | undefined;
    await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((a) => {
            const deps = a.opts.dependsOn === undefined ? [] : ([] as unknown[]).concat(a.opts.dependsOn);
            declared.push({ type: a.type, name: a.name, parent: nameOf(a.opts.parent), dependsOn: deps.map((d) => nameOf(d) ?? "?") });
            return undefined;
        });
        await jest.isolateModulesAsync(async () => {
            program = await import("../../index");
        });
        return {};
    });
    await valueOf(program!.etcdClientEndpoints);
    await settled(run, 500);
    /** The names `name` waits for, directly or through its ancestors' dependsOn. */
    const waitsFor = (name: string): string[] => {
        const d = declared.find((x) => x.name === name);
        if (!d) throw new Error(`no resource named ${name} was declared`);
        return [...d.dependsOn, ...(d.parent && d.parent !== `nextcloud-ha-${stack}` ? waitsFor(d.parent) : [])];
    };
    return { run, program: program!, declared, waitsFor };
}
