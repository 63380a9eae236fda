/**
 * The stack program: one stack per datacenter. Everything happens in deploySite
 * (program.ts); its result, every property a stack output, is what the other stacks
 * (SHARED_OUTPUTS in components/sharedSecrets.ts) and the operator read.
 */
import { deploySite } from "./program";

export = deploySite();
