// Verifies LiveKit tokens with livekit-server-sdk's TokenVerifier, the way a
// LiveKit server would (HS256, iss = key, exp required, 60 s clock tolerance).
//
//   node tests/livekit/verify-token.mjs KEY SECRET [TOKEN...]   (or tokens on stdin, one a line)
//
// Prints one line per token: "ok <claims JSON>" or "FAIL <reason>"; exits 1
// when any token fails.
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(resolve(here, "..", "js"), "package.json"));
const { TokenVerifier } = await import(require.resolve("livekit-server-sdk"));

const [key, secret, ...args] = process.argv.slice(2);
if (!key || !secret) {
  console.error("usage: verify-token.mjs KEY SECRET [TOKEN...]");
  process.exit(2);
}
const tokens = args.length ? args : readFileSync(0, "utf8").split("\n").map((l) => l.trim()).filter(Boolean);
const verifier = new TokenVerifier(key, secret);
let bad = 0;
for (const t of tokens) {
  try {
    console.log(`ok ${JSON.stringify(await verifier.verify(t))}`);
  } catch (e) {
    bad++;
    console.log(`FAIL ${e.code || ""} ${e.message}`);
  }
}
process.exit(bad ? 1 : 0);
