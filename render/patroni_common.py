# What the Patroni cluster steps share (render/patroniCluster.ts puts SETTINGS before it and the
# step's own part after it): the local member's config, the cluster as Patroni's REST API shows
# it, bounded waits, a superuser connection to the leader, and messages that name the step, the
# host and what was already done.
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request

import yaml

S = SETTINGS  # noqa: F821 (prepended by the renderer)
done = []
if not os.path.exists(S["config"]):
    print(f"{S['scope']}: Patroni is not configured on this host yet; nothing to do before its first converge", flush=True)
    sys.exit(0)
with open(S["config"]) as f:
    local = yaml.safe_load(f)
HOST = local["name"]
rest = f"https://{local['restapi']['connect_address']}"
# The REST API over TLS: the server verified by the deployment CAs, this member's certificate presented.
rest_tls = ssl.create_default_context(cafile=local["restapi"]["cafile"])
rest_tls.load_cert_chain(local["ctl"]["certfile"], local["ctl"]["keyfile"])


def say(message):
    print(f"{S['scope']}: {message}", flush=True)


def fail(message):
    print(f"{S['scope']} ({S['step']} on {HOST}): {message}; done before: {', '.join(done) or 'nothing'}", file=sys.stderr, flush=True)
    sys.exit(1)


def ctl(*args, stdin=None):
    r = subprocess.run(["patronictl", "-c", S["config"], *args], input=stdin, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        fail(f"patronictl {' '.join(args)} failed: {' | '.join((r.stderr or r.stdout).strip().splitlines()[-2:])}")
    return r.stdout


def members():
    with urllib.request.urlopen(f"{rest}/cluster", timeout=5, context=rest_tls) as r:
        return json.load(r)["members"]


def member(name):
    return next((m for m in members() if m["name"] == name), None)


def leader_name():
    return next((m["name"] for m in members() if m["role"] in ("leader", "standby_leader")), None)


def wait(what, check, seconds):
    deadline, last = time.time() + seconds, None
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception as e:  # a member restarting does not answer for a moment
            last = e
        time.sleep(1)
    fail(f"{what}: not after {seconds} s{f' (last error: {last})' if last else ''}")


def superuser_connect(passwords=()):
    """
    The leader, as the superuser: through the local socket when this member leads (peer
    authentication, no password); else over TCP with the password of the local config, or one of
    `passwords` (a rotation half done).
    """
    import psycopg2

    su = local["postgresql"]["authentication"]["superuser"]
    leader = leader_name()
    if leader == HOST:
        socket = local["postgresql"].get("parameters", {}).get("unix_socket_directories", "/var/run/postgresql").split(",")[0].strip()
        return psycopg2.connect(host=socket, port=S["port"], user=su["username"], dbname="postgres", connect_timeout=5)
    host = member(leader)["host"]
    # TLS as Patroni's own superuser connections verify it (render/patroni.ts PG_CLIENT_TLS).
    tls = {k: su[k] for k in ("sslmode", "sslrootcert") if k in su}
    error = None
    for password in [su["password"], *passwords]:
        try:
            return psycopg2.connect(host=host, port=S["port"], user=su["username"], password=password, dbname="postgres", connect_timeout=5, **tls)
        except psycopg2.OperationalError as e:
            error = e
    raise error


def superuser_query(sql, params=()):
    conn = superuser_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def bootstrapped():
    """
    False on day one: the cluster has not bootstrapped yet (its members wait for the other sites'
    etcd members). A member added to a running cluster has no data yet either, but its Patroni,
    just started, soon shows the cluster's leader: ask it for up to a minute before deciding.
    """
    if os.path.exists(os.path.join(local["postgresql"]["data_dir"], "PG_VERSION")):
        return True
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if leader_name() is not None:
                return True
        except Exception:
            pass  # Patroni starting, or waiting for etcd's quorum
        time.sleep(2)
    return False

