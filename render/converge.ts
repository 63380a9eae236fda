/**
 * Day two: the converge script of each service of a host, what `pulumi up` runs on the VM over
 * SSH (`sudo sh -s`, the script on stdin, never on a command line) at every change of its
 * files. Safe to re-run: it writes a file only when its content, mode or owner differ; then it
 * applies the service's rule (render/rendered.ts `ApplyRule`): check the new config, reload, or
 * restart and wait until healthy. A failed check puts every file it wrote back as it was, so
 * the host keeps running its old config and the error says why. The first run on a host
 * enables and starts the service: it is up when the step ends, unless it waits for what
 * another step brings (`startsWithoutWaiting`: an etcd member waits for its peers). Pure.
 */
import { shortHash } from "./hash";
import { HostPlan } from "../plan/plan";
import { ApplyRule, RenderedFile, RenderedHost, ServiceSpec } from "./rendered";

/** Where a host records that a service has had its first converge (and so is enabled); `<service>.pending`: a change not yet applied. */
export const CONVERGED_DIR = "/var/lib/nextcloud-ha/converged";
/** Where a converge step keeps the files it replaces until the new ones pass their check. */
const BACKUP_DIR = "/var/lib/nextcloud-ha/backup";

/** One service of one host: the script that converges it, and its hash (what triggers a new run). */
export interface ConvergeUnit {
    host: string;
    service: string;
    script: string;
    /**
     * What triggers a new run, one line a file (`PATH sha256:...` of its content) and one for the
     * rest of the script: a preview's diff names the file that changes, never its content.
     */
    triggers: string[];
}

/** Bounded wait until a command succeeds: 60 tries 2 s apart. */
function waitUntil(what: string, command: string): string[] {
    return [
        `i=0; until sh -c ${quote(command)} >/dev/null 2>&1; do`,
        `    i=$((i+1)); [ "$i" -lt 60 ] || { echo ${quote(`${what} not after 120 s`)} >&2; exit 1; }; sleep 2`,
        "done",
    ];
}

/** Single-quotes a word for sh. */
function quote(word: string): string {
    return `'${word.replace(/'/g, `'\\''`)}'`;
}

function applyLines(s: ServiceSpec, rule: ApplyRule, unitFiles: boolean): string[] {
    const reload = unitFiles ? ["systemctl daemon-reload"] : [];
    switch (rule.kind) {
        case "none":
            return [...reload, `echo ${quote(`${s.name}: files in place; it reads them when it needs them`)}`];
        // A stopped service (held on purpose, say a fenced site's Patroni) stays stopped: it reads the new files when it starts.
        case "reload":
            return [
                ...reload,
                ...(rule.prepare
                    ? [
                          `if systemctl is-active --quiet ${s.unit}; then`,
                          `    ${rule.prepare} || echo ${quote(`${s.name}: warning: could not prepare the reload (${rule.prepare})`)} >&2`,
                          "fi",
                      ]
                    : []),
                `systemctl try-reload-or-restart ${s.unit}`,
                ...(rule.after ? [`if systemctl is-active --quiet ${s.unit}; then`, `    ${rule.after}`, "fi"] : []),
                `echo ${quote(`${s.name}: reloaded if it runs`)}`,
            ];
        case "run":
            return [...reload, rule.command, ...(rule.healthy ? waitUntil(`${s.name} healthy`, rule.healthy) : []), `echo ${quote(`${s.name}: applied`)}`];
        case "restart":
            return [
                ...reload,
                `if systemctl is-active --quiet ${s.unit}; then`,
                `    systemctl try-restart ${s.unit}`,
                ...(rule.healthy ? waitUntil(`${s.name} healthy`, rule.healthy).map((l) => `    ${l}`) : []),
                `    echo ${quote(`${s.name}: restarted${rule.healthy ? " and healthy" : ""}`)}`,
                "else",
                `    echo ${quote(`${s.name}: not running; it reads the new files when it starts`)}`,
                "fi",
            ];
        default: {
            const never: never = rule;
            throw new Error(`unknown apply rule ${JSON.stringify(never)}`);
        }
    }
}

/** The file's content as base64 lines, for a quoted here-document. */
function base64Lines(content: string): string {
    return (
        Buffer.from(content, "utf8")
            .toString("base64")
            .match(/.{1,76}/g)
            ?.join("\n") ?? ""
    );
}

/**
 * The package update of a service (render/rendered.ts `update`), when its generation is above 0:
 * on a host past its first converge whose last update generation differs, the packages upgraded
 * in place with dpkg's restarts held (policy-rc.d), and `<marker>.updated` left when a version
 * changed (its `then` still to apply, also after a failed run). Nothing at generation 0, so a
 * plan that never updates keeps its scripts.
 */
function updateLines(host: HostPlan, service: ServiceSpec, marker: string): string[] {
    const u = service.update;
    if (!u || u.generation === 0) return [];
    const pkgs = u.packages.join(" ");
    // A package not installed is left out (dpkg-query says so and fails; the others it still lists).
    const versions = `dpkg-query -W -f '\${Package}=\${Version} ' ${pkgs} 2>/dev/null || true`;
    return [
        `# Package update generation ${u.generation} (config packages.update): ${pkgs}`,
        `if [ -f ${marker} ] && [ "$(cat ${marker}.update 2>/dev/null || echo 0)" != ${u.generation} ]; then`,
        `    was=$(${versions})`,
        // A run that stopped between apt and here (apt failed half-way, the step killed) left .updating: its upgrade is applied now.
        `    interrupted=0; if [ -f ${marker}.updating ]; then interrupted=1; fi; touch ${marker}.updating`,
        // Held: dpkg's maintainer scripts would restart the service now, not when this step says; the hold goes however the script ends.
        "    held=0; trap '[ \"$held\" = 0 ] || rm -f /usr/sbin/policy-rc.d' EXIT; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d; held=1; fi",
        `    if ! out=$(apt-get update -q 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --only-upgrade -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef ${pkgs} 2>&1); then`,
        '        [ "$held" = 0 ] || rm -f /usr/sbin/policy-rc.d',
        `        echo ${quote(`${service.name} on ${host.name}: the package update failed; nothing restarted, the old versions run on:`)} "$(echo "$out" | tail -n 3)" >&2`,
        "        exit 1",
        "    fi",
        '    [ "$held" = 0 ] || rm -f /usr/sbin/policy-rc.d',
        `    now=$(${versions})`,
        `    if [ "$was" != "$now" ] || [ "$interrupted" = 1 ]; then touch ${marker}.updated; echo "updated: $now"; else echo ${quote(`${service.name}: its packages are up to date`)}; fi`,
        `    rm -f ${marker}.updating`,
        `    echo ${u.generation} >${marker}.update`,
        "fi",
    ];
}

/** What takes upgraded packages into use, once: the service's `update.then`, after its files' own rule. */
function afterUpdateLines(service: ServiceSpec, marker: string, unitFiles: boolean): string[] {
    const u = service.update;
    if (!u || u.generation === 0) return [];
    return [`if [ -f ${marker}.updated ]; then`, ...applyLines(service, u.then, unitFiles).map((l) => `    ${l}`), `    rm -f ${marker}.updated`, "fi"];
}

/** The converge script of one service: its files, then its rule. */
export function renderConvergeScript(host: HostPlan, service: ServiceSpec, files: RenderedFile[]): string {
    const unitFiles = files.some((f) => f.path.startsWith("/etc/systemd/system/"));
    const marker = `${CONVERGED_DIR}/${service.name}`;
    const check = service.apply.kind === "reload" || service.apply.kind === "restart" ? service.apply.check : undefined;
    const backup = `${BACKUP_DIR}/${service.name}`;
    return [
        "#!/bin/sh",
        `# Converges ${service.name} (${service.unit}) on ${host.name}; rendered by nextcloud-ha. Safe to re-run.`,
        "set -eu",
        "changed=0",
        "written=",
        // Kept outside the config directories: a copy beside a file in sites-enabled/ would be read as config.
        `backup=${backup}`,
        'rm -rf "$backup"; mkdir -p "$backup"',
        // A change whose apply failed (a reload, a restart, a health wait) is applied again, though its files are in place.
        `if [ -f ${marker}.pending ]; then changed=1; fi`,
        ...updateLines(host, service, marker),
        "# put PATH MODE OWNER [noapply], the content base64 on stdin: written only when content, mode or owner differ; the old file kept aside.",
        "# noapply: the service reads it at its first start only, or never: a change applies nothing.",
        "put() {",
        '    tmp=$(mktemp); base64 -d >"$tmp"',
        '    if [ -f "$1" ] && [ ! -L "$1" ] && cmp -s "$tmp" "$1" && [ "$(stat -c \'%a %U:%G\' "$1")" = "$2 $3" ]; then rm -f "$tmp"; return 0; fi',
        '    if [ -e "$1" ] || [ -L "$1" ]; then mkdir -p "$backup$(dirname "$1")"; cp -P -p "$1" "$backup$1"; fi',
        '    rm -f "$1"; install -D -m "$2" -o "${3%%:*}" -g "${3#*:}" "$tmp" "$1"; rm -f "$tmp"',
        '    written="$written $1"',
        '    if [ "${4:-}" = noapply ]; then echo "changed $1 (nothing to apply)"; else changed=1; echo "changed $1"; fi',
        "}",
        "# Puts every written file back as it was (a link as the link it was).",
        "restore() {",
        '    for f in $written; do rm -f "$f"; if [ -e "$backup$f" ] || [ -L "$backup$f" ]; then cp -P -p "$backup$f" "$f"; fi; done',
        "}",
        ...files.flatMap((f) => [
            `put ${f.path} ${Number.parseInt(f.mode, 8).toString(8)} ${f.owner}${f.noApply ? " noapply" : ""} <<'NCHA_B64'`,
            base64Lines(f.content),
            "NCHA_B64",
        ]),
        ...(check
            ? [
                  // Checked on every change, and on a first run whatever it found in place.
                  `if { [ "$changed" = 1 ] || [ ! -f ${marker} ]; } && ! out=$(${check} 2>&1); then`,
                  "    restore",
                  `    echo ${quote(`${service.name} on ${host.name}: the new config fails its check (${check}); the old files are back and the service runs on:`)} "$out" >&2`,
                  "    exit 1",
                  "fi",
              ]
            : []),
        'rm -rf "$backup"',
        `if [ ! -f ${marker} ]; then`,
        // First converge: the package's own unit goes, the service is enabled and started.
        ...(service.replaces ?? []).map((u) => `    systemctl disable --now ${u} || true`),
        ...(unitFiles ? ["    systemctl daemon-reload"] : []),
        ...(service.beforeFirstStart ? [`    ${service.beforeFirstStart}`] : []),
        `    systemctl enable ${service.unit}`,
        `    systemctl restart${service.startsWithoutWaiting ? " --no-block" : ""} ${service.unit}${service.startFailure ? ` || { echo ${quote(`${service.name} on ${host.name}: ${service.startFailure}`)} >&2; exit 1; }` : ""}`,
        ...(service.afterFirstStart ? [`    ${service.afterFirstStart}`] : []),
        `    install -D -m 0644 /dev/null ${marker}`,
        // Installed with the plan's packages by cloud-init: its update generation is the plan's.
        ...(service.update?.generation ? [`    echo ${service.update.generation} >${marker}.update`] : []),
        `    echo ${quote(`${service.name}: enabled and started`)}`,
        "    exit 0",
        "fi",
        ...(service.update?.generation
            ? [
                  `if [ "$changed" = 0 ] && [ -f ${marker}.updated ]; then`,
                  ...afterUpdateLines(service, marker, unitFiles).map((l) => `    ${l}`),
                  "    exit 0",
                  "fi",
              ]
            : []),
        `if [ "$changed" = 0 ]; then if [ -n "$written" ]; then echo ${quote(`${service.name}: nothing to apply`)}; else echo ${quote(`${service.name}: unchanged`)}; fi; exit 0; fi`,
        `touch ${marker}.pending`,
        ...applyLines(service, service.apply, unitFiles),
        `rm -f ${marker}.pending`,
        ...afterUpdateLines(service, marker, unitFiles),
        "",
    ].join("\n");
}

/** Every service of a host, in the order its roles come, with its converge script. Files written before packages stay cloud-init's. */
export function renderConverge(host: HostPlan, rendered: RenderedHost): ConvergeUnit[] {
    return rendered.services.map((service) => {
        const files = rendered.files.filter((f) => f.service === service.name && !f.beforePackages);
        const script = renderConvergeScript(host, service, files);
        const rest = renderConvergeScript(
            host,
            service,
            files.map((f) => ({ ...f, content: "" })),
        );
        const triggers = [
            ...files.map((f) => `${f.path} ${f.mode} ${f.owner} sha256:${shortHash(f.content)}`),
            // Named in the preview: which packages a step updates, and to which generation.
            ...(service.update?.generation ? [`packages ${service.update.packages.join(",")} update ${service.update.generation}`] : []),
            `script sha256:${shortHash(rest)}`,
        ];
        return { host: host.name, service: service.name, script, triggers };
    });
}
