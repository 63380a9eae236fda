# Shared by the etcd scripts (render/etcd.ts puts it before each): the script's settings, and
# etcdctl with the member's certificate, every call bounded.
import json
import os
import subprocess

S = json.loads(r"""@SETTINGS@""")


# What etcd answers a call that needs a user while its auth is on (etcd.auth).
# A certificate with a common name logs in as that user over gRPC: one etcd does not know says so.
AUTH_NEEDED = ("user name is empty", "user name not found", "permission denied", "invalid auth token")


def etcdctl(endpoints, *args, timeout="10s", dial="3s", input=None, login=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env.update(
        ETCDCTL_API="3",
        ETCDCTL_ENDPOINTS=",".join(endpoints),
        ETCDCTL_CACERT=S["caFile"],
        ETCDCTL_CERT=S["certFile"],
        ETCDCTL_KEY=S["keyFile"],
        ETCDCTL_DIAL_TIMEOUT=dial,
        ETCDCTL_COMMAND_TIMEOUT=timeout,
    )

    if login:
        # As this user (name, password): in etcdctl's environment, never its command line; no retry as root.
        env.update(ETCDCTL_USER=login[0], ETCDCTL_PASSWORD=login[1])

    def run():
        try:
            return subprocess.run(["etcdctl", *args], env=env, input=input, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, 1, "", "etcdctl timed out")

    r = run()
    # With etcd's auth on, a call that needs a user goes again as root, the password from the
    # member's password file (root and etcd's user) into etcdctl's environment (never its command line).
    password_file = S.get("rootPasswordFile")
    if not login and r.returncode != 0 and any(a in r.stderr for a in AUTH_NEEDED) and password_file and os.access(password_file, os.R_OK):
        with open(password_file) as f:
            env.update(ETCDCTL_USER="root", ETCDCTL_PASSWORD=f.read().strip())
        r = run()
    return r


def why(r):
    # etcdctl's last line says it; the lines before are its client's retry log.
    return (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
