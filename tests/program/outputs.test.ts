/** The stack program's entry point (index.ts) exports every output the other stacks read. */
import { SHARED_OUTPUTS } from "../../components/sharedSecrets";
import { runInStack, settled, setupMocks } from "../helpers/mocks";
import { readStackConfig } from "../../plan/stackFiles";
import { sealKeyPairFrom } from "../../render/seal";

test("the primary stack's index.ts exports every output the other stacks read (SHARED_OUTPUTS), and the round of its CA rotation", async () => {
    // One site reads its part sealed, the other in the clear: every output is there.
    const sites = readStackConfig("dc1").sites as Record<string, Record<string, unknown>>;
    sites.dc3.sealKey = sealKeyPairFrom(Buffer.alloc(32, 3)).publicKey;
    const run = setupMocks("dc1", { certificates: { caSigning: 0, caTrusted: [0, 1] }, sites });
    const { result } = await runInStack(() => require("../../index") as Record<string, unknown>);
    await settled(run, 300);
    for (const name of Object.values(SHARED_OUTPUTS)) expect(result[name]).toBeDefined();
    expect(result[SHARED_OUTPUTS.caGenerations]).toEqual({ signing: 0, trusted: [0, 1] });
});
