export { EtcdQuorum } from "./etcd/etcdQuorum";
export { PatroniCluster, PatroniMember } from "./patroni/patroniCluster";
export { LoadBalancer } from "./loadbalancer/loadBalancer";
export { ProxmoxHost } from "./host/proxmoxHost";
export { SharedSecrets, SHARED_OUTPUTS } from "./shared/sharedSecrets";
export { SiteContext } from "./host/placeHosts";
export { GlusterVolume } from "./gluster/glusterVolume";
export { NextcloudTier } from "./nextcloud/nextcloudTier";
