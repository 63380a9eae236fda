/**
 * Integration, files and app tier: boots the lab from a stack dir whose plan adds Gluster
 * (bricks in dc1 and dc2, the arbiter on dc3's witness), NGINX on the load balancers and app
 * hosts (the probe app standing in for Nextcloud), then loses a storage host while writing
 * through NGINX: no acknowledged file or row may be lost, and the volume must heal. Tears
 * the lab down even when a step fails. Needs root.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const MINUTE = 60000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-apptier-"));
// The lab reads the stack files from here; set before the lab's modules load.
process.env.NCHA_STACK_DIR = dir;

let lab: typeof import("../../lab/lab");
let started = false;

beforeAll(async () => {
    const { appTierConfig, writeStackDir } = await import("../helpers/configs");
    writeStackDir(dir, appTierConfig());
    lab = await import("../../lab/lab");
    const { loadState } = await import("../../lab/state");
    if (loadState()) throw new Error("a lab is already running here; run `npm run lab -- down` before the tests");
    started = true;
    await lab.up({});
}, 6 * MINUTE);

afterAll(async () => {
    if (started) await lab.down({ quiet: true });
    fs.rmSync(dir, { recursive: true, force: true });
}, 2 * MINUTE);

test("every app host serves through NGINX with the volume mounted and every brick online", async () => {
    const s = await lab.status();
    const apps = s.hosts.filter((h) => h.roles.includes("nextcloud"));
    expect(apps.map((h) => h.name).sort()).toEqual(["dc1-app1", "dc1-app2", "dc2-app1"]);
    for (const h of apps) expect(h.services).toMatchObject({ "probe-app": "running", "gluster-mount": "done" });
    for (const h of s.hosts.filter((x) => x.roles.includes("nginx"))) expect(h.services.nginx).toBe("running");
    expect(s.gluster).toEqual({ volume: "nextcloud", bricksOnline: 3, bricks: 3 });
}, MINUTE);

test("app-host-loss: NGINX keeps serving through the other app node", async () => {
    const { drill } = await import("../../lab/drill");
    const t = (await drill("app-host-loss", { trials: 1, say: () => undefined })).trials[0];
    expect(t.problems).toEqual([]);
    expect(t.target).toBe("dc1-app1");
    expect(t.missing).toBe(0);
    expect(t.acknowledged).toBeGreaterThan(100);
}, 6 * MINUTE);

test("storage-host-loss: files written through NGINX survive, and the volume heals", async () => {
    const { drill } = await import("../../lab/drill");
    const r = await drill("storage-host-loss", { trials: 1, say: () => undefined });
    const t = r.trials[0];
    expect(t.problems).toEqual([]);
    expect(t.target).toBe("dc1-gfs1");
    expect(t.acknowledged).toBeGreaterThan(100);
    expect(t.missing).toBe(0);
}, 6 * MINUTE);
