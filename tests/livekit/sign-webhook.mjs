// Signs a webhook body the way LiveKit does (livekit-server-sdk's AccessToken
// with the body's sha256 grant) and prints the Authorization header value.
//
//   node tests/livekit/sign-webhook.mjs KEY SECRET BODY
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(resolve(here, "..", "js"), "package.json"));
const { AccessToken } = await import(require.resolve("livekit-server-sdk"));

const [key, secret, body] = process.argv.slice(2);
if (!key || !secret || body === undefined) {
  console.error("usage: sign-webhook.mjs KEY SECRET BODY");
  process.exit(2);
}
const at = new AccessToken(key, secret, { ttl: "5m" });
at.sha256 = createHash("sha256").update(body, "utf8").digest("base64");
console.log(await at.toJwt());
