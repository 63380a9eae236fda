export { EtcdQuorum, EtcdQuorumArgs } from "./etcdQuorum";
export { PatroniCluster, PatroniClusterArgs, PatroniMember } from "./patroniCluster";
export { LoadBalancer, LoadBalancerArgs } from "./loadBalancer";
export { GlusterVolume, GlusterVolumeArgs } from "./glusterVolume";
export { NextcloudTier, NextcloudTierArgs } from "./nextcloudTier";
export { FailureDomains, FailureDomainsArgs } from "./failureDomains";
export { ProxmoxHost, ProxmoxHostArgs } from "./host/proxmoxHost";
export { Placement } from "./host/placeHosts";
export { exportsInTheClear, IssuedIdentity, sealTargetOf, sealTargets, SharedSecrets, SharedSecretsArgs, SHARED_OUTPUTS } from "./sharedSecrets";
