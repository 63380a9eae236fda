import { deploySite } from "../../program";
import { runInStack, settled, setupMocks } from "../../scripts/mockRuntime";

export * from "../../scripts/mockRuntime";

/**
 * Runs the stack program (deploySite) once, in its own root stack resource, under the mocks
 * with the stack's config and `overrides`; records every resource's parent and `dependsOn`
 * through a stack transformation (the mock engine does not see them); waits for every resource.
 */
export async function runProgram(stack: string, overrides: Record<string, unknown> = {}, primaryOutputs?: Record<string, unknown>) {
    const run = setupMocks(stack, overrides, primaryOutputs);
    const { result: program, declared } = await runInStack(deploySite);
    await settled(run, 300);
    /** The names `name` waits for, directly or through its ancestors' dependsOn. */
    const waitsFor = (name: string): string[] => {
        const d = declared.find((x) => x.name === name);
        if (!d) throw new Error(`no resource named ${name} was declared`);
        return [...d.dependsOn, ...(d.parent && d.parent !== `nextcloud-ha-${stack}` ? waitsFor(d.parent) : [])];
    };
    return { run, program, declared, waitsFor };
}
