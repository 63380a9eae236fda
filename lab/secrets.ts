/**
 * The lab's secrets: the same bundle as the stack's (render/secrets.ts, from SECRET_SPECS),
 * made with the kernel's random source instead of @pulumi/random. Kept in files of mode
 * 0600 under the lab dir; never printed.
 */
import { randomInt } from "node:crypto";
import * as fs from "node:fs";
import { DB_USERS } from "../render/patroni";
import { bundleSecrets, generateSecrets, SecretsBundle } from "../render/secrets";
import { PGPASS_FILE, SECRETS_FILE } from "./state";

const ALPHABETS = { alnum: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", lower: "abcdefghijklmnopqrstuvwxyz0123456789" };

/** Makes a new bundle, writes it and a pgpass file for the superuser. */
export function writeSecrets(): SecretsBundle {
    const bundle = bundleSecrets(
        generateSecrets((_, spec) => Array.from({ length: spec.length }, () => ALPHABETS[spec.alphabet][randomInt(ALPHABETS[spec.alphabet].length)]).join("")),
    );
    fs.writeFileSync(SECRETS_FILE, JSON.stringify(bundle), { mode: 0o600 });
    fs.writeFileSync(PGPASS_FILE, `*:*:*:${DB_USERS.superuser}:${bundle.database.superuserPassword}\n`, { mode: 0o600 });
    return bundle;
}

/** The running lab's bundle. */
export function labSecrets(): SecretsBundle {
    return JSON.parse(fs.readFileSync(SECRETS_FILE, "utf8")) as SecretsBundle;
}
