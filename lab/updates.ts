/**
 * What a Debian point release brings, offline: lab hosts reach no mirror, so the package-update
 * drill publishes a newer version of Debian 13's own `patroni` package (its .deb from the
 * Debian root's apt cache, the version raised with `+nchaN`, nothing else changed) in a local
 * repository on every Patroni host, the only source its apt reads. Then the real apt and dpkg
 * upgrade it, and the converge steps take it into use as on a VM.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOTFS } from "../debian/root";
import { hostsOf } from "../plan/plan";
import { execInHost } from "./hosts";
import { LabError, run } from "./sh";
import { LAB_DIR, LabState } from "./state";

/** The package the drill's update brings (Patroni's service updates it with PostgreSQL's). */
export const UPDATED_PACKAGE = "patroni";
const REPO_IN_HOST = "/srv/nextcloud-ha-lab-repo";

/** Builds `patroni` at `<Debian's version>+ncha<generation>` and makes it every Patroni host's only apt source; returns the version. */
export function publishUpdate(state: LabState, generation: number): string {
    const archives = path.join(ROOTFS, "var/cache/apt/archives");
    const deb = fs.readdirSync(archives).find((f) => f.startsWith(`${UPDATED_PACKAGE}_`) && f.endsWith(".deb"));
    if (!deb) throw new LabError(`no ${UPDATED_PACKAGE} .deb in ${archives}: rebuild the Debian root (rm -rf ${ROOTFS}; npm run lab -- up)`);
    const work = path.join(LAB_DIR, "repo");
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(work, { recursive: true });
    run("dpkg-deb", ["-R", path.join(archives, deb), path.join(work, "pkg")]);
    const control = path.join(work, "pkg", "DEBIAN", "control");
    const original = fs.readFileSync(control, "utf8");
    const version = `${/^Version: (.+)$/m.exec(original)![1]}+ncha${generation}`;
    fs.writeFileSync(control, original.replace(/^Version: .+$/m, `Version: ${version}`));
    const built = path.join(work, `${UPDATED_PACKAGE}.deb`);
    run("dpkg-deb", ["--root-owner-group", "-b", path.join(work, "pkg"), built]);
    const bytes = fs.readFileSync(built);
    const packages =
        run("dpkg-deb", ["-f", built]).trimEnd() +
        `\nFilename: ./${UPDATED_PACKAGE}.deb\nSize: ${bytes.length}\nSHA256: ${createHash("sha256").update(bytes).digest("hex")}\n\n`;
    for (const h of hostsOf(state.plan, { role: "patroni" })) {
        const put = (file: string, content: Buffer) => {
            const r = execInHost(state.holders[h.name], h.name, ["sh", "-c", `mkdir -p ${REPO_IN_HOST} && base64 -d > ${REPO_IN_HOST}/${file}`], 30000, {
                input: content.toString("base64"),
            });
            if (r.status !== 0) throw new LabError(`publishing ${file} on ${h.name}: ${r.stderr.trim()}`);
        };
        put(`${UPDATED_PACKAGE}.deb`, bytes);
        put("Packages", Buffer.from(packages));
        const r = execInHost(state.holders[h.name], h.name, [
            "sh",
            "-c",
            `: > /etc/apt/sources.list && rm -f /etc/apt/sources.list.d/* && echo 'deb [trusted=yes] file:${REPO_IN_HOST} ./' > /etc/apt/sources.list.d/nextcloud-ha-lab.list`,
        ]);
        if (r.status !== 0) throw new LabError(`pointing apt at the lab's repository on ${h.name}: ${r.stderr.trim()}`);
    }
    return version;
}

/** The installed version of the updated package on a host. */
export function installedVersion(state: LabState, host: string): string {
    const r = execInHost(state.holders[host], host, ["dpkg-query", "-W", "-f", "${Version}", UPDATED_PACKAGE]);
    if (r.status !== 0) throw new LabError(`dpkg-query on ${host}: ${r.stderr.trim()}`);
    return r.stdout.trim();
}
