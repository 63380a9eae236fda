/**
 * The lab's secrets: the same bundle as the stack's (render/secrets.ts, from SECRET_SPECS),
 * made with the kernel's random source instead of @pulumi/random, and rotated as the program's
 * RandomPasswords are: a password whose plan generation (`passwords.rotation`) is not the one it
 * was made at is made again. Kept in files of mode 0600 under the lab dir; never printed.
 */
import { randomInt } from "node:crypto";
import * as fs from "node:fs";
import { PASSWORD_ROLES, PasswordRole } from "../plan/config";
import { DeploymentPlan } from "../plan/plan";
import { bundleSecrets, generateSecrets, ROTATED_SECRET, SECRET_SPECS, SecretName, SecretSpec, SecretsBundle } from "../render/secrets";
import { SECRETS_FILE } from "./state";

const ALPHABETS = { alnum: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", lower: "abcdefghijklmnopqrstuvwxyz0123456789" };

/** What the secrets file holds: one value per spec, and the generation each rotatable password was made at. */
interface Stored {
    values: Record<SecretName, string>;
    generations: Record<PasswordRole, number>;
}

const make = (spec: SecretSpec) => Array.from({ length: spec.length }, () => ALPHABETS[spec.alphabet][randomInt(ALPHABETS[spec.alphabet].length)]).join("");

function store(stored: Stored): SecretsBundle {
    const bundle = bundleSecrets(stored.values);
    fs.writeFileSync(SECRETS_FILE, JSON.stringify(stored), { mode: 0o600 });
    return bundle;
}

/** Makes a new bundle at the plan's generations and writes it. */
export function writeSecrets(plan: DeploymentPlan): SecretsBundle {
    return store({ values: generateSecrets((_, spec) => make(spec)), generations: { ...plan.passwords.rotation } });
}

/** The passwords whose generation the plan raised (or lowered) are made again, as `pulumi up` replaces their RandomPasswords; returns their roles. */
export function rotateSecrets(plan: DeploymentPlan): PasswordRole[] {
    const stored = JSON.parse(fs.readFileSync(SECRETS_FILE, "utf8")) as Stored;
    const due = PASSWORD_ROLES.filter((r) => plan.passwords.rotation[r] !== stored.generations[r]);
    if (due.length === 0) return [];
    const values = { ...stored.values };
    for (const r of due) values[ROTATED_SECRET[r]] = make(SECRET_SPECS[ROTATED_SECRET[r]]);
    store({ values, generations: { ...plan.passwords.rotation } });
    return due;
}

/** The running lab's bundle. */
export function labSecrets(): SecretsBundle {
    return bundleSecrets((JSON.parse(fs.readFileSync(SECRETS_FILE, "utf8")) as Stored).values);
}
