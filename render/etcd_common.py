# Shared by the etcd scripts (render/etcd.ts puts it before each): the script's settings, and
# etcdctl with the member's certificate, every call bounded.
import json
import os
import subprocess

S = json.loads(r"""@SETTINGS@""")


def etcdctl(endpoints, *args, timeout="10s", dial="3s"):
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
    try:
        return subprocess.run(["etcdctl", *args], env=env, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 1, "", "etcdctl timed out")


def why(r):
    # etcdctl's last line says it; the lines before are its client's retry log.
    return (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
