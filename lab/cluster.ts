/**
 * Reading the lab cluster's health over its own network: Patroni's REST API (/cluster),
 * etcd's /health with a client certificate, HAProxy's stats. Plain HTTP from Node through
 * the lab's management link.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { DeploymentPlan, hostByName } from "../plan/plan";
import { PKI_DIR } from "./state";

export interface PatroniMemberStatus {
    name: string;
    role: string;
    state: string;
    host: string;
    lag?: number | string;
    timeline?: number;
}

export function httpGet(url: string, timeoutMs = 1500, tls?: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const lib = url.startsWith("https:") ? https : http;
        const req = lib.get(url, { timeout: timeoutMs, agent: false, ...(tls ?? {}) }, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
        req.on("error", reject);
    });
}

/** Patroni's view of the cluster, asked of the first member that answers. */
export async function patroniCluster(plan: DeploymentPlan, members: string[]): Promise<PatroniMemberStatus[] | undefined> {
    for (const m of members) {
        try {
            const r = await httpGet(`http://${hostByName(plan, m).address}:${plan.ports.patroniRest}/cluster`);
            if (r.status === 200) return (JSON.parse(r.body).members ?? []) as PatroniMemberStatus[];
        } catch {
            /* try the next member */
        }
    }
    return undefined;
}

export function leaderOf(members: PatroniMemberStatus[] | undefined): string | undefined {
    return members?.find((m) => m.role === "leader" && m.state === "running")?.name;
}

/**
 * True when a leader runs and every other member streams from it; in synchronous mode one
 * of them must also be the sync standby, or Patroni could not fail over without loss.
 */
export function healthy(members: PatroniMemberStatus[] | undefined, expected: number, synchronous: boolean): boolean {
    if (!members || members.length < expected || !leaderOf(members)) return false;
    const replicas = members.filter((m) => m.role !== "leader");
    return replicas.every((m) => m.state === "streaming") && (!synchronous || replicas.some((m) => m.role === "sync_standby"));
}

export async function etcdHealth(plan: DeploymentPlan, member: string): Promise<boolean> {
    const tls = {
        ca: fs.readFileSync(path.join(PKI_DIR, "ca.crt")),
        cert: fs.readFileSync(path.join(PKI_DIR, `${member}.crt`)),
        key: fs.readFileSync(path.join(PKI_DIR, `${member}.key`)),
    };
    try {
        const r = await httpGet(`https://${hostByName(plan, member).address}:${plan.ports.etcdClient}/health`, 1500, tls);
        return r.status === 200 && JSON.parse(r.body).health === "true";
    } catch {
        return false;
    }
}

/** HAProxy's view: which backend servers are UP in each listener (stats CSV). */
export async function haproxyServers(plan: DeploymentPlan, lb: string): Promise<Record<string, string[]> | undefined> {
    try {
        const r = await httpGet(`http://${hostByName(plan, lb).managementAddress}:${plan.ports.haproxyStats}/;csv`);
        if (r.status !== 200) return undefined;
        const up: Record<string, string[]> = {};
        for (const line of r.body.split("\n").slice(1)) {
            const [px, sv, , , , , , , , , , , , , , , , status] = line.split(",");
            if (!sv || sv === "FRONTEND" || sv === "BACKEND") continue;
            (up[px] ??= []);
            if (status === "UP") up[px].push(sv);
        }
        return up;
    } catch {
        return undefined;
    }
}

/** Asks Patroni for a switchover to the candidate (an unsafe endpoint: needs the REST password). */
export function patroniSwitchover(plan: DeploymentPlan, leader: string, candidate: string, password: string): Promise<{ status: number; body: string }> {
    const body = JSON.stringify({ leader, candidate });
    return new Promise((resolve, reject) => {
        const req = http.request(
            `http://${hostByName(plan, leader).address}:${plan.ports.patroniRest}/switchover`,
            {
                method: "POST",
                timeout: 30000,
                agent: false,
                auth: `patroni:${password}`,
                headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
            },
            (res) => {
                let text = "";
                res.on("data", (c) => (text += c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
            },
        );
        req.on("timeout", () => req.destroy(new Error("switchover request timed out")));
        req.on("error", reject);
        req.end(body);
    });
}
