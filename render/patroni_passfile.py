# Run as root by Patroni's converge step after each reload (render/patroni.ts). Patroni 4.0.7
# does not refresh its passfile when the replication password changes on reload (upstream
# patroni#3507, fixed after 4.0.7): it rewrites the file from its cached recovery settings,
# with the old password, and a streaming replica never notices. The stream runs on (PostgreSQL
# authenticates at connect), but the next reconnect, after a network blip or the primary's
# restart, would fail until the replica's Patroni rebuilt its settings. So on a replica this
# waits (bounded) until Patroni has handled the reload (the passfile newer than the config), then
# puts the config's replication password on the replication user's lines, as Patroni writes them
# ("host:port:*:user:password", ':' and '\' escaped). Changes nothing when the file is right.
import os
import sys
import time

import yaml

CONFIG, PGPASS = "@CONFIG@", "@PGPASS@"
with open(CONFIG) as f:
    config = yaml.safe_load(f)["postgresql"]
if not os.path.exists(os.path.join(config["data_dir"], "standby.signal")) or not os.path.exists(PGPASS):
    sys.exit(0)  # a primary streams from no one


def escape(value):
    return str(value).replace("\\", "\\\\").replace(":", "\\:")


creds = config["authentication"]["replication"]
user, password = escape(creds["username"]), escape(creds["password"])


def mended(lines):
    return [":".join(line.split(":")[:4] + [password]) if line.split(":")[3:4] == [user] else line for line in lines]


deadline = time.time() + 30
while time.time() < deadline and os.stat(PGPASS).st_mtime <= os.stat(CONFIG).st_mtime:
    time.sleep(0.5)
if os.stat(PGPASS).st_mtime <= os.stat(CONFIG).st_mtime:
    # Mended anyway; if Patroni handles the reload later it writes the old password again: say so.
    print(f"patroni: warning: Patroni did not rewrite {PGPASS} within 30 s of the reload; mended now, check it after its next loop", file=sys.stderr)
with open(PGPASS) as f:
    lines = f.read().splitlines()
if mended(lines) != lines:
    st = os.stat(PGPASS)
    tmp = PGPASS + ".nextcloud-ha"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(mended(lines)) + "\n")
    os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, PGPASS)
    print(f"patroni: the replication password in {PGPASS} mended (Patroni 4.0.7 keeps the old one on reload)")
