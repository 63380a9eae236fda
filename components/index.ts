export { EtcdQuorum } from "./etcdQuorum";
export { PatroniCluster, PatroniMember } from "./patroniCluster";
export { LoadBalancer } from "./loadBalancer";
export { ProxmoxHost } from "./host/proxmoxHost";
export { SharedSecrets, SHARED_OUTPUTS } from "./sharedSecrets";
export { SiteContext } from "./host/placeHosts";
export { GlusterVolume } from "./glusterVolume";
export { NextcloudTier } from "./nextcloudTier";
