/**
 * The secrets the platform shares, as one shape: the Patroni cluster's passwords, what
 * every Nextcloud node must hold identically, and HAProxy's stats password. Generated once (by the primary stack with
 * @pulumi/random, by the lab with the kernel's random source, as marked placeholders for
 * `npm run render`), always from SECRET_SPECS and assembled by `bundleSecrets`, so the lab
 * runs the shape that deploys. Pure.
 */
import { PasswordRole } from "../plan/config";

/** Passwords of one Patroni cluster. */
export interface DatabaseSecrets {
    superuserPassword: string;
    replicationPassword: string;
    rewindPassword: string;
    restApiPassword: string;
    /** The application's database role (Nextcloud), created when the cluster bootstraps. */
    appPassword: string;
    /** The cluster's etcd user (`etcd.auth`): Patroni logs in with it, its role reads and writes the cluster's keys only. */
    etcdPassword: string;
}

/** What every etcd member holds (`etcd.auth`). */
export interface EtcdSecrets {
    /** etcd's root user: member changes (render/etcd_member.py) and the auth step log in with it. */
    rootPassword: string;
}

/** Values every Nextcloud node of every site must share. */
export interface NextcloudSecrets {
    instanceId: string;
    passwordSalt: string;
    secret: string;
    /** The app role's password: always the database's `appPassword`. */
    databasePassword: string;
    redisPassword: string;
    /** The first admin's password, used once by the installer node. */
    adminPassword: string;
}

/** What every HAProxy in front of the database holds. */
export interface HaproxySecrets {
    /** The stats page's password (user `STATS_USER`, render/haproxy.ts). */
    statsPassword: string;
}

export interface SecretsBundle {
    database: DatabaseSecrets;
    nextcloud: NextcloudSecrets;
    haproxy: HaproxySecrets;
    etcd: EtcdSecrets;
}

/** How a secret is made: its length, its alphabet, a fixed prefix, and what it is for. */
export interface SecretSpec {
    length: number;
    /** `alnum`: letters and digits; `lower`: lower-case letters and digits only. */
    alphabet: "alnum" | "lower";
    prefix?: string;
    what: string;
}

/** Every shared secret. Nextcloud's instanceid has its own format: "oc" and ten lower-case letters or digits. */
export const SECRET_SPECS = {
    superuserPassword: { length: 32, alphabet: "alnum", what: "postgres superuser password" },
    replicationPassword: { length: 32, alphabet: "alnum", what: "replication password" },
    rewindPassword: { length: 32, alphabet: "alnum", what: "pg_rewind user password" },
    restApiPassword: { length: 32, alphabet: "alnum", what: "Patroni REST API password" },
    appPassword: { length: 32, alphabet: "alnum", what: "Nextcloud database password" },
    instanceId: { length: 10, alphabet: "lower", prefix: "oc", what: "Nextcloud instanceid" },
    passwordSalt: { length: 30, alphabet: "alnum", what: "Nextcloud passwordsalt" },
    secret: { length: 48, alphabet: "alnum", what: "Nextcloud secret" },
    redisPassword: { length: 32, alphabet: "alnum", what: "Redis password" },
    adminPassword: { length: 24, alphabet: "alnum", what: "Nextcloud admin password" },
    statsPassword: { length: 32, alphabet: "alnum", what: "HAProxy stats password" },
    etcdRootPassword: { length: 32, alphabet: "alnum", what: "etcd root password" },
    etcdPatroniPassword: { length: 32, alphabet: "alnum", what: "etcd password of the Patroni clusters' users" },
} as const satisfies Record<string, SecretSpec>;

export type SecretName = keyof typeof SECRET_SPECS;

/** The secret behind each rotatable password (plan `passwords.rotation`). */
export const ROTATED_SECRET: Record<PasswordRole, SecretName> = {
    superuser: "superuserPassword",
    replication: "replicationPassword",
    rewind: "rewindPassword",
    restApi: "restApiPassword",
    app: "appPassword",
};

/** A secret's rotation generation: 0 for those that do not rotate. */
export function generationOf(rotation: Record<PasswordRole, number>, name: SecretName): number {
    const role = (Object.keys(ROTATED_SECRET) as PasswordRole[]).find((r) => ROTATED_SECRET[r] === name);
    return role ? rotation[role] : 0;
}

/** The bundle from one value per spec (prefixes added here, derived values filled in). */
export function bundleSecrets(v: Record<SecretName, string>): SecretsBundle {
    const p = (name: SecretName) => `${(SECRET_SPECS[name] as SecretSpec).prefix ?? ""}${v[name]}`;
    return {
        database: {
            superuserPassword: p("superuserPassword"),
            replicationPassword: p("replicationPassword"),
            rewindPassword: p("rewindPassword"),
            restApiPassword: p("restApiPassword"),
            appPassword: p("appPassword"),
            etcdPassword: p("etcdPatroniPassword"),
        },
        nextcloud: {
            instanceId: p("instanceId"),
            passwordSalt: p("passwordSalt"),
            secret: p("secret"),
            databasePassword: p("appPassword"),
            redisPassword: p("redisPassword"),
            adminPassword: p("adminPassword"),
        },
        haproxy: { statsPassword: p("statsPassword") },
        etcd: { rootPassword: p("etcdRootPassword") },
    };
}

/** One value per spec, from a generator. */
export function generateSecrets<T>(make: (name: SecretName, spec: SecretSpec) => T): Record<SecretName, T> {
    return Object.fromEntries(Object.entries(SECRET_SPECS).map(([name, spec]) => [name, make(name as SecretName, spec)])) as Record<SecretName, T>;
}
