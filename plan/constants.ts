/** Versions and ports: facts of the platform, the same for every plan. */

/** Debian 13 package versions the VMs and the lab run. */
export const VERSIONS = {
    debian: "trixie",
    postgres: 17,
    patroni: "4.0.7",
    etcd: "3.5",
    haproxy: "3.0",
} as const;

export const PORTS = {
    postgres: 5432,
    patroniRest: 8008,
    etcdClient: 2379,
    etcdPeer: 2380,
    haproxyPrimary: 5000,
    haproxyReplicas: 5001,
    haproxyStats: 7000,
    https: 443,
    http: 80,
    nextcloud: 8080,
    redis: 6379,
} as const;
