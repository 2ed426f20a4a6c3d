// The deployment files, checked offline (DESIGN §10): docker-compose.yml (and
// the carrier overlay deploy/docker/carrier.compose.yml) as `docker-compose
// config` (or `docker compose config`) renders it, deploy/k8s as `kubectl
// kustomize` renders it, and deploy/docker/Dockerfile against the built
// binaries and LiveKit's engine in runtime/livekit. Both deployments run the
// LiveKit backend with every service in its own container / Deployment;
// every variable given to a service must be one it reads (its --help), every
// health check must reach that service's own HEALTH_ADDR.
// Secrets: both render with secrets generated here by deploy/secrets.sh into a
// temporary directory (none is in the repository): api-gateway and sip-bridge
// get one SECRETS_KEY from one source, api-gateway WEBHOOK_SIGNING_SECRET,
// every service its own NATS identity, and nats-server runs with the
// generated authorization: the nats command each deployment renders is run
// here (on 127.0.0.1 and free ports) and each identity, the viewer and an
// outsider connect to it.
// Prints one line per check and ends with "N passed, M failed".
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, posix, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import { freePort } from "./lib/stack.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const build = process.env.CALLMESH_BUILD || "build";
const SERVICES = ["api-gateway", "room-manager", "twilio-dialer", "sip-bridge", "agent-worker"];
// the services that join or manage LiveKit rooms (LIVEKIT_URL, key, secret)
const LK_SERVICES = ["room-manager", "twilio-dialer", "sip-bridge", "agent-worker"];
const SECRET_VARS = ["API_KEYS", "DATABASE_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "OPENAI_API_KEY",
  "EGRESS_S3_SECRET", "EGRESS_S3_ACCESS_KEY", "NATS_PASSWORD", "SECRETS_KEY", "SECRETS_KEY_PREVIOUS",
  "WEBHOOK_SIGNING_SECRET", "ROOM_TOKEN_SECRET"];
// the NATS users scripts/nats-auth.sh writes: one per service and the viewer
const NATS_USERS = [...SERVICES, "viewer"];
const ENGINE_REL = "node_modules/@livekit/rtc-ffi-bindings-linux-x64-gnu/rtc-node.linux-x64-gnu.node";

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

function run(cmd, args, { timeout = 60000, env } = {}) {
  const r = spawnSync(cmd, args, {
    cwd: root, encoding: "utf8", maxBuffer: 16 << 20, timeout, env: env ? { ...process.env, ...env } : process.env,
  });
  return { ok: !r.error && r.status === 0, out: r.stdout || "", err: (r.stderr || "") + (r.error || "") };
}

// The variables each binary reads: the names its --help lists, with the text.
const vars = new Map();
const helpText = new Map();
for (const s of SERVICES) {
  const r = run(join(root, build, "bin", s), ["--help"], { timeout: 10000 });
  const names = new Set([...r.out.matchAll(/^ {2}([A-Z][A-Z0-9_]+) /gm)].map((m) => m[1]));
  check(`${s} --help lists its variables`, r.ok && names.has("NATS_URL") && names.size > 5, r.err);
  vars.set(s, names);
  helpText.set(s, r.out);
}
// ROOM_BACKEND follows LIVEKIT_URL in each service that reads it, so the
// deployments give LIVEKIT_URL and leave ROOM_BACKEND to it.
const followsUrl = (s) => /^ {2}ROOM_BACKEND .*\n\s+livekit when LIVEKIT_URL is set/m.test(helpText.get(s));
for (const s of LK_SERVICES) {
  check(`${s} reads LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET` +
    (vars.get(s).has("ROOM_BACKEND") ? " (ROOM_BACKEND livekit when LIVEKIT_URL is set)" : ""),
    ["LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"].every((n) => vars.get(s).has(n)) &&
    (!vars.get(s).has("ROOM_BACKEND") || followsUrl(s)), [...vars.get(s)].join(","));
}

const port = (addr) => Number(String(addr ?? "").split(":").pop());
const host = (addr) => String(addr ?? "").split(":")[0];
const unknown = (svc, names) => names.filter((n) => !vars.get(svc).has(n));
const urlOf = (u) => {
  try {
    return new URL(String(u));
  } catch {
    return null;
  }
};
const urlPort = (u) => Number(u.port || { "http:": 80, "ws:": 80, "https:": 443, "wss:": 443 }[u.protocol] || 0);

// ---- generated secrets, NATS checked live ---------------------------------
const tmp = mkdtempSync(join(tmpdir(), "callmesh-deploy-"));
const natsPids = [];
process.on("exit", () => {
  for (const pid of natsPids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});
const envFile = (f) => {
  try {
    return Object.fromEntries(readFileSync(f, "utf8").split("\n").filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  } catch {
    return {};
  }
};
// The users and passwords of a generated nats.conf's authorization block.
function natsUsers(conf) {
  const auth = /^authorization \{/m.test(conf);
  const users = Object.fromEntries([...conf.matchAll(/user: "([^"]+)"\s+password: "([^"]+)"/g)].map((m) => [m[1], m[2]]));
  return auth ? users : {};
}
function generate(dir) {
  const r = run(join(root, "deploy/secrets.sh"), ["generate", dir]);
  const files = ["nats.conf", "secrets-key.env", "webhook-signing.env", ...NATS_USERS.map((u) => `${u}.env`)];
  const modes = files.map((f) => (existsSync(join(dir, f)) ? statSync(join(dir, f)).mode & 0o777 : -1));
  return { ok: r.ok && modes.every((m) => m === 0o600), detail: `${r.err.trim()} ${files.map((f, i) => `${f}:${modes[i].toString(8)}`)}` };
}
const composeSecrets = join(tmp, "compose");
const k8sCopy = join(tmp, "k8s");
{
  const g = generate(composeSecrets);
  check("deploy/secrets.sh generate writes nats.conf, each identity, SECRETS_KEY and WEBHOOK_SIGNING_SECRET, mode 0600",
    g.ok, g.detail);
  const snap = () => ["nats.conf", "secrets-key.env", "webhook-signing.env", "api-gateway.env"]
    .map((f) => (existsSync(join(composeSecrets, f)) ? readFileSync(join(composeSecrets, f), "utf8") : "")).join("\n");
  const before = snap();
  const again = run(join(root, "deploy/secrets.sh"), ["generate", composeSecrets]);
  check("deploy/secrets.sh generate run again keeps every secret (a new SECRETS_KEY would strand sealed passwords)",
    again.ok && before.length > 0 && snap() === before, again.err.trim());
  cpSync(join(root, "deploy/k8s"), k8sCopy, { recursive: true, filter: (src) => !src.startsWith(join(root, "deploy/k8s/secrets")) });
  const k = generate(join(k8sCopy, "secrets"));
  check("deploy/secrets.sh generate writes the files deploy/k8s reads (a copy of it here)", k.ok, k.detail);
  const ignored = run("git", ["check-ignore", "-q", "--no-index", "deploy/compose-secrets/nats.conf"]).ok &&
    run("git", ["check-ignore", "-q", "--no-index", "deploy/k8s/secrets/nats.conf"]).ok;
  check("the generated secrets' directories (deploy/compose-secrets, deploy/k8s/secrets) are in .gitignore", ignored, "");
}
const sharedKey = envFile(join(composeSecrets, "secrets-key.env")).SECRETS_KEY;
const signing = envFile(join(composeSecrets, "webhook-signing.env")).WEBHOOK_SIGNING_SECRET;
check("the generated SECRETS_KEY is base64 of 32 bytes, WEBHOOK_SIGNING_SECRET at least 32 characters",
  Buffer.from(sharedKey || "", "base64").length === 32 && (signing || "").length >= 32, "");

// One conversation with a NATS server: CONNECT as ident (none: an outsider),
// the protocol lines, PING; everything the server said until `until` matched,
// it closed, or 5 s passed.
function natsSay(natsPort, ident, lines = [], until = /(^|\n)PONG\r\n/) {
  return new Promise((resolveSay) => {
    const s = net.connect(natsPort, "127.0.0.1");
    let buf = "";
    let sent = false;
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolveSay(buf);
    };
    const timer = setTimeout(done, 5000);
    s.setEncoding("utf8");
    s.on("data", (d) => {
      buf += d;
      if (!sent && /^INFO .*\r\n/.test(buf)) {
        sent = true;
        const c = { verbose: false, pedantic: false, protocol: 1, ...(ident ? { user: ident.user, pass: ident.pass } : {}) };
        s.write(`CONNECT ${JSON.stringify(c)}\r\n${lines.join("")}PING\r\n`);
      }
      if (sent && until.test(buf.slice(buf.indexOf("\n") + 1))) done();
    });
    s.on("error", done);
    s.on("close", done);
  });
}
// Runs nats-server with the arguments a deployment gives it, conf standing in
// for the file its -c names inside the container; the listen address, ports
// and store directory moved to 127.0.0.1, free ports and a temporary
// directory. Resolves with { port, err } once the server says it is ready (or
// has exited: err then says why), bounded by 15 s.
async function natsStart(args, conf) {
  const out = [];
  const skip = new Set(["-a", "--addr", "--net", "-p", "--port", "-m", "--http_port", "-sd", "--store_dir", "-c", "--config"]);
  for (let i = 0; i < args.length; i++) {
    if (skip.has(args[i])) i++;
    else out.push(args[i]);
  }
  const natsPort = await freePort();
  const httpPort = await freePort();
  const store = mkdtempSync(join(tmp, "js-"));
  const argv = ["-c", conf, ...out, "-a", "127.0.0.1", "-p", String(natsPort), "-m", String(httpPort), "-sd", store];
  const p = spawn("nats-server", argv, { stdio: ["ignore", "ignore", "pipe"] });
  natsPids.push(p.pid);
  return new Promise((resolveStart) => {
    let log = "";
    const timer = setTimeout(() => resolveStart({ port: 0, err: `not ready in 15 s: ${log}` }), 15000);
    p.stderr.setEncoding("utf8");
    p.stderr.on("data", (d) => {
      log += d;
      if (/Server is ready/.test(log)) {
        clearTimeout(timer);
        resolveStart({ port: natsPort, pid: p.pid, err: "" });
      }
    });
    p.on("exit", (code) => {
      clearTimeout(timer);
      resolveStart({ port: 0, err: `nats-server exited ${code}: ${log.trim().split("\n").slice(-3).join(" ")}` });
    });
    p.on("error", (e) => {
      clearTimeout(timer);
      resolveStart({ port: 0, err: e.message });
    });
  });
}
// The checks on a running NATS a deployment describes: idents maps each
// service to the NATS_USER/NATS_PASSWORD it is given; viewer is the viewer's.
async function natsLive(where, args, conf, idents, viewer) {
  const srv = await natsStart(args, conf);
  check(`${where} nats-server starts with its command and the generated config`, srv.port > 0, srv.err);
  if (!srv.port) return;
  const outsider = await natsSay(srv.port, null);
  check(`${where} NATS refuses a client without credentials`, /-ERR 'Authorization Violation'/.test(outsider), outsider.trim());
  for (const s of SERVICES) {
    const said = await natsSay(srv.port, idents[s]);
    check(`${where} ${s} connects to NATS with its identity`, /PONG/.test(said) && !/-ERR/.test(said), said.trim());
  }
  const inbox = "_INBOX.api-gateway.deploy";
  const js = await natsSay(srv.port, idents["api-gateway"],
    [`SUB ${inbox} 1\r\n`, `PUB $JS.API.INFO ${inbox} 0\r\n\r\n`], /MSG _INBOX\S+ 1 \d+\r\n.*\r\n/);
  check(`${where} JetStream answers api-gateway's $JS.API.INFO`,
    /account_info_response/.test(js) && !/"error"/.test(js), js.trim().slice(0, 300));
  const rm = await natsSay(srv.port, idents["room-manager"], ["PUB dial.exotel 2\r\n{}\r\n"]);
  check(`${where} room-manager may not enqueue dial jobs (least privilege)`, /Permissions Violation for Publish/.test(rm), rm.trim());
  const v = await natsSay(srv.port, viewer, ["SUB calls.> 1\r\n", "PUB calls.c1.call_ended 2\r\n{}\r\n"]);
  check(`${where} the viewer follows calls.> and publishes nothing`,
    /Permissions Violation for Publish/.test(v) && !/Subscription/.test(v) && /PONG/.test(v), v.trim());
  try {
    process.kill(srv.pid, "SIGTERM");
  } catch {
    // gone already
  }
}

// ---- docker-compose.yml --------------------------------------------------
function composeConfig(files, env = {}) {
  const f = files.flatMap((x) => ["-f", x]);
  env = { CALLMESH_SECRETS_DIR: composeSecrets, ...env };
  let r = run("docker-compose", [...f, "config"], { env });
  if (!r.ok && /ENOENT/.test(r.err)) r = run("docker", ["compose", ...f, "config"], { env });
  return r;
}
// A published port as {host_ip, published, target, protocol}, from either
// rendering (docker-compose 1.x strings, compose v2 objects).
function portsOf(d) {
  return (d?.ports || []).map((p) => {
    if (typeof p === "object")
      return { host_ip: p.host_ip || "", published: Number(p.published), target: Number(p.target), protocol: p.protocol || "tcp" };
    const [spec, protocol = "tcp"] = String(p).split("/");
    const parts = spec.split(":");
    const target = Number(parts.pop());
    const published = Number(parts.pop() ?? target);
    return { host_ip: parts.pop() || "", published, target, protocol };
  });
}
const onComposeNetwork = (d) => !d?.network_mode || !/^(host|none|service:|container:)/.test(d.network_mode);
let composeNatsPort = 0;
let composeNats = { cmd: [], conf: "", users: {} };
let composeLk = { port: 0 };
{
  const r = composeConfig(["docker-compose.yml"]);
  check("docker-compose config accepts docker-compose.yml (with the generated secrets)", r.ok, r.err.trim());
  const c = r.ok ? parse(r.out) : { services: {} };
  const sv = c.services || {};
  const none = composeConfig(["docker-compose.yml"], { CALLMESH_SECRETS_DIR: join(tmp, "not-generated") });
  check("docker-compose refuses to render without the generated secrets, naming the missing file",
    !none.ok && /not-generated\/\S+\.(env|conf)/.test(none.err), none.err.trim().split("\n")[0]);
  const raw = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"));
  check("compose has nats, postgres, livekit and the five services",
    ["nats", "postgres", "livekit", ...SERVICES].every((n) => sv[n]), Object.keys(sv).join(","));
  const volumeAt = (d, path) => (d?.volumes || []).some((v) =>
    (typeof v === "object" ? v.target : String(v).split(":")[1]) === path &&
    (typeof v === "object" ? v.type === "volume" : !String(v).startsWith("/")));

  // NATS
  const natsCmd = [].concat(sv.nats?.command || []).map(String);
  const storeDir = natsCmd[natsCmd.indexOf("--store_dir") + 1];
  check("compose nats runs JetStream with its store on a volume",
    natsCmd.includes("--jetstream") && natsCmd.includes("--store_dir") && volumeAt(sv.nats, storeDir), natsCmd.join(" "));
  const pi = natsCmd.indexOf("--port");
  composeNatsPort = pi >= 0 ? Number(natsCmd[pi + 1]) : 4222;
  // -c names a compose secret (/run/secrets/<target or name>) or a bind
  // mount: the host file behind it must be the generated nats.conf.
  const confAt = natsCmd[Math.max(natsCmd.indexOf("-c"), natsCmd.indexOf("--config")) + 1];
  const viaSecret = (sv.nats?.secrets || []).map((x) => (typeof x === "string" ? { source: x } : x))
    .find((x) => posix.join("/run/secrets", x.target || x.source) === confAt);
  const viaMount = (sv.nats?.volumes || []).map((v) => (typeof v === "string" ? { source: v.split(":")[0], target: v.split(":")[1] } : v))
    .find((v) => v.target === confAt);
  const confHost = viaSecret ? c.secrets?.[viaSecret.source]?.file : viaMount?.source;
  check("compose nats runs with the generated config (-c, a compose secret or mount of nats.conf)",
    natsCmd.includes("-c") || natsCmd.includes("--config") ? confHost === join(composeSecrets, "nats.conf") : false,
    `${natsCmd.join(" ")} -> ${confHost}`);
  const users = natsUsers(existsSync(confHost || "") ? readFileSync(confHost, "utf8") : "");
  check("compose nats config: authorization with a user for each of the five services and the viewer",
    JSON.stringify(Object.keys(users).sort()) === JSON.stringify([...NATS_USERS].sort()), Object.keys(users).join(","));
  composeNats = { cmd: natsCmd, conf: confHost, users };

  // LiveKit: the real server in dev mode, keys from the environment, the
  // webhook to api-gateway.
  const lk = sv.livekit || {};
  const lkEnv = lk.environment || {};
  const lkCmd = [].concat(lk.command || []).map(String);
  const bindAt = lkCmd.indexOf("--bind");
  check("compose livekit is livekit/livekit-server in dev mode, listening beyond loopback",
    /^livekit\/livekit-server(:|$)/.test(lk.image || "") && lkCmd.includes("--dev") && bindAt >= 0 &&
    !/^(127\.|::1$|localhost$)/.test(lkCmd[bindAt + 1] || ""), `${lk.image} ${lkCmd.join(" ")}`);
  const keyLines = String(lkEnv.LIVEKIT_KEYS || "").split("\n").filter((l) => l.trim());
  const km = keyLines.length === 1 ? keyLines[0].match(/^([^:\s]+): (\S+)$/) : null;
  const lkKey = km?.[1];
  const lkSecret = km?.[2];
  check("compose livekit takes one key pair from LIVEKIT_KEYS (\"key: secret\")", !!km, lkEnv.LIVEKIT_KEYS);
  let lkConf = {};
  try {
    lkConf = parse(String(lkEnv.LIVEKIT_CONFIG || "")) || {};
  } catch (e) {
    lkConf = { error: e.message };
  }
  composeLk = {
    port: Number(lkConf.port || 7880),
    tcp: Number(lkConf.rtc?.tcp_port || 7881),
    udp: lkConf.rtc?.udp_port ? String(lkConf.rtc.udp_port) : lkConf.rtc?.port_range_start ? "" : "7882",
    range: lkConf.rtc?.port_range_start ? [Number(lkConf.rtc.port_range_start), Number(lkConf.rtc.port_range_end)] : null,
  };
  check("compose livekit config (LIVEKIT_CONFIG): RTC ports set, no STUN lookup of a public address",
    !lkConf.error && lkConf.rtc && lkConf.rtc.use_external_ip === false && (lkConf.rtc.udp_port || lkConf.rtc.port_range_start),
    JSON.stringify(lkConf));
  const gwEnv = sv["api-gateway"]?.environment || {};
  const hook = `http://api-gateway:${port(gwEnv.API_ADDR)}/livekit/webhook`;
  check("compose livekit sends webhooks to api-gateway's /livekit/webhook, signed with the key",
    lkConf.webhook?.api_key === lkKey && (lkConf.webhook?.urls || []).includes(hook),
    `${JSON.stringify(lkConf.webhook)} want ${hook} with ${lkKey}`);
  const lkPorts = portsOf(lk);
  const pub = (p, proto) => lkPorts.some((x) => x.target === p && x.published === p && x.protocol === proto);
  const udpPorts = composeLk.range ? [] : composeLk.udp.split("-").map(Number);
  check("compose livekit publishes its API (7880) and RTC ports",
    pub(composeLk.port, "tcp") && pub(composeLk.tcp, "tcp") &&
    (composeLk.range ? lkPorts.some((x) => x.protocol === "udp") : udpPorts.every((p) => pub(p, "udp"))),
    JSON.stringify(lkPorts));
  check("compose livekit health check on its own port",
    [].concat(lk.healthcheck?.test || []).join(" ").includes(`127.0.0.1:${composeLk.port}/`), "");

  // The five services.
  const healthPorts = new Set();
  const allowed = new Set([port(gwEnv.API_ADDR), composeNatsPort, composeLk.port, composeLk.tcp, ...udpPorts]);
  for (const s of SERVICES) {
    const d = sv[s] || {};
    const env = d.environment || {};
    const cmd = [].concat(d.command || []);
    check(`compose ${s}: built from deploy/docker/Dockerfile, runs ${s}`,
      d.build?.dockerfile === "deploy/docker/Dockerfile" && cmd.length === 1 && cmd[0] === s,
      JSON.stringify({ build: d.build, cmd }));
    check(`compose ${s}: its own container on the compose network`, onComposeNetwork(d), d.network_mode);
    const bad = unknown(s, Object.keys(env));
    check(`compose ${s}: every variable is one it reads`, bad.length === 0, bad.join(","));
    check(`compose ${s}: its own NATS identity (env_file ${s}.env: NATS_USER, NATS_PASSWORD, NATS_INBOX_PREFIX)`,
      env.NATS_USER === s && !!env.NATS_PASSWORD && env.NATS_PASSWORD === composeNats.users[s] &&
      env.NATS_INBOX_PREFIX === `_INBOX.${s}` && !("NATS_PASSWORD" in (raw?.services?.[s]?.environment || {})),
      `${env.NATS_USER} ${env.NATS_INBOX_PREFIX}`);
    const wantsKey = s === "api-gateway" || s === "sip-bridge";
    const keyFile = "${CALLMESH_SECRETS_DIR:-./deploy/compose-secrets}/secrets-key.env";
    check(`compose ${s}: ` + (wantsKey ? "SECRETS_KEY from the generated secrets-key.env (env_file)" : "no SECRETS_KEY"),
      wantsKey ? env.SECRETS_KEY === sharedKey && [].concat(raw?.services?.[s]?.env_file || []).includes(keyFile) &&
        !("SECRETS_KEY" in (raw?.services?.[s]?.environment || {}))
        : !("SECRETS_KEY" in env) && !("SECRETS_KEY_PREVIOUS" in env),
      JSON.stringify(raw?.services?.[s]?.env_file));
    check(`compose ${s}: ` + (s === "api-gateway" ? "WEBHOOK_SIGNING_SECRET from the generated webhook-signing.env" : "no WEBHOOK_SIGNING_SECRET"),
      s === "api-gateway" ? env.WEBHOOK_SIGNING_SECRET === signing && !("WEBHOOK_SIGNING_SECRET" in (raw?.services?.[s]?.environment || {}))
        : !("WEBHOOK_SIGNING_SECRET" in env), "");
    check(`compose ${s}: OUTBOUND_ALLOW_PRIVATE not set (local development only)`, !("OUTBOUND_ALLOW_PRIVATE" in env), env.OUTBOUND_ALLOW_PRIVATE);
    const nu = urlOf(String(env.NATS_URL || "").split(",")[0]);
    check(`compose ${s}: NATS_URL names the nats service and port`,
      nu?.protocol === "nats:" && nu.hostname === "nats" && Number(nu.port || 4222) === composeNatsPort, env.NATS_URL);
    const hp = port(env.HEALTH_ADDR);
    const probe = [].concat(d.healthcheck?.test || []).join(" ");
    check(`compose ${s}: health check on its own HEALTH_ADDR /readyz`,
      hp > 0 && !healthPorts.has(hp) && probe.includes(`127.0.0.1:${hp}/readyz`), `${env.HEALTH_ADDR} / ${probe}`);
    healthPorts.add(hp);
    allowed.add(hp);
    check(`compose ${s}: health published to the host from its own container`,
      host(env.HEALTH_ADDR) === "0.0.0.0" && portsOf(d).some((p) => p.target === hp && p.published === hp),
      `${env.HEALTH_ADDR}, published ${JSON.stringify(portsOf(d))}`);
    if (LK_SERVICES.includes(s)) {
      const lu = urlOf(env.LIVEKIT_URL);
      check(`compose ${s}: LIVEKIT_URL is the livekit service`,
        lu && /^(http|ws):$/.test(lu.protocol) && lu.hostname === "livekit" && urlPort(lu) === composeLk.port,
        env.LIVEKIT_URL);
      check(`compose ${s}: LiveKit key and secret are livekit's`,
        lkKey && env.LIVEKIT_API_KEY === lkKey && env.LIVEKIT_API_SECRET === lkSecret,
        `${env.LIVEKIT_API_KEY}/${env.LIVEKIT_API_SECRET} vs ${lkKey}/${lkSecret}`);
      if (vars.get(s).has("ROOM_BACKEND"))
        check(`compose ${s}: on the LiveKit backend (ROOM_BACKEND livekit, or unset with LIVEKIT_URL)`,
          env.ROOM_BACKEND === "livekit" || (env.ROOM_BACKEND === undefined && !!env.LIVEKIT_URL), env.ROOM_BACKEND);
      check(`compose ${s}: starts after livekit is healthy`, d.depends_on?.livekit?.condition === "service_healthy",
        JSON.stringify(d.depends_on));
    }
  }
  check("compose api-gateway: API published to the host",
    host(gwEnv.API_ADDR) === "0.0.0.0" &&
    portsOf(sv["api-gateway"]).some((p) => p.target === port(gwEnv.API_ADDR) && p.published === port(gwEnv.API_ADDR)),
    gwEnv.API_ADDR);
  check("compose api-gateway: verifies webhooks with livekit's key and secret",
    lkKey && gwEnv.LIVEKIT_API_KEY === lkKey && gwEnv.LIVEKIT_API_SECRET === lkSecret, "");
  const pg = sv.postgres?.environment || {};
  const want = `postgresql://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`;
  check("compose api-gateway: DATABASE_URL is the postgres service", gwEnv.DATABASE_URL === want, gwEnv.DATABASE_URL);
  check("compose api-gateway waits for PostgreSQL to be healthy",
    sv["api-gateway"]?.depends_on?.postgres?.condition === "service_healthy" && sv.postgres?.healthcheck, "");
  check("compose postgres keeps its data on a volume", volumeAt(sv.postgres, "/var/lib/postgresql/data"), "");
  const rm = sv["room-manager"] || {};
  check("compose room-manager: RECORDINGS_DIR on a volume",
    volumeAt(rm, rm.environment?.RECORDINGS_DIR), rm.environment?.RECORDINGS_DIR);
  const extra = [];
  for (const [n, d] of Object.entries(sv))
    for (const p of portsOf(d))
      if (!allowed.has(p.published) || p.host_ip !== "127.0.0.1") extra.push(`${n} ${p.host_ip}:${p.published}/${p.protocol}`);
  check("compose publishes only the API, NATS, LiveKit and health ports, on 127.0.0.1", extra.length === 0, extra.join(", "));
  const ident = (s) => ({ user: sv[s]?.environment?.NATS_USER, pass: sv[s]?.environment?.NATS_PASSWORD });
  const viewer = envFile(join(composeSecrets, "viewer.env"));
  await natsLive("compose", composeNats.cmd, composeNats.conf || "",
    Object.fromEntries(SERVICES.map((s) => [s, ident(s)])), { user: viewer.NATS_USER, pass: viewer.NATS_PASSWORD });
}

// ---- deploy/docker/carrier.compose.yml (sip-bridge on the host's network) --
{
  const files = ["docker-compose.yml", "deploy/docker/carrier.compose.yml"];
  const advertise = "203.0.113.10";
  const r = composeConfig(files, { SIP_ADVERTISE: advertise });
  check("docker-compose config accepts the carrier overlay", r.ok, r.err.trim());
  const missing = composeConfig(files, { SIP_ADVERTISE: "" });
  check("the carrier overlay refuses to render without SIP_ADVERTISE",
    !missing.ok && /SIP_ADVERTISE/.test(missing.err), missing.err.trim().split("\n")[0]);
  const sv = r.ok ? parse(r.out).services || {} : {};
  const d = sv["sip-bridge"] || {};
  const env = d.environment || {};
  const nu = urlOf(env.NATS_URL);
  const lu = urlOf(env.LIVEKIT_URL);
  check("carrier overlay: sip-bridge on the host's network, advertising SIP_ADVERTISE",
    d.network_mode === "host" && env.SIP_ADVERTISE === advertise && port(env.SIP_BIND) > 0, JSON.stringify(env));
  check("carrier overlay: sip-bridge reaches NATS and LiveKit on the ports published on 127.0.0.1",
    nu?.hostname === "127.0.0.1" && Number(nu.port) === composeNatsPort &&
    lu?.hostname === "127.0.0.1" && urlPort(lu) === composeLk.port, `${env.NATS_URL} ${env.LIVEKIT_URL}`);
  const bad = unknown("sip-bridge", Object.keys(env));
  check("carrier overlay: every sip-bridge variable is one it reads", bad.length === 0, bad.join(","));
  check("carrier overlay: sip-bridge keeps its NATS identity and SECRETS_KEY, OUTBOUND_ALLOW_PRIVATE unset",
    env.NATS_USER === "sip-bridge" && !!env.NATS_PASSWORD && env.SECRETS_KEY === sharedKey && !("OUTBOUND_ALLOW_PRIVATE" in env),
    env.NATS_USER);
  const probe = [].concat(d.healthcheck?.test || []).join(" ");
  check("carrier overlay: sip-bridge health check on its own HEALTH_ADDR",
    probe.includes(`127.0.0.1:${port(env.HEALTH_ADDR)}/readyz`) && /^(127\.0\.0\.1|0\.0\.0\.0)$/.test(host(env.HEALTH_ADDR)),
    `${env.HEALTH_ADDR} / ${probe}`);
  check("carrier overlay: the other services stay on the compose network",
    SERVICES.filter((s) => s !== "sip-bridge").every((s) => sv[s] && onComposeNetwork(sv[s])), "");
}

// ---- deploy/k8s -----------------------------------------------------------
{
  const r = run("kubectl", ["kustomize", k8sCopy]);
  check("kubectl kustomize renders deploy/k8s (a copy, with the generated secrets)", r.ok, r.err.trim());
  if (!existsSync(join(root, "deploy/k8s/secrets"))) {
    const bare = run("kubectl", ["kustomize", "deploy/k8s"]);
    check("kubectl kustomize refuses deploy/k8s without the generated secrets, naming the file",
      !bare.ok && /secrets\/\S+\.(env|conf)/.test(bare.err), bare.err.trim().split("\n")[0]);
  }
  const kustomization = parse(readFileSync(join(root, "deploy/k8s/kustomization.yaml"), "utf8")) || {};
  const literals = (kustomization.secretGenerator || []).flatMap((g) => g.literals || []);
  const clear = literals.filter((l) => !/change-me/.test(l.slice(l.indexOf("=") + 1)));
  check("k8s secretGenerator: literals are change-me placeholders, the rest read from the generated files",
    clear.length === 0 && (kustomization.secretGenerator || []).every((g) => [...(g.envs || []), ...(g.files || [])]
      .every((f) => /^([^=]+=)?secrets\//.test(f))), clear.join(","));
  const given0 = new Map();
  const docs = r.ok ? parseAllDocuments(r.out).map((d) => d.toJS()) : [];
  const find = (kind, name) => docs.find((d) => d?.kind === kind && d.metadata?.name === name);
  const configMaps = new Map(docs.filter((d) => d?.kind === "ConfigMap").map((d) => [d.metadata.name, d.data || {}]));
  const secrets = new Map(docs.filter((d) => d?.kind === "Secret")
    .map((d) => [d.metadata.name, { ...(d.data || {}), ...(d.stringData || {}) }]));
  const secret = secrets.get("callmesh-secrets") || {};
  const deployments = docs.filter((d) => d?.kind === "Deployment");
  const labelsOf = (d) => d?.spec?.template?.metadata?.labels || {};
  const selects = (sel, labels) => !!sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels[k] === v);
  // A selector picks s's pods and only them: it matches at least one
  // Deployment, and every Deployment it matches runs s and nothing else.
  const onlyPodsOf = (sel, s) => {
    const hit = deployments.filter((d) => selects(sel, labelsOf(d)));
    return hit.length > 0 && hit.every((d) => (d.spec?.template?.spec?.containers || []).map((x) => x.name).join() === s);
  };
  check("k8s one Deployment per service, nothing else",
    deployments.length === SERVICES.length && SERVICES.every((s) => find("Deployment", s)),
    deployments.map((d) => d.metadata.name).join(","));
  const cmKeysUsed = new Set();
  const healthPorts = new Set();
  const containerOf = new Map();
  const dec = (v) => Buffer.from(String(v ?? ""), "base64").toString();
  for (const s of SERVICES) {
    // the Deployment whose pod runs the container named after the service
    const dep = deployments.find((d) => (d.spec?.template?.spec?.containers || []).some((x) => x.name === s));
    const pod = dep?.spec?.template?.spec || {};
    const containers = pod.containers || [];
    const c = containers.find((x) => x.name === s) || {};
    containerOf.set(s, c);
    check(`k8s ${s}: its own Deployment ${s}, one container running ${s} from the callmesh image`,
      dep?.metadata?.name === s && containers.length === 1 && JSON.stringify(c.command) === JSON.stringify([s]) &&
      String(c.image).startsWith("callmesh"), `${dep?.metadata?.name}: ${containers.map((x) => x.name)} ${c.image} ${c.command}`);
    if (!c.name) continue;
    check(`k8s ${s}: its selector matches its pods, which run ${s} alone`,
      selects(dep?.spec?.selector?.matchLabels, labelsOf(dep)) && onlyPodsOf(dep?.spec?.selector?.matchLabels, s),
      JSON.stringify(dep?.spec?.selector));
    check(`k8s ${s}: RollingUpdate`, dep?.spec?.strategy?.type === "RollingUpdate" && Number.isInteger(dep?.spec?.replicas),
      JSON.stringify(dep?.spec?.strategy));
    // Everything the container's environment holds: envFrom ConfigMaps and
    // Secrets whole, and its env entries.
    const given = new Map();
    const refsOk = [];
    for (const e of c.envFrom || []) {
      if (e.configMapRef) {
        const cm = configMaps.get(e.configMapRef.name);
        if (!cm) refsOk.push(`configMap ${e.configMapRef.name}`);
        for (const k of Object.keys(cm || {})) {
          given.set(k, { from: "configMap", name: e.configMapRef.name, value: cm[k] });
          if (vars.get(s).has(k)) cmKeysUsed.add(`${e.configMapRef.name}/${k}`);
        }
      }
      if (e.secretRef) {
        const sec = secrets.get(e.secretRef.name);
        if (!sec) refsOk.push(`secret ${e.secretRef.name}`);
        for (const k of Object.keys(sec || {})) given.set(k, { from: "secret", name: e.secretRef.name, value: dec(sec[k]) });
      }
    }
    for (const e of c.env || []) {
      const vf = e.valueFrom;
      if (vf?.secretKeyRef) {
        const sec = secrets.get(vf.secretKeyRef.name);
        if (!sec || !(vf.secretKeyRef.key in sec)) refsOk.push(`secret ${vf.secretKeyRef.name}/${vf.secretKeyRef.key}`);
        given.set(e.name, { from: "secret", name: vf.secretKeyRef.name, key: vf.secretKeyRef.key, value: dec(sec?.[vf.secretKeyRef.key]) });
      } else if (vf?.configMapKeyRef) {
        const cm = configMaps.get(vf.configMapKeyRef.name);
        if (!cm || !(vf.configMapKeyRef.key in cm)) refsOk.push(`configMap ${vf.configMapKeyRef.name}/${vf.configMapKeyRef.key}`);
        else cmKeysUsed.add(`${vf.configMapKeyRef.name}/${vf.configMapKeyRef.key}`);
        given.set(e.name, { from: "configMap", name: vf.configMapKeyRef.name, value: cm?.[vf.configMapKeyRef.key] });
      } else if (vf?.fieldRef) {
        given.set(e.name, { from: "field", field: vf.fieldRef.fieldPath });
      } else {
        given.set(e.name, { from: "value", value: e.value });
      }
    }
    const bad = unknown(s, [...given.keys()]);
    check(`k8s ${s}: every variable in its environment (env and envFrom) is one it reads`, bad.length === 0, bad.join(","));
    check(`k8s ${s}: every ConfigMap and Secret it references exists`, refsOk.length === 0, refsOk.join(","));
    const leaked = SECRET_VARS.filter((n) => given.has(n) && given.get(n).from !== "secret");
    check(`k8s ${s}: secrets come from a Secret`, leaked.length === 0, leaked.join(","));
    given0.set(s, given);
    const natsFrom = ["NATS_USER", "NATS_PASSWORD", "NATS_INBOX_PREFIX"].map((n) => given.get(n));
    check(`k8s ${s}: its own NATS identity from the Secret nats-${s} (envFrom)`,
      natsFrom.every((g) => g?.from === "secret" && g.name === `nats-${s}`) &&
      natsFrom[0].value === s && natsFrom[2].value === `_INBOX.${s}` && natsFrom[1].value.length >= 32,
      JSON.stringify(natsFrom.map((g) => g && `${g.from}:${g.name}`)));
    const wantsKey = s === "api-gateway" || s === "sip-bridge";
    check(`k8s ${s}: ` + (wantsKey ? "SECRETS_KEY from a Secret, generated (base64 of 32 bytes)" : "no SECRETS_KEY"),
      wantsKey ? given.get("SECRETS_KEY")?.from === "secret" && Buffer.from(given.get("SECRETS_KEY").value, "base64").length === 32
        : !given.has("SECRETS_KEY") && !given.has("SECRETS_KEY_PREVIOUS"), JSON.stringify(given.get("SECRETS_KEY")?.name));
    check(`k8s ${s}: ` + (s === "api-gateway" ? "WEBHOOK_SIGNING_SECRET from a Secret, at least 32 characters" : "no WEBHOOK_SIGNING_SECRET"),
      s === "api-gateway" ? given.get("WEBHOOK_SIGNING_SECRET")?.from === "secret" && given.get("WEBHOOK_SIGNING_SECRET").value.length >= 32
        : !given.has("WEBHOOK_SIGNING_SECRET"), "");
    check(`k8s ${s}: OUTBOUND_ALLOW_PRIVATE not set (local development only)`, !given.has("OUTBOUND_ALLOW_PRIVATE"), "");
    const inst = given.get("INSTANCE");
    check(`k8s ${s}: INSTANCE unset or the pod's name (replicas stay apart)`,
      !inst || (inst.from === "field" && inst.field === "metadata.name"), JSON.stringify(inst));
    const val = (n) => given.get(n)?.value;
    if (LK_SERVICES.includes(s)) {
      const u = urlOf(val("LIVEKIT_URL"));
      check(`k8s ${s}: LIVEKIT_URL from a ConfigMap`,
        given.get("LIVEKIT_URL")?.from === "configMap" && u && /^(https?|wss?):$/.test(u.protocol), JSON.stringify(given.get("LIVEKIT_URL")));
      check(`k8s ${s}: LIVEKIT_API_KEY and LIVEKIT_API_SECRET from callmesh-secrets`,
        ["LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"].every((n) => given.get(n)?.from === "secret" &&
          given.get(n).name === "callmesh-secrets" && given.get(n).key === n),
        JSON.stringify([given.get("LIVEKIT_API_KEY"), given.get("LIVEKIT_API_SECRET")]));
      if (vars.get(s).has("ROOM_BACKEND"))
        check(`k8s ${s}: on the LiveKit backend (ROOM_BACKEND livekit, or unset with LIVEKIT_URL)`,
          val("ROOM_BACKEND") === "livekit" || (!given.has("ROOM_BACKEND") && !!val("LIVEKIT_URL")), val("ROOM_BACKEND"));
    }
    if (s === "api-gateway")
      check("k8s api-gateway: verifies webhooks with the LiveKit key and secret of callmesh-secrets",
        ["LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "API_KEYS", "DATABASE_URL"].every((n) => given.get(n)?.from === "secret" &&
          given.get(n).name === "callmesh-secrets" && given.get(n).key === n), "");
    const ha = val("HEALTH_ADDR");
    const hp = port(ha);
    const named = (p) => (typeof p === "string" ? (c.ports || []).find((x) => x.name === p)?.containerPort : p);
    check(`k8s ${s}: /readyz and /healthz probes on its own HEALTH_ADDR`,
      given.get("HEALTH_ADDR")?.from === "value" && host(ha) === "0.0.0.0" && hp > 0 &&
      c.readinessProbe?.httpGet?.path === "/readyz" && named(c.readinessProbe?.httpGet?.port) === hp &&
      c.livenessProbe?.httpGet?.path === "/healthz" && named(c.livenessProbe?.httpGet?.port) === hp,
      `${ha} ${JSON.stringify([c.readinessProbe?.httpGet, c.livenessProbe?.httpGet])}`);
    // sip-bridge shares the node's network: no two health ports may meet there.
    if (s === "sip-bridge") check("k8s sip-bridge: its health port is no other service's", !healthPorts.has(hp), `${hp}`);
    healthPorts.add(hp);
    const res = c.resources || {};
    check(`k8s ${s}: CPU and memory requests, memory limit`,
      res.requests?.cpu && res.requests?.memory && res.limits?.memory, JSON.stringify(res));
    const pdbs = docs.filter((d) => d?.kind === "PodDisruptionBudget" && selects(d.spec?.selector?.matchLabels, labelsOf(dep)));
    check(`k8s ${s}: a PodDisruptionBudget of its own`,
      pdbs.length === 1 && onlyPodsOf(pdbs[0].spec.selector.matchLabels, s), pdbs.map((p) => p.metadata.name).join(","));
    if (s === "sip-bridge") {
      const aff = pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution || [];
      check("k8s sip-bridge: host networking for SIP/RTP, cluster DNS kept (ClusterFirstWithHostNet)",
        pod.hostNetwork === true && pod.dnsPolicy === "ClusterFirstWithHostNet", JSON.stringify([pod.hostNetwork, pod.dnsPolicy]));
      check("k8s sip-bridge: SIP_BIND 0.0.0.0:5060, SIP_ADVERTISE given, RTP range given",
        val("SIP_BIND") === "0.0.0.0:5060" && given.has("SIP_ADVERTISE") &&
        Number(val("RTP_PORT_MIN")) > 1024 && Number(val("RTP_PORT_MAX")) >= Number(val("RTP_PORT_MIN")),
        JSON.stringify(Object.fromEntries(given)));
      check("k8s sip-bridge: replicas spread one per node (required pod anti-affinity on the hostname)",
        aff.some((t) => t.topologyKey === "kubernetes.io/hostname" && selects(t.labelSelector?.matchLabels, labelsOf(dep))),
        JSON.stringify(aff));
    }
    if (s === "room-manager") {
      const mounts = (c.volumeMounts || []).map((m) => m.mountPath);
      check("k8s room-manager: RECORDINGS_DIR on a volume", mounts.includes(val("RECORDINGS_DIR")), `${val("RECORDINGS_DIR")} ${mounts}`);
    }
    if (s === "api-gateway") {
      const api = find("Service", "api-gateway");
      const apiPort = (c.ports || []).find((p) => p.name === api?.spec?.ports?.[0]?.targetPort || p.containerPort === api?.spec?.ports?.[0]?.targetPort);
      check("k8s Service api-gateway reaches API_ADDR on the api-gateway pods only",
        onlyPodsOf(api?.spec?.selector, "api-gateway") &&
        apiPort && apiPort.containerPort === port(val("API_ADDR")) && host(val("API_ADDR")) === "0.0.0.0",
        JSON.stringify({ sel: api?.spec?.selector, apiPort, API_ADDR: val("API_ADDR") }));
      const dockerfile = readFileSync(join(root, "deploy/docker/Dockerfile"), "utf8");
      const migrations = dockerfile.match(/^COPY services\/api-gateway\/migrations (\S+)/m)?.[1];
      check("k8s MIGRATIONS_DIR is where the image keeps the migrations",
        migrations && val("MIGRATIONS_DIR") === migrations, `${val("MIGRATIONS_DIR")} vs ${migrations}`);
    }
    if (s === "agent-worker" || s === "sip-bridge")
      check(`k8s ${s}: scales by replicas (a Deployment of its own, no per-pod settings)`,
        dep?.metadata?.name === s && containers.length === 1 && dep?.spec?.replicas >= 1 && !(pod.volumes || []).some((v) => v.persistentVolumeClaim) &&
        !(c.ports || []).some((p) => p.hostPort && !pod.hostNetwork), JSON.stringify(dep?.spec?.replicas));
  }
  const unread = [];
  for (const [name, data] of configMaps) for (const k of Object.keys(data)) if (!cmKeysUsed.has(`${name}/${k}`)) unread.push(`${name}/${k}`);
  check("k8s every ConfigMap key is read by a container that imports it", unread.length === 0, unread.join(","));
  const nats = find("StatefulSet", "nats");
  const natsSvc = find("Service", "nats");
  const natsUrls = SERVICES.map((s) => {
    const c = containerOf.get(s) || {};
    const from = (c.envFrom || []).map((e) => configMaps.get(e.configMapRef?.name)?.NATS_URL).find(Boolean);
    return (c.env || []).find((e) => e.name === "NATS_URL")?.value ?? from;
  });
  check("k8s NATS_URL names the nats Service and port, in every service",
    natsUrls.every((u) => {
      const nu = urlOf(u);
      return nu && nu.hostname === natsSvc?.metadata?.name && Number(nu.port) === natsSvc?.spec?.ports?.[0]?.port;
    }), natsUrls.join(","));
  const natsC = nats?.spec?.template?.spec?.containers?.[0] || {};
  const args = natsC.args || [];
  const store = args[args.indexOf("--store_dir") + 1];
  const claim = nats?.spec?.volumeClaimTemplates?.[0]?.metadata?.name;
  check("k8s nats runs JetStream on a volume",
    args.includes("--jetstream") && (natsC.volumeMounts || []).some((m) => m.name === claim && m.mountPath === store),
    args.join(" "));
  const natsLabels = nats?.spec?.template?.metadata?.labels || {};
  check("k8s nats has its PodDisruptionBudget",
    docs.some((d) => d?.kind === "PodDisruptionBudget" && selects(d.spec?.selector?.matchLabels, natsLabels)), "");
  const gw = given0.get("api-gateway");
  const br = given0.get("sip-bridge");
  check("k8s api-gateway and sip-bridge get SECRETS_KEY from one Secret, the same key",
    gw?.get("SECRETS_KEY")?.from === "secret" && gw.get("SECRETS_KEY").name === br?.get("SECRETS_KEY")?.name &&
    gw.get("SECRETS_KEY").value === br.get("SECRETS_KEY").value,
    `${gw?.get("SECRETS_KEY")?.name} / ${br?.get("SECRETS_KEY")?.name}`);
  // -c names a file in a volume of the pod made from a Secret: its text.
  const confAt = args[Math.max(args.indexOf("-c"), args.indexOf("--config")) + 1] || "";
  const mount = (natsC.volumeMounts || []).find((m) => m.mountPath === posix.dirname(confAt) || m.mountPath === confAt);
  const vol = (nats?.spec?.template?.spec?.volumes || []).find((v) => v.name === mount?.name);
  const key = mount?.subPath || (mount?.mountPath === confAt ? "" : posix.basename(confAt));
  const item = (vol?.secret?.items || []).find((i) => i.path === key)?.key || key;
  const confText = dec(secrets.get(vol?.secret?.secretName)?.[item]);
  const users = natsUsers(confText);
  check("k8s nats runs with -c naming the authorization config of a Secret",
    (args.includes("-c") || args.includes("--config")) && !!vol?.secret && confText.length > 0,
    `${args.join(" ")} ${JSON.stringify(vol)}`);
  check("k8s nats config: authorization with a user for each of the five services and the viewer",
    JSON.stringify(Object.keys(users).sort()) === JSON.stringify([...NATS_USERS].sort()), Object.keys(users).join(","));
  check("k8s each service's NATS_PASSWORD is its user's in the nats config",
    SERVICES.every((s) => given0.get(s)?.get("NATS_PASSWORD")?.value === users[s]), "");
  const conf = join(tmp, "k8s-nats.conf");
  writeFileSync(conf, confText, { mode: 0o600 });
  const viewer = envFile(join(k8sCopy, "secrets", "viewer.env"));
  await natsLive("k8s", args, conf,
    Object.fromEntries(SERVICES.map((s) => [s, { user: given0.get(s)?.get("NATS_USER")?.value, pass: given0.get(s)?.get("NATS_PASSWORD")?.value }])),
    { user: viewer.NATS_USER, pass: viewer.NATS_PASSWORD });
}

// ---- deploy/docker/Dockerfile --------------------------------------------
{
  const text = readFileSync(join(root, "deploy/docker/Dockerfile"), "utf8").replace(/\\\n/g, " ");
  const stages = text.split(/^FROM /m).slice(1);
  check("Dockerfile has a build stage and a runtime stage", stages.length === 2, `${stages.length} stages`);
  const runtime = stages[stages.length - 1] || "";
  const buildStage = stages[0] || "";
  const aptOf = (stage) => new Set((stage.match(/apt-get install ([^&]*)/)?.[1] || "").split(/\s+/).filter((w) => w && !w.startsWith("-")));
  const pkgs = aptOf(runtime);
  const buildPkgs = aptOf(buildStage);
  check("Dockerfile builds with make from the sources it copies",
    /RUN make build/.test(buildStage) && ["Makefile", "libs", "services", "proto"].every((d) => new RegExp(`^COPY ${d}\\b`, "m").test(buildStage)), "");
  check("Dockerfile copies the binaries into the runtime image", /COPY --from=build \S*build\/bin\/? /.test(runtime), "");
  // LiveKit's engine: runtime/livekit installed from its lock file in the
  // build stage (the build generates the engine's schema and C from it), the
  // engine file alone in the runtime image, its path in LIVEKIT_FFI_LIB.
  const npmAt = buildStage.search(/^RUN cd runtime\/livekit && npm ci\b/m);
  check("Dockerfile build stage: nodejs, npm and protobuf-c-compiler, then npm ci in runtime/livekit before make",
    ["nodejs", "npm", "protobuf-c-compiler"].every((p) => buildPkgs.has(p)) &&
    /^COPY runtime\/livekit\/package\.json runtime\/livekit\/package-lock\.json runtime\/livekit\/?$/m.test(buildStage) &&
    npmAt >= 0 && npmAt < buildStage.search(/^RUN make build/m), [...buildPkgs].join(" "));
  check("Dockerfile runtime stage: no node or npm", !pkgs.has("nodejs") && !pkgs.has("npm"), "");
  const engineCopy = runtime.match(new RegExp(`^COPY --from=build /src/runtime/livekit/(\\S+) (\\S+)$`, "m"));
  const envs = Object.fromEntries([...runtime.matchAll(/^ENV (.*)$/gm)]
    .flatMap((m) => [...m[1].matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)].map((x) => [x[1], x[2]])));
  const dest = engineCopy && (engineCopy[2].endsWith("/") ? posix.join(engineCopy[2], posix.basename(ENGINE_REL)) : engineCopy[2]);
  check("Dockerfile runtime stage: ships LiveKit's engine at LIVEKIT_FFI_LIB",
    engineCopy && engineCopy[1] === ENGINE_REL && posix.isAbsolute(dest) && envs.LIVEKIT_FFI_LIB === dest,
    `${engineCopy?.[0]} / LIVEKIT_FFI_LIB=${envs.LIVEKIT_FFI_LIB}`);
  let lock = {};
  try {
    lock = JSON.parse(readFileSync(join(root, "runtime/livekit/package-lock.json"), "utf8"));
  } catch (e) {
    lock = { error: e.message };
  }
  const lp = lock.packages || {};
  const schemaVer = lp["node_modules/@livekit/rtc-ffi-bindings"]?.version;
  check("runtime/livekit lock pins the engine and its schema at one version, installed here",
    schemaVer && lp["node_modules/@livekit/rtc-ffi-bindings-linux-x64-gnu"]?.version === schemaVer &&
    existsSync(join(root, "runtime/livekit", ENGINE_REL)), `${schemaVer} ${lock.error || ""}`);
  // The variable the engine loader reads (libs/lkrtc), once it is in the tree.
  const lkrtc = join(root, "libs/lkrtc");
  if (existsSync(lkrtc)) {
    const read = new Set(readdirSync(lkrtc).filter((f) => f.endsWith(".c"))
      .flatMap((f) => [...readFileSync(join(lkrtc, f), "utf8").matchAll(/getenv\("([A-Z0-9_]+)"\)/g)].map((m) => m[1])));
    const named = [...read].filter((n) => dest && envs[n] === dest);
    check("Dockerfile names the engine's path in the variable libs/lkrtc reads", named.length === 1,
      `libs/lkrtc reads ${[...read].join(",")}; ENV ${JSON.stringify(envs)}`);
  } else {
    console.log("skip Dockerfile names the engine's path in the variable libs/lkrtc reads: libs/lkrtc is not in this tree");
  }
  // The console: api-gateway serves CONSOLE_DIR's files (one level, the
  // types console.c knows) and the pinned livekit-client module inside it.
  const consoleC = readFileSync(join(root, "services/api-gateway/console.c"), "utf8");
  const consoleH = readFileSync(join(root, "services/api-gateway/console.h"), "utf8");
  const served = [...consoleC.matchAll(/\{ "(\.[a-z0-9]+)", "[a-z]+\//g)].map((m) => m[1]);
  const modRel = consoleH.match(/#define CONSOLE_LIVEKIT_PATH "([^"]+)"/)?.[1];
  const consoleDir = envs.CONSOLE_DIR;
  const consoleFiles = readdirSync(join(root, "console"), { withFileTypes: true })
    .filter((e) => e.isFile() && served.some((x) => e.name.endsWith(x))).map((e) => e.name);
  const globRe = (g) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`);
  const copies = [...runtime.matchAll(/^COPY (?!--from)(.+)$/gm)].map((m) => m[1].trim().split(/\s+/))
    .filter((w) => w.length >= 2 && posix.normalize(w[w.length - 1]).replace(/\/$/, "") === consoleDir);
  const shipped = consoleFiles.filter((f) => copies.some((w) => w.slice(0, -1).some((src) => globRe(src).test(`console/${f}`))));
  const unshipped = consoleFiles.filter((f) => !shipped.includes(f));
  check("Dockerfile runtime stage: every console file api-gateway serves is copied to CONSOLE_DIR",
    posix.isAbsolute(consoleDir || "") && consoleFiles.includes("index.html") && unshipped.length === 0,
    `CONSOLE_DIR=${consoleDir}; not shipped: ${unshipped.join(",")}`);
  const ciAt = buildStage.search(/^RUN cd console && npm ci\b/m);
  check("Dockerfile build stage: npm ci in console from its lock file",
    /^COPY console\/package\.json console\/package-lock\.json console\/?$/m.test(buildStage) && ciAt >= 0, "");
  const modCopy = runtime.match(/^COPY --from=build \/src\/console\/(\S+) (\S+)$/m);
  check("Dockerfile runtime stage: the pinned livekit-client module at CONSOLE_DIR/" + modRel,
    !!modRel && modCopy?.[1] === modRel && modCopy[2] === posix.join(consoleDir || "", modRel), modCopy?.[0]);
  let clock = {};
  try {
    clock = JSON.parse(readFileSync(join(root, "console/package-lock.json"), "utf8"));
  } catch (e) {
    clock = { error: e.message };
  }
  const pinned = clock.packages?.["node_modules/livekit-client"]?.version;
  let installedVer = "";
  try {
    installedVer = JSON.parse(readFileSync(join(root, "console/node_modules/livekit-client/package.json"), "utf8")).version;
  } catch {
    installedVer = "not installed";
  }
  check("console lock pins livekit-client, installed here at that version with the module the image copies",
    pinned && installedVer === pinned && existsSync(join(root, "console", modRel || "missing")), `${pinned} vs ${installedVer}`);
  // Every library a service binary or the engine links comes from a package
  // the runtime stage installs or a direct dependency of one (sanitizer builds
  // link a few more, e.g. libcap2 through libwebsockets17); libc and sanitizer
  // runtimes aside. Dependencies come from this machine's dpkg database.
  const installed = new Set(pkgs);
  for (const p of pkgs) {
    const r = run("dpkg-query", ["-W", "-f=${Depends}, ${Pre-Depends}", p]);
    if (!r.ok) continue;
    for (const dep of r.out.split(/[,|]/)) {
      const name = dep.trim().split(/[\s:(]/)[0];
      if (name) installed.add(name);
    }
  }
  const owner = (path) => {
    const real = execFileSync("realpath", [path], { encoding: "utf8" }).trim();
    for (const f of [path, real, real.replace(/^\/usr\/lib\//, "/lib/")]) {
      const r = run("dpkg", ["-S", f]);
      if (r.ok) return r.out.split(":")[0];
    }
    return "";
  };
  const ldcache = execFileSync("ldconfig", ["-p"], { encoding: "utf8" });
  const missing = new Set();
  const elves = [...SERVICES.map((s) => join(root, build, "bin", s)), join(root, "runtime/livekit", ENGINE_REL)];
  for (const elf of elves) {
    let dyn = "";
    try {
      dyn = execFileSync("readelf", ["-d", elf], { encoding: "utf8" });
    } catch (e) {
      missing.add(`${elf}: ${e.message}`);
      continue;
    }
    for (const m of dyn.matchAll(/\(NEEDED\).*\[(.+)\]/g)) {
      const lib = m[1];
      if (/^(libc|libm|libpthread|libdl|librt|ld-linux.*)\.so/.test(lib) || /^lib(asan|ubsan|lsan|tsan)\.so/.test(lib)) continue;
      const path = ldcache.match(new RegExp(`^\\s*${lib.replace(/[.+]/g, "\\$&")} \\(.*\\) => (\\S+)$`, "m"))?.[1];
      const pkg = path ? owner(path) : "";
      if (!pkg || !installed.has(pkg)) missing.add(`${lib} (${pkg || "no package"})`);
    }
  }
  check("Dockerfile runtime stage installs every library the services and LiveKit's engine link", missing.size === 0,
    [...missing].join(", "));
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
