// Checks the events libs/event produces (build/bin/event-sample) against the
// JSON Schemas in proto/, and that the schemas reject deliberately bad events.
// Prints one line per check and ends with "N passed, M failed".
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const build = process.env.CALLMESH_BUILD || "build";
const protoDir = join(root, "proto");

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ""}`);
  }
}

const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);
const readJson = (p) => JSON.parse(readFileSync(p, "utf8"));
const envelope = ajv.compile(readJson(join(protoDir, "envelope.schema.json")));
const dataSchemas = new Map();
for (const f of readdirSync(join(protoDir, "events")).sort()) {
  const m = f.match(/^([a-z_]+)\.schema\.json$/);
  if (m) dataSchemas.set(m[1], ajv.compile(readJson(join(protoDir, "events", f))));
}

function validate(ev) {
  if (!envelope(ev)) return ajv.errorsText(envelope.errors);
  const data = dataSchemas.get(ev.type);
  if (!data) return `no schema for type ${ev.type}`;
  if (!data(ev.data)) return ajv.errorsText(data.errors, { dataVar: "data" });
  return null;
}

check("every envelope type has a data schema",
  envelope.schema.properties.type.enum.every((t) => dataSchemas.has(t)) &&
    envelope.schema.properties.type.enum.length === dataSchemas.size);

let lines = [];
try {
  const out = execFileSync(resolve(root, build, "bin", "event-sample"), { encoding: "utf8" });
  lines = out.split("\n").filter((l) => l.length > 0);
  check("event-sample runs", true);
} catch (e) {
  check("event-sample runs", false, e.message.split("\n")[0]);
}

const seen = new Map();
for (const line of lines) {
  let ev;
  try {
    ev = JSON.parse(line);
  } catch (e) {
    check(`sample is JSON: ${line.slice(0, 60)}`, false, e.message);
    continue;
  }
  const err = validate(ev);
  check(`sample ${ev.type} matches schema`, err === null, err);
  seen.set(ev.type, (seen.get(ev.type) || 0) + 1);
}
for (const type of dataSchemas.keys())
  check(`one sample of ${type}`, seen.get(type) === 1, `got ${seen.get(type) || 0}`);
for (const type of seen.keys())
  if (!dataSchemas.has(type)) check(`sample type ${type} is catalogued`, false);

// Deliberately bad events, each derived from a valid one.
const base = {
  v: 1, id: "7f3c1a2e-5b6d-4c8e-9f01-23456789abcd", type: "call_failed",
  call_id: "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", room: "call-1",
  ts: "2026-11-23T19:00:00.123Z", source: "sip-bridge/host-1",
  data: { status: "busy", sip_code: 486 },
};
check("reference event is valid", validate(base) === null, validate(base));
const bad = [
  ["wrong v", { v: 2 }],
  ["missing id", { id: undefined }],
  ["bad uuid", { id: "not-a-uuid" }],
  ["unknown type", { type: "call_teleported" }],
  ["bad ts", { ts: "yesterday" }],
  ["impossible date", { ts: "2026-02-31T00:00:00.000Z" }],
  ["empty room", { room: "" }],
  ["room too long", { room: "r".repeat(129) }],
  ["room with space", { room: "a room" }],
  ["non-object data", { data: [] }],
  ["extra envelope field", { extra: true }],
  ["call_failed without status", { data: { sip_code: 486 } }],
  ["call_failed bad status", { data: { status: "completed" } }],
  ["call_failed sip_code out of range", { data: { status: "busy", sip_code: 999 } }],
  ["call_failed fractional sip_code", { data: { status: "busy", sip_code: 486.5 } }],
  ["call_failed reason not a string", { data: { status: "failed", reason: 5 } }],
  ["call_dtmf bad digit", { type: "call_dtmf", data: { digit: "E", duration_ms: 100 } }],
  ["call_dtmf negative duration", { type: "call_dtmf", data: { digit: "1", duration_ms: -1 } }],
  ["call_ended bad by", { type: "call_ended", data: { reason: "hangup", by: "nobody", duration_ms: 1 } }],
  ["call_hold bad direction", { type: "call_hold", data: { direction: "sendrecv" } }],
  ["transcript final not bool", { type: "transcript",
    data: { speaker: "user", text: "hi", final: "yes", started_at: "2026-11-23T19:00:00.000Z" } }],
  ["transcript bad started_at", { type: "transcript",
    data: { speaker: "user", text: "hi", final: true, started_at: "now" } }],
  ["recording_failed attempt 0", { type: "recording_failed", data: { attempt: 0, error: "x" } }],
  ["recording_ready without path", { type: "recording_ready", data: {} }],
  ["webhook_failed non-http url", { type: "webhook_failed", data: { url: "ftp://x", error: "x" } }],
];
for (const [name, patch] of bad) {
  const ev = { ...base, ...patch };
  for (const k of Object.keys(patch)) if (patch[k] === undefined) delete ev[k];
  check(`rejects ${name}`, validate(ev) !== null, "accepted");
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
