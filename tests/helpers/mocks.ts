import { settled, setupMocks, valueOf } from "../../scripts/mockRuntime";

export * from "../../scripts/mockRuntime";

/** Runs the stack program once, in its own module registry, under the mocks; waits for every resource. */
export async function runProgram(stack: string, overrides: Record<string, unknown>, primaryOutputs?: Record<string, unknown>) {
    const run = setupMocks(stack, overrides, primaryOutputs);
    let program: typeof import("../../index") | undefined;
    await jest.isolateModulesAsync(async () => {
        program = await import("../../index");
    });
    await valueOf(program!.etcdClientEndpoints);
    await settled(run, 500);
    return { run, program: program! };
}
