/**
 * What a Debian point release brings, offline: lab hosts reach no mirror, so the package-update
 * drill publishes newer versions of Debian 13's own `patroni` and `glusterfs-server` (their .debs from the
 * Debian root's apt cache, the version raised with `+nchaN`, nothing else changed) in a local
 * repository on every host, the only source its apt reads (every service's step asks apt; only
 * Patroni's and the bricks' find something newer). Then the real apt and dpkg
 * upgrade it, and the converge steps take it into use as on a VM.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOTFS } from "../debian/root";
import { Role } from "../plan/config";
import { execInHost } from "./hosts";
import { LabError, run } from "./sh";
import { LAB_DIR, LabState } from "./state";

/** The packages the drill's update brings, and the hosts that run them (the service whose step upgrades each, and restarts it). */
export const UPDATED_PACKAGES: { name: string; roles: Role[]; service: string }[] = [
    { name: "patroni", roles: ["patroni"], service: "patroni" },
    { name: "glusterfs-server", roles: ["gluster", "gluster-arbiter"], service: "glusterd" },
];
const REPO_IN_HOST = "/srv/nextcloud-ha-lab-repo";

/** One package of the Debian root's apt cache at `<Debian's version>+ncha<generation>`, in DIR; returns its file name, version and Packages stanza. */
function reversion(name: string, generation: number, dir: string): { file: string; version: string; stanza: string; bytes: Buffer } {
    const archives = path.join(ROOTFS, "var/cache/apt/archives");
    const deb = fs.readdirSync(archives).find((f) => f.startsWith(`${name}_`) && f.endsWith(".deb"));
    if (!deb) throw new LabError(`no ${name} .deb in ${archives}: rebuild the Debian root (rm -rf ${ROOTFS}; npm run lab -- up)`);
    const tree = path.join(dir, name);
    run("dpkg-deb", ["-R", path.join(archives, deb), tree]);
    const control = path.join(tree, "DEBIAN", "control");
    const original = fs.readFileSync(control, "utf8");
    const version = `${/^Version: (.+)$/m.exec(original)![1]}+ncha${generation}`;
    fs.writeFileSync(control, original.replace(/^Version: .+$/m, `Version: ${version}`));
    const file = `${name}.deb`;
    run("dpkg-deb", ["--root-owner-group", "-b", tree, path.join(dir, file)]);
    const bytes = fs.readFileSync(path.join(dir, file));
    const stanza =
        run("dpkg-deb", ["-f", path.join(dir, file)]).trimEnd() +
        `\nFilename: ./${file}\nSize: ${bytes.length}\nSHA256: ${createHash("sha256").update(bytes).digest("hex")}\n\n`;
    return { file, version, stanza, bytes };
}

/**
 * Builds every package of UPDATED_PACKAGES at `<Debian's version>+ncha<generation>` and makes the
 * repository every host's only apt source; returns each package's new version.
 */
export function publishUpdate(state: LabState, generation: number): Record<string, string> {
    const work = path.join(LAB_DIR, "repo");
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(work, { recursive: true });
    const built = UPDATED_PACKAGES.map((p) => reversion(p.name, generation, work));
    const packages = Buffer.from(built.map((b) => b.stanza).join(""));
    for (const h of state.plan.hosts) {
        const put = (file: string, content: Buffer) => {
            const r = execInHost(state.holders[h.name], h.name, ["sh", "-c", `mkdir -p ${REPO_IN_HOST} && base64 -d > ${REPO_IN_HOST}/${file}`], 60000, {
                input: content.toString("base64"),
            });
            if (r.status !== 0) throw new LabError(`publishing ${file} on ${h.name}: ${r.stderr.trim()}`);
        };
        for (const b of built) put(b.file, b.bytes);
        put("Packages", packages);
        const r = execInHost(state.holders[h.name], h.name, [
            "sh",
            "-c",
            `: > /etc/apt/sources.list && rm -f /etc/apt/sources.list.d/* && echo 'deb [trusted=yes] file:${REPO_IN_HOST} ./' > /etc/apt/sources.list.d/nextcloud-ha-lab.list`,
        ]);
        if (r.status !== 0) throw new LabError(`pointing apt at the lab's repository on ${h.name}: ${r.stderr.trim()}`);
    }
    return Object.fromEntries(UPDATED_PACKAGES.map((p, i) => [p.name, built[i].version]));
}

/** The installed version of a package on a host. */
export function installedVersion(state: LabState, host: string, name: string): string {
    const r = execInHost(state.holders[host], host, ["dpkg-query", "-W", "-f", "${Version}", name]);
    if (r.status !== 0) throw new LabError(`dpkg-query on ${host}: ${r.stderr.trim()}`);
    return r.stdout.trim();
}
