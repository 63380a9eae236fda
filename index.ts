/**
 * The stack program: one stack per datacenter. Everything happens in deploySite
 * (program.ts); this file exports its outputs, which the other stacks and the operator read.
 */
import { deploySite } from "./program";

const outputs = deploySite();
export const topology = outputs.topology;
export const siteName = outputs.siteName;
export const hosts = outputs.hosts;
export const etcdClientEndpoints = outputs.etcdClientEndpoints;
export const patroniScope = outputs.patroniScope;
export const patroniMembers = outputs.patroniMembers;
export const primaryEndpoints = outputs.primaryEndpoints;
export const replicaEndpoints = outputs.replicaEndpoints;
export const replicationCredentials = outputs.replicationCredentials;
export const glusterVolume = outputs.glusterVolume;
export const glusterMountServers = outputs.glusterMountServers;
export const nextcloudAppEndpoints = outputs.nextcloudAppEndpoints;
export const publicEndpoint = outputs.publicEndpoint;
export const dnsRecords = outputs.dnsRecords;
export const sharedSecrets = outputs.sharedSecrets;
export const etcdCaCertPem = outputs.etcdCaCertPem;
