// The deployment files, checked offline (DESIGN §10): docker-compose.yml (and
// the carrier overlay deploy/docker/carrier.compose.yml) as `docker-compose
// config` (or `docker compose config`) renders it, deploy/k8s as `kubectl
// kustomize` renders it, and deploy/docker/Dockerfile against the built
// binaries and LiveKit's engine in runtime/livekit. Both deployments run the
// LiveKit backend with every service in its own container / Deployment;
// every variable given to a service must be one it reads (its --help), every
// health check must reach that service's own HEALTH_ADDR.
// Prints one line per check and ends with "N passed, M failed".
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, posix, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const build = process.env.CALLMESH_BUILD || "build";
const SERVICES = ["api-gateway", "room-manager", "twilio-dialer", "sip-bridge", "agent-worker"];
// the services that join or manage LiveKit rooms (LIVEKIT_URL, key, secret)
const LK_SERVICES = ["room-manager", "twilio-dialer", "sip-bridge", "agent-worker"];
const SECRET_VARS = ["API_KEYS", "DATABASE_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "OPENAI_API_KEY",
  "EGRESS_S3_SECRET", "EGRESS_S3_ACCESS_KEY"];
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

// ---- docker-compose.yml --------------------------------------------------
function composeConfig(files, env) {
  const f = files.flatMap((x) => ["-f", x]);
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
let composeLk = { port: 0 };
{
  const r = composeConfig(["docker-compose.yml"]);
  check("docker-compose config accepts docker-compose.yml", r.ok, r.err.trim());
  const c = r.ok ? parse(r.out) : { services: {} };
  const sv = c.services || {};
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
  const probe = [].concat(d.healthcheck?.test || []).join(" ");
  check("carrier overlay: sip-bridge health check on its own HEALTH_ADDR",
    probe.includes(`127.0.0.1:${port(env.HEALTH_ADDR)}/readyz`) && /^(127\.0\.0\.1|0\.0\.0\.0)$/.test(host(env.HEALTH_ADDR)),
    `${env.HEALTH_ADDR} / ${probe}`);
  check("carrier overlay: the other services stay on the compose network",
    SERVICES.filter((s) => s !== "sip-bridge").every((s) => sv[s] && onComposeNetwork(sv[s])), "");
}

// ---- deploy/k8s -----------------------------------------------------------
{
  const r = run("kubectl", ["kustomize", "deploy/k8s"]);
  check("kubectl kustomize renders deploy/k8s", r.ok, r.err.trim());
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
