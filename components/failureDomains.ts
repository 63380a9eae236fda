/**
 * FailureDomains: the plan's failure matrix (plan/failureDomains.ts) as a resource of every
 * stack, so that the policy pack can refuse a plan that leaves a role without a survivor
 * where the topology promises to fail over by itself, and a preview shows when a change of
 * the plan changes what survives. It creates nothing.
 */
import * as pulumi from "@pulumi/pulumi";
import { DATA_ROLES, failureGaps, FailureMatrix, SERVICE_ROLES } from "../plan/failureDomains";

export interface FailureDomainsArgs {
    /** The plan's failure matrix: every single failure and what survives it. */
    matrix: FailureMatrix;
}

export class FailureDomains extends pulumi.ComponentResource {
    constructor(name: string, args: FailureDomainsArgs, opts?: pulumi.ComponentResourceOptions) {
        const { matrix } = args;
        super(
            "nextcloud-ha:index:FailureDomains",
            name,
            {
                topology: matrix.topology,
                rows: matrix.rows.map((r) => ({
                    failure: r.failure.id,
                    recovery: r.recovery,
                    promised: r.promised,
                    lost: matrix.roles.filter((role) => r.roles[role] && !r.roles[role]!.survives),
                })),
                // Read by the policy rules failure-domains (data) and failure-domains-service.
                dataGaps: failureGaps(matrix, DATA_ROLES).map((g) => g.message),
                serviceGaps: failureGaps(matrix, SERVICE_ROLES).map((g) => g.message),
            },
            opts,
        );
        this.registerOutputs({});
    }
}
