// Writes the .proto files of livekit-ffi from the protobuf metadata that the
// pinned npm package ships (@livekit/rtc-ffi-bindings proto/*_pb.js,
// protoc-gen-es v1): the engine binary and this schema are one published pair,
// and no .proto files are on npm. Run by the Makefile at build time; the output
// stays out of git.
//
//   node libs/lkrtc/gen-proto.mjs <dir of @livekit/rtc-ffi-bindings> <out dir>
//
// Every message, enum, nested type, oneof, map and label (proto2 `required`
// included) comes from the runtime metadata of each generated module; the file
// name, package and syntax from the header line protoc-gen-es writes
// ("@generated from file X.proto (package P, syntax S)"). Types are referenced
// by their fully qualified names, and a file imports exactly the files whose
// types it uses.
import { createRequire } from "node:module";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const [pkgArg, outArg] = process.argv.slice(2);
if (!pkgArg || !outArg) {
  console.error("usage: gen-proto.mjs <@livekit/rtc-ffi-bindings dir> <out dir>");
  process.exit(2);
}
const pkgDir = resolve(pkgArg);
const outDir = resolve(outArg);
const require = createRequire(join(pkgDir, "package.json"));
const { proto2 } = require("@bufbuild/protobuf");

const SCALARS = {
  1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64",
  7: "fixed32", 8: "bool", 9: "string", 12: "bytes", 13: "uint32", 15: "sfixed32",
  16: "sfixed64", 17: "sint32", 18: "sint64",
};

function fail(msg) {
  console.error(`gen-proto: ${msg}`);
  process.exit(1);
}

// ---- collect every type with the file that defines it ----------------------
const files = []; // {name, pkg, syntax, types: [{kind, typeName, def}]}
const owner = new Map(); // typeName -> file name
const protoDir = join(pkgDir, "proto");
const modules = readdirSync(protoDir).filter((f) => f.endsWith("_pb.js")).sort();
if (modules.length === 0) fail(`no *_pb.js in ${protoDir}`);
for (const mod of modules) {
  const path = join(protoDir, mod);
  const head = readFileSync(path, "utf8").match(
    /@generated from file (\S+\.proto) \(package ([\w.]+), syntax (proto2|proto3)\)/,
  );
  if (!head) fail(`${mod}: no "@generated from file" header`);
  const file = { name: head[1], pkg: head[2], syntax: head[3], types: [] };
  for (const [exportName, value] of Object.entries(require(path))) {
    let t = null;
    if (typeof value === "function" && typeof value.typeName === "string" && value.fields) {
      t = { kind: "message", typeName: value.typeName, def: value };
    } else if (value && typeof value === "object") {
      let e = null;
      try {
        e = proto2.getEnumType(value);
      } catch {
        e = null;
      }
      if (e) t = { kind: "enum", typeName: e.typeName, def: e };
    }
    if (!t) fail(`${mod}: export ${exportName} is neither a message nor an enum`);
    if (!t.typeName.startsWith(file.pkg + ".")) fail(`${t.typeName} is outside package ${file.pkg}`);
    if (owner.has(t.typeName)) fail(`${t.typeName} is defined twice`);
    owner.set(t.typeName, file.name);
    file.types.push(t);
  }
  files.push(file);
}

// ---- write ------------------------------------------------------------------
function typeRef(file, typeName) {
  const f = owner.get(typeName);
  if (!f) fail(`${typeName} is referenced but defined nowhere`);
  if (f !== file.name) file.imports.add(f);
  return "." + typeName;
}

function literal(v, fi) {
  if (fi.kind === "enum") {
    const val = fi.T.values.find((x) => x.no === v);
    if (!val) fail(`default ${v} is not a value of ${fi.T.typeName}`);
    return val.name;
  }
  if (typeof v === "string") return JSON.stringify(v);
  if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v).toString("latin1"));
  return String(v);
}

function fieldType(file, fi) {
  if (fi.kind === "scalar") {
    if (!SCALARS[fi.T]) fail(`scalar type ${fi.T} unknown`);
    return SCALARS[fi.T];
  }
  if (fi.kind === "enum" || fi.kind === "message") return typeRef(file, fi.T.typeName);
  if (fi.kind === "map") {
    const v = fi.V.kind === "scalar" ? SCALARS[fi.V.T] : typeRef(file, fi.V.T.typeName);
    return `map<${SCALARS[fi.K]}, ${v}>`;
  }
  fail(`field kind ${fi.kind} unknown`);
}

function fieldLine(file, fi, inOneof) {
  if (fi.delimited) fail(`${fi.name}: groups are not supported`);
  const opts = [];
  if (fi.packed && fi.repeated && file.syntax === "proto2") opts.push("packed = true");
  if (fi.default !== undefined) opts.push(`default = ${literal(fi.default, fi)}`);
  let label = "";
  if (!inOneof && fi.kind !== "map") {
    if (fi.repeated) label = "repeated ";
    else if (fi.req) label = "required ";
    else if (file.syntax === "proto2" || fi.opt) label = "optional ";
  }
  const o = opts.length ? ` [${opts.join(", ")}]` : "";
  return `${label}${fieldType(file, fi)} ${fi.name} = ${fi.no}${o};`;
}

function enumBody(e, ind) {
  const nos = e.values.map((v) => v.no);
  const alias = new Set(nos).size !== nos.length;
  const lines = [];
  if (alias) lines.push(`${ind}  option allow_alias = true;`);
  for (const v of e.values) lines.push(`${ind}  ${v.name} = ${v.no};`);
  return lines;
}

// nested: name -> {self: type | null, children: Map}
function tree(file) {
  const root = new Map();
  for (const t of file.types) {
    const parts = t.typeName.slice(file.pkg.length + 1).split(".");
    let level = root;
    let node = null;
    for (const p of parts) {
      if (!level.has(p)) level.set(p, { self: null, children: new Map() });
      node = level.get(p);
      level = node.children;
    }
    node.self = t;
  }
  return root;
}

function emit(file, name, node, ind, out) {
  const t = node.self;
  if (!t) fail(`${file.name}: ${name} has nested types but is not itself a type`);
  if (t.kind === "enum") {
    if (node.children.size) fail(`enum ${t.typeName} has nested types`);
    out.push(`${ind}enum ${name} {`, ...enumBody(t.def, ind), `${ind}}`);
    return;
  }
  out.push(`${ind}message ${name} {`);
  for (const [childName, child] of node.children) emit(file, childName, child, ind + "  ", out);
  const fields = t.def.fields.list().slice().sort((a, b) => a.no - b.no);
  const doneOneofs = new Set();
  for (const fi of fields) {
    if (fi.oneof) {
      if (doneOneofs.has(fi.oneof.name)) continue;
      doneOneofs.add(fi.oneof.name);
      out.push(`${ind}  oneof ${fi.oneof.name} {`);
      for (const m of fields.filter((x) => x.oneof && x.oneof.name === fi.oneof.name))
        out.push(`${ind}    ${fieldLine(file, m, true)}`);
      out.push(`${ind}  }`);
    } else {
      out.push(`${ind}  ${fieldLine(file, fi, false)}`);
    }
  }
  out.push(`${ind}}`);
}

mkdirSync(outDir, { recursive: true });
for (const file of files) {
  file.imports = new Set();
  const body = [];
  for (const [name, node] of tree(file)) emit(file, name, node, "", body);
  const out = [
    `// Generated by libs/lkrtc/gen-proto.mjs from @livekit/rtc-ffi-bindings`,
    `// ${JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version}`
      + ` proto/${file.name.replace(/\.proto$/, "_pb.js")}. Do not edit.`,
    `syntax = "${file.syntax}";`,
    ``,
    `package ${file.pkg};`,
    ``,
    ...[...file.imports].sort().map((i) => `import "${i}";`),
    ...(file.imports.size ? [""] : []),
    ...body,
    ``,
  ];
  writeFileSync(join(outDir, file.name), out.join("\n"));
}
console.log(`gen-proto: ${files.length} files, ${owner.size} types -> ${outDir}`);
