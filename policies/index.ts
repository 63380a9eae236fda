/**
 * The nextcloud-ha policy pack: `pulumi preview --policy-pack policies`. Every rule is
 * mandatory but those marked advisory; the rules themselves are pure functions in rules.ts,
 * tested without the engine.
 * The engine hands policies secret inputs in plain text with no marker (pulumi-policy#241),
 * so here no-plaintext-secrets can only judge by input names; `npm run check` sees the markers.
 */
import { PolicyPack, ResourceValidationPolicy } from "@pulumi/policy";
import { RULES } from "./rules";

const policies: ResourceValidationPolicy[] = RULES.filter((r) => r.name !== "no-plaintext-secrets").map((rule) => ({
    name: rule.name,
    description: rule.description,
    enforcementLevel: rule.enforcement ?? "mandatory",
    validateResource: (args, reportViolation) => {
        if (rule.types && !rule.types.includes(args.type)) return;
        for (const message of rule.check({ type: args.type, name: args.name, props: args.props, opts: args.opts })) reportViolation(message);
    },
}));

new PolicyPack("nextcloud-ha", { policies });
