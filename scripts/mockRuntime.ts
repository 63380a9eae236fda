/**
 * Runs the stack program under Pulumi's mock runtime with a stack's real config from its
 * stack file, and records every resource the program registers. Used by the tests and by
 * `npm run check`. Secrets are mock values, marked secret as the engine would mark them.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { ReviewedResource, SECRET_PLACEHOLDER } from "../policies/rules";
import { exportsInTheClear, IssuedIdentity, sealPart, sealTargets, SHARED_OUTPUTS } from "../components/sharedSecrets";
import { PROJECT, RawConfig } from "../plan/config";
import { loadPlan } from "../plan/load";
import { SecretsBundle } from "../render/secrets";
import { readStackConfig } from "../plan/stackFiles";

export interface Captured {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
}

/** The marker the SDK wraps secret values in when they cross into the engine. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";

export interface MockRun {
    resources: Captured[];
    /** Every secret value the mocks generated (passwords, private keys). */
    generatedSecrets: string[];
    byType(type: string): Captured[];
}

/** Values the mocked primary stack exports, for secondary stacks. */
export function primaryStackOutputs(sites: unknown = readStackConfig("dc1").sites): Record<string, unknown> {
    return {
        hostIdentities: identitiesOf(sites),
        sharedSecrets: {
            database: {
                superuserPassword: "primary-superuser-pw-7Qm2",
                replicationPassword: "primary-replication-pw-8Rn3",
                rewindPassword: "primary-rewind-pw-9So4",
                restApiPassword: "primary-restapi-pw-1Tp5",
                appPassword: "primary-app-pw-3Vr7",
                etcdPassword: "primary-etcd-patroni-pw-2Bx3",
            },
            nextcloud: {
                instanceId: "ocprimary123",
                passwordSalt: "primary-salt-4Ws8",
                secret: "primary-secret-5Xt9",
                databasePassword: "primary-app-pw-3Vr7",
                redisPassword: "primary-redis-pw-6Yu0",
                adminPassword: "primary-admin-pw-7Zv1",
            },
            haproxy: { statsPassword: "primary-stats-pw-8Aw2" },
            etcd: { rootPassword: "primary-etcd-root-pw-4Cy5" },
        },
        etcdCaCertPem: "-----BEGIN CERTIFICATE-----\nprimary-ca-cert\n-----END CERTIFICATE-----\n",
        primaryEndpoints: ["10.10.1.31:5000"],
    };
}

/**
 * Sets the mock runtime up for a stack. `overrides` replace config keys; `primaryOutputs`
 * replaces what the mocked primary stack exports (to feed one stack's real exports to another);
 * `preview` runs it as `pulumi preview` would (`pulumi.runtime.isDryRun()`).
 */
export function setupMocks(stack: string, overrides: Record<string, unknown> = {}, primaryOutputs?: Record<string, unknown>, preview = false): MockRun {
    const run: MockRun = { resources: [], generatedSecrets: [], byType: (type) => run.resources.filter((r) => r.type === type) };
    // Its body runs synchronously: the mocks are in place when it returns.
    void pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
                run.resources.push({ type: args.type, name: args.name, inputs: args.inputs });
                // A value drawn per resource and per keepers, as the provider draws it: the same on every run, new when the keepers change.
                const secret = (prefix: string) => {
                    const keepers = args.inputs.keepers ? createHash("sha256").update(JSON.stringify(args.inputs.keepers)).digest("hex").slice(0, 6) : "0";
                    const value = `${prefix}-${args.name}-${keepers}x7Kp`;
                    run.generatedSecrets.push(value);
                    return pulumi.secret(value);
                };
                switch (args.type) {
                    case "random:index/randomPassword:RandomPassword":
                        return { id: args.name, state: { ...args.inputs, result: secret("mockpw") } };
                    case "random:index/randomString:RandomString":
                        return { id: args.name, state: { ...args.inputs, result: secret("mockstr") } };
                    case "tls:index/privateKey:PrivateKey": {
                        // One secret for the key, in both of its formats; the public half is public.
                        const key = secret("mockkey");
                        return {
                            id: args.name,
                            state: { ...args.inputs, privateKeyPem: key, privateKeyOpenssh: key, publicKeyOpenssh: `ssh-ed25519 AAAAmock${args.name}\n` },
                        };
                    }
                    case "tls:index/selfSignedCert:SelfSignedCert":
                    case "tls:index/locallySignedCert:LocallySignedCert":
                        return {
                            id: args.name,
                            state: { ...args.inputs, certPem: `-----BEGIN CERTIFICATE-----\ncert-${args.name}\n-----END CERTIFICATE-----\n` },
                        };
                    case "tls:index/certRequest:CertRequest":
                        return { id: args.name, state: { ...args.inputs, certRequestPem: `csr-${args.name}` } };
                    case "pulumi:pulumi:StackReference": {
                        // By default the primary has run the stack's own round of a CA rotation (what `pulumi up` there does first).
                        // The primary has issued every other site's host its identity (`hostIdentities`).
                        const outputs = primaryOutputs ?? { ...primaryStackOutputs(raw.sites), caGenerations: caGenerationsOf(raw.certificates) };
                        const shared = outputs.sharedSecrets as
                            { database: Record<string, string>; nextcloud: Record<string, string>; etcd?: Record<string, string> } | undefined;
                        const issued = (outputs.hostIdentities ?? {}) as Record<string, { key: string }>;
                        run.generatedSecrets.push(
                            ...Object.values(shared?.database ?? {}),
                            ...Object.values(shared?.nextcloud ?? {}),
                            ...Object.values(shared?.etcd ?? {}),
                            ...Object.values(issued).map((i) => i.key.split("\n")[1]),
                        );
                        return {
                            id: args.name,
                            state: { outputs: primaryOutputs ?? sealedAsThePrimary(outputs, raw), secretOutputNames: ["sharedSecrets", "hostIdentities"] },
                        };
                    }
                    default:
                        return { id: `${args.name}-id`, state: args.inputs };
                }
            },
            call(args: pulumi.runtime.MockCallArgs) {
                return args.inputs;
            },
        },
        PROJECT,
        stack,
        preview,
    );
    const raw = { ...readStackConfig(stack), ...overrides };
    const all: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) {
        if (v !== undefined) all[`${PROJECT}:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    }
    pulumi.runtime.setAllConfig(all);
    return run;
}

/** A mock identity the primary issued for every host of the plan's sites (the host's name in both halves). */
function identitiesOf(sites: unknown): Record<string, { cert: string; key: string }> {
    const hosts = Object.values((sites ?? {}) as Record<string, { hosts?: { name: string }[] }>).flatMap((s) => s.hosts ?? []);
    return Object.fromEntries(
        hosts.map((h) => [
            h.name,
            {
                cert: `-----BEGIN CERTIFICATE-----\nprimary-issued-${h.name}\n-----END CERTIFICATE-----\n`,
                key: `-----BEGIN PRIVATE KEY-----\nprimary-issued-key-${h.name}-8Kw2\n-----END PRIVATE KEY-----\n`,
            },
        ]),
    );
}

/**
 * The mocked primary's outputs as the real primary exports them for a plan with seal keys: each
 * keyed site's part sealed to its key (with a fixed seed), nothing in the clear once every site has one.
 */
function sealedAsThePrimary(outputs: Record<string, unknown>, raw: Record<string, unknown>): Record<string, unknown> {
    const { plan } = loadPlan(raw as RawConfig);
    const targets = sealTargets(plan);
    if (targets.length === 0) return outputs;
    const bundle = outputs.sharedSecrets as SecretsBundle;
    const issued = outputs.hostIdentities as Record<string, IssuedIdentity>;
    const sealed = Object.fromEntries(targets.map((t) => [t.site, sealPart(t, bundle, issued, "mock-seal-seed")]));
    const { sharedSecrets, hostIdentities, ...rest } = outputs;
    return { ...(exportsInTheClear(plan) ? { ...rest, sharedSecrets, hostIdentities } : rest), [SHARED_OUTPUTS.sealed]: sealed };
}

/** The stack config's `certificates` as the primary stack exports them (`caGenerations`), their defaults filled in. */
function caGenerationsOf(certificates: unknown): { signing: number; trusted: number[] } {
    const c = (certificates ?? {}) as { caSigning?: number; caTrusted?: number[] };
    return { signing: c.caSigning ?? 0, trusted: c.caTrusted ?? [c.caSigning ?? 0] };
}

/** A resource as the program declared it: its parent, what it waits for, whether it is protected (the mock engine sees none of these). */
export interface Declared {
    type: string;
    name: string;
    parent?: string;
    dependsOn: string[];
    protect: boolean;
    retainOnDelete: boolean;
}

const nameOf = (r: unknown) => (r as { __name?: string } | undefined)?.__name;

/** Runs `program` inside a root stack resource, recording every resource's options through a stack transformation. */
export async function runInStack<T>(program: () => T): Promise<{ result: T; declared: Declared[] }> {
    const declared: Declared[] = [];
    let result: T | undefined;
    await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((a) => {
            const deps = a.opts.dependsOn === undefined ? [] : ([] as unknown[]).concat(a.opts.dependsOn);
            declared.push({
                type: a.type,
                name: a.name,
                parent: nameOf(a.opts.parent),
                dependsOn: deps.map((d) => nameOf(d) ?? "?"),
                protect: a.opts.protect === true,
                retainOnDelete: a.opts.retainOnDelete === true,
            });
            return undefined;
        });
        result = program();
        return {};
    });
    return { result: result as T, declared };
}

/** What the policy rules review: every registered resource's plain inputs, and the options the program declared. */
export function reviewed(run: MockRun, declared: Declared[]): ReviewedResource[] {
    const protect = new Set(declared.filter((d) => d.protect).map((d) => `${d.type}::${d.name}`));
    return run.resources.map((r) => ({
        type: r.type,
        name: r.name,
        props: plainParts(r.inputs) as ReviewedResource["props"],
        opts: { protect: protect.has(`${r.type}::${r.name}`) },
    }));
}

export function valueOf<T>(output: pulumi.Output<T> | undefined): Promise<T> {
    if (output === undefined) return Promise.reject(new Error("output is undefined"));
    return new Promise((resolve) => output.apply(resolve));
}

/** Waits until no resource has been registered for a while (outputs resolve asynchronously). */
export async function settled(run: MockRun, quietMs = 300, maxMs = 10000): Promise<void> {
    const start = Date.now();
    let last = -1;
    let since = Date.now();
    while (Date.now() - start < maxMs) {
        await new Promise((r) => setTimeout(r, 50));
        if (run.resources.length !== last) {
            last = run.resources.length;
            since = Date.now();
        } else if (Date.now() - since >= quietMs) return;
    }
}

/** Strips values the SDK marked secret, leaving only what would be stored in plain text. */
export function plainParts(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(plainParts);
    if (value && typeof value === "object") {
        const o = value as Record<string, unknown>;
        if (o[SECRET_SIG] === "1b47061264138c4ac30d75fd1eb44270") return SECRET_PLACEHOLDER;
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, plainParts(v)]));
    }
    return value;
}
