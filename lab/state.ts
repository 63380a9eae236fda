/**
 * What a running lab consists of, on disk, so that `status`, `fault` and `down` act on
 * exactly what `up` started, even after a crash. Written before anything is created.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DeploymentPlan, HostPlan } from "../plan/plan";
import { LabError } from "./sh";

export const LAB_DIR = process.env.NCHA_LAB_DIR ?? "/var/lib/nextcloud-ha/lab";
export const ROUTER_NS = "lab-router";
export const MGMT_LINK = "ncha-lab0";

/** A leave step of a host the plan dropped (render/rendered.ts `leave`), as its old plan rendered it: no secret in it. */
export interface LeaveStep {
    key: string;
    service: string;
    argv: string[];
}

export interface LabState {
    createdAt: string;
    topology: string;
    /** The re-addressed plan the lab runs. */
    plan: DeploymentPlan;
    /** Network namespaces the lab created (hosts and router), for `down`. */
    namespaces: string[];
    /** Holder pid of each booted host. */
    holders: Record<string, number>;
    /** The stack files' sshUser: the lab's hosts have it, as the VMs do. */
    sshUser: string;
    /** The triggers of each converge step last applied (`host/service`, `volume`): what `lab apply` compares with, as Pulumi compares with its state. */
    applied: Record<string, string[]>;
    /**
     * Hosts the plan dropped that have not gone yet (an apply stopped before their leave steps ran,
     * or in the middle of them): the next apply runs their leave steps first thing after its own.
     */
    leaving?: { host: HostPlan; steps: LeaveStep[] }[];
    /** The WAN delay `up` set (ms); `heal` returns to it. */
    wanDelayMs?: number;
    /** Hosts killed or isolated, sites cut off, and a `slow-wan` delay in force. */
    faults: { killed: string[]; isolatedHosts: string[]; isolatedSites: string[]; wanDelayMs?: number };
}

const STATE_FILE = path.join(LAB_DIR, "state.json");

export function hostDir(host: string): string {
    return path.join(LAB_DIR, "hosts", host);
}

export function loadState(): LabState | undefined {
    if (!fs.existsSync(STATE_FILE)) return undefined;
    return JSON.parse(fs.readFileSync(STATE_FILE, "utf8")) as LabState;
}

export function saveState(state: LabState): void {
    fs.mkdirSync(LAB_DIR, { recursive: true });
    fs.writeFileSync(`${STATE_FILE}.tmp`, JSON.stringify(state, null, 2));
    fs.renameSync(`${STATE_FILE}.tmp`, STATE_FILE);
}

export function removeState(): void {
    fs.rmSync(STATE_FILE, { force: true });
}

/** Secrets of the lab live in files of mode 0600 under the lab dir; never printed. */
export const SECRETS_FILE = path.join(LAB_DIR, "secrets.json");
export const PKI_DIR = path.join(LAB_DIR, "pki");

export function requireState(): LabState {
    const s = loadState();
    if (!s) throw new LabError("no lab is running; start one with `npm run lab -- up`");
    return s;
}

/** True while the process exists. */
export function pidAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}
