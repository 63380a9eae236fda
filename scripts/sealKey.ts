/**
 * `npm run -s seal-key -- SITE`: makes a site's seal key pair (docs/design/security.md, "Stacks
 * read only the secrets they need"). The private half goes to standard output, for a pipe into
 * `pulumi config set --secret` and nowhere else: the command refuses to print it on a terminal.
 * The public half, and what to do with it, go to standard error.
 */
import { randomBytes } from "node:crypto";
import { parseCommandLine } from "../ops/args";
import { PROJECT } from "../plan/config";
import { sealKeyFingerprint, sealKeyPairFrom, sealPublicKeyOf } from "../render/seal";
import * as fs from "node:fs";

const USAGE = `usage: npm run -s seal-key -- SITE [--force]
       pulumi config get ${PROJECT}:sealPrivateKey --stack STACK | npm run -s seal-key -- --public
  makes SITE's seal key pair: the primary stack seals SITE's part of the shared secrets
  (passwords, its hosts' TLS identities) to the public half and exports only that; SITE's
  stack opens it with the private half. Pipe the private half into the site stack's config:
    npm run -s seal-key -- dc2 | pulumi config set --secret ${PROJECT}:sealPrivateKey --stack dc2
  then put the public half it prints on standard error into Pulumi.yaml as sites.SITE.sealKey
  (reviewed in the pull request), and run pulumi up on the primary stack, then on SITE's.
  The private half is never printed on a terminal.
  --force   print the private half even where standard output is a terminal
  --public  read a private half (PEM) on standard input, print its public half and fingerprint:
            what sites.SITE.sealKey must be for that stack`;

function main(argv: string[]): number {
    const { values, positionals } = parseCommandLine("seal-key", USAGE, argv, { force: { type: "boolean" }, public: { type: "boolean" } }, { min: 0, max: 1 });
    if (values.public) {
        if (positionals.length > 0 || values.force) {
            console.error("seal-key: --public takes no site and no --force: it reads a private key on standard input; see --help");
            return 2;
        }
        let publicKey: string;
        try {
            publicKey = sealPublicKeyOf(fs.readFileSync(0, "utf8"));
        } catch (e) {
            console.error(`seal-key: standard input ${(e as Error).message}; see --help`);
            return 2;
        }
        console.log(`${publicKey}\n(fingerprint ${sealKeyFingerprint(publicKey)})`);
        return 0;
    }
    if (positionals.length === 0) {
        console.error("seal-key: missing argument (SITE, or --public); see --help");
        return 2;
    }
    const site = positionals[0];
    if (!/^[a-z][a-z0-9-]*$/.test(site)) {
        console.error(`seal-key: ${JSON.stringify(site)} is not a site name (lower-case letters, digits, dashes); see --help`);
        return 2;
    }
    if (process.stdout.isTTY && !values.force) {
        console.error(
            `seal-key: standard output is a terminal, where the private key would stay in the scrollback; pipe it: npm run -s seal-key -- ${site} | pulumi config set --secret ${PROJECT}:sealPrivateKey --stack <${site}'s stack>`,
        );
        return 2;
    }
    const pair = sealKeyPairFrom(randomBytes(32));
    process.stdout.write(pair.privateKeyPem);
    console.error(`${site}'s seal key (fingerprint ${sealKeyFingerprint(pair.publicKey)}); in Pulumi.yaml, sites.${site}:\n    sealKey: ${pair.publicKey}`);
    return 0;
}

process.exitCode = main(process.argv.slice(2));
