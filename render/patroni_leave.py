# Takes this member out of its Patroni cluster before its VM goes: what `pulumi up` runs (the
# `delete` of the member's Patroni step, as root) when the plan no longer has the host, and what
# the lab runs when its stack files drop one. In order, every wait bounded, safe to re-run:
#   1. tags nofailover, nosync and noloadbalance in the local config, and a reload: Patroni
#      names another synchronous standby (or none) at its next loop, so commits never wait for
#      a member about to stop, and no failover picks it;
#   2. a leader hands over first (the cluster step already does when the plan dropped it; this
#      is the fallback): a switchover to a streaming synchronous standby;
#   3. Patroni stops, PostgreSQL with it; its member key expires after ttl, and the leader
#      keeps its replication slot for member_slots_ttl (Patroni 4: 30 min by default), then drops
#      it. The data directory stays on the disk that goes with the VM.
# With --restart (after a package update: new PostgreSQL or Patroni binaries), the member stays:
# a leader hands over as in 2, then Patroni restarts (PostgreSQL with it) and the member must be
# running again, a replica streaming, within three minutes. The Patroni steps run one member at
# a time, so never two members are down at once.
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request

import yaml

CONFIG = "@CONFIG@"
TAGS = ("nofailover", "nosync", "noloadbalance")


RESTART = sys.argv[1:] == ["--restart"]
if sys.argv[1:] not in ([], ["--restart"]):
    print("usage: patroni-leave.py [--restart]", file=sys.stderr)
    sys.exit(2)
WHAT = "restart" if RESTART else "leave"


def say(message):
    print(f"patroni {WHAT}: {message}", flush=True)


def fail(message):
    print(f"patroni {WHAT} on {name}: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


if subprocess.run(["systemctl", "is-active", "--quiet", "patroni.service"]).returncode != 0:
    say("Patroni is not running here; nothing to hand over" + ("; it starts with the new binaries" if RESTART else ""))
    sys.exit(0)
with open(CONFIG) as f:
    config = yaml.safe_load(f)
name = config["name"]
rest = f"https://{config['restapi']['connect_address']}"
# The REST API over TLS: the server verified by the deployment CAs, this member's certificate presented.
rest_tls = ssl.create_default_context(cafile=config["restapi"]["cafile"])
rest_tls.load_cert_chain(config["ctl"]["certfile"], config["ctl"]["keyfile"])


def members():
    with urllib.request.urlopen(f"{rest}/cluster", timeout=5, context=rest_tls) as r:
        return json.load(r)["members"]


def me():
    return next((m for m in members() if m["name"] == name), {})


def wait(what, check, seconds):
    deadline, last = time.time() + seconds, None
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception as e:  # Patroni busy with its loop: ask again
            last = e
        time.sleep(1)
    fail(f"{what}: not after {seconds} s{f' (last error: {last})' if last else ''}")


def synchronous():
    with urllib.request.urlopen(f"{rest}/config", timeout=5, context=rest_tls) as r:
        return bool(json.load(r).get("synchronous_mode"))


def handover():
    candidate = None
    # In synchronous mode Patroni takes only the synchronous standby ("candidate name does not match
    # with sync_standby"): a replica that just came back streams before Patroni names it, at its next loop.
    sync_only = synchronous()

    def candidate_ready():
        nonlocal candidate
        # Never to a member that is leaving too (tagged nofailover): Patroni would refuse it.
        ready = [
            m
            for m in members()
            if m["name"] != name and m["role"] in ("sync_standby", "replica") and m["state"] == "streaming" and not (m.get("tags") or {}).get("nofailover")
        ]
        sync = [m for m in ready if m["role"] == "sync_standby"]
        pool = sync if sync_only else sync or ready
        candidate = pool[0] if pool else None
        return candidate is not None

    wait("a streaming replica to hand over to", candidate_ready, 120)
    say(f"switchover {name} -> {candidate['name']}")
    out = subprocess.run(
        ["patronictl", "-c", CONFIG, "switchover", "--leader", name, "--candidate", candidate["name"], "--force"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0 or "failed, details" in out.stdout:
        fail(f"Patroni refused the switchover to {candidate['name']}: {(out.stdout + out.stderr).strip().splitlines()[-1:]}")
    wait(f"{candidate['name']} leading", lambda: any(m["name"] == candidate["name"] and m["role"] == "leader" for m in members()), 120)


if RESTART:
    if me().get("role") == "leader":
        handover()
    subprocess.run(["systemctl", "restart", "patroni.service"], check=True)
    say("Patroni restarted (PostgreSQL with it)")
    wait(
        f"{name} running again, streaming from the leader",
        lambda: (lambda m: m.get("state") in ("running", "streaming") and (m.get("role") == "leader" or m.get("state") == "streaming"))(me()),
        180,
    )
    say(f"{name} runs the new binaries")
    sys.exit(0)

# 1. Out of the synchronous set and the failover candidates.
if not all((config.get("tags") or {}).get(t) for t in TAGS):
    config.setdefault("tags", {}).update({t: True for t in TAGS})
    st = os.stat(CONFIG)
    tmp = CONFIG + ".leaving"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(yaml.safe_dump(config, default_flow_style=False, sort_keys=False))
    os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, CONFIG)
    say(f"tags {', '.join(TAGS)} set")
# Also on a re-run whose first run wrote the tags but died before the reload.
if not all((me().get("tags") or {}).get(t) for t in TAGS):
    subprocess.run(["systemctl", "reload", "patroni.service"], check=True)
    say("Patroni reloaded")
wait("Patroni showing the tags", lambda: all((me().get("tags") or {}).get(t) for t in TAGS), 60)

# 2. A leader hands over.
if me().get("role") == "leader":
    handover()

# 1 again: no longer the synchronous standby (Patroni names another, or none, at its next loop).
wait("another synchronous standby named", lambda: me().get("role") != "sync_standby", 60)

# 3. Stop.
subprocess.run(["systemctl", "stop", "patroni.service"], check=True)
say(f"{name} left the cluster: Patroni and PostgreSQL stopped (its member key expires after ttl)")
