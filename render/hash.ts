/** A short content hash: the first 16 hex digits of SHA-256 (triggers name a file's content by it, a seal key's fingerprint is one). Pure. */
import { createHash } from "node:crypto";

export function shortHash(data: string | Buffer): string {
    return createHash("sha256").update(data).digest("hex").slice(0, 16);
}
