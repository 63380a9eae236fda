import { deploySite } from "../../program";
import { MockRun, runInStack, settled, setupMocks } from "../../scripts/mockRuntime";

export * from "../../scripts/mockRuntime";

/**
 * Runs the stack program (deploySite) once, in its own root stack resource, under the mocks
 * with the stack's config and `overrides`; records every resource's parent and `dependsOn`
 * through a stack transformation (the mock engine does not see them); waits for every resource.
 */
export async function runProgram(stack: string, overrides: Record<string, unknown> = {}, primaryOutputs?: Record<string, unknown>, preview = false) {
    const run = setupMocks(stack, overrides, primaryOutputs, preview);
    const { result: program, declared } = await runInStack(deploySite);
    await settled(run, 300);
    /** The names `name` waits for: its dependsOn and its ancestors', and theirs in turn. */
    const waitsFor = (name: string, seen = new Set<string>()): string[] => {
        const d = declared.find((x) => x.name === name);
        if (!d) throw new Error(`no resource named ${name} was declared`);
        const direct = [...d.dependsOn, ...(d.parent && d.parent !== `nextcloud-ha-${stack}` ? [d.parent] : [])].filter((x) => !seen.has(x));
        for (const x of direct) seen.add(x);
        return [...new Set([...d.dependsOn, ...direct.flatMap((x) => [x, ...waitsFor(x, seen)])])];
    };
    return { run, program, declared, waitsFor };
}

/** A file as a host's converge steps write it. */
export interface ConvergedFile {
    path: string;
    mode: string;
    owner: string;
    content: string;
    /** The service whose step writes it. */
    service: string;
}

/** Every file a host receives, read back from its converge steps' scripts (their stdin, secret on the wire). */
export function hostFiles(run: MockRun, host: string): ConvergedFile[] {
    const steps = run.byType("command:remote:Command").filter((c) => c.name.startsWith(`${host}-converge-`));
    return steps.flatMap((c) => {
        const raw = c.inputs.stdin as { value?: string } | string;
        const script = typeof raw === "string" ? raw : raw.value!;
        return [...script.matchAll(/^put (\S+) (\d+) (\S+)(?: noapply)? <<'NCHA_B64'\n([\s\S]*?)\nNCHA_B64$/gm)].map((m) => ({
            path: m[1],
            mode: m[2],
            owner: m[3],
            content: Buffer.from(m[4].replace(/\n/g, ""), "base64").toString("utf8"),
            service: c.name.slice(`${host}-converge-`.length),
        }));
    });
}

/** One file a host receives; fails the test when the host receives no such file. */
export function hostFile(run: MockRun, host: string, path: string): string {
    const f = hostFiles(run, host).find((x) => x.path === path);
    if (!f)
        throw new Error(
            `${host} receives no ${path} (it receives ${
                hostFiles(run, host)
                    .map((x) => x.path)
                    .join(", ") || "nothing"
            })`,
        );
    return f.content;
}
