// The deployment files, checked offline (DESIGN §10): docker-compose.yml as
// `docker-compose config` (or `docker compose config`) renders it, deploy/k8s
// as `kubectl kustomize` renders it, and deploy/docker/Dockerfile against the
// built binaries. Every variable given to a service must be one it reads (its
// --help), every health check must reach that service's own HEALTH_ADDR.
// Prints one line per check and ends with "N passed, M failed".
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const build = process.env.CALLMESH_BUILD || "build";
const SERVICES = ["api-gateway", "room-manager", "twilio-dialer", "sip-bridge", "agent-worker"];

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

function run(cmd, args, timeout = 60000) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", maxBuffer: 16 << 20, timeout });
  return { ok: !r.error && r.status === 0, out: r.stdout || "", err: (r.stderr || "") + (r.error || "") };
}

// The variables each binary reads: the names its --help lists.
const vars = new Map();
for (const s of SERVICES) {
  const r = run(join(root, build, "bin", s), ["--help"], 10000);
  const names = new Set([...r.out.matchAll(/^ {2}([A-Z][A-Z0-9_]+) /gm)].map((m) => m[1]));
  check(`${s} --help lists its variables`, r.ok && names.has("NATS_URL") && names.size > 5, r.err);
  vars.set(s, names);
}

const port = (addr) => Number(String(addr ?? "").split(":").pop());
const host = (addr) => String(addr ?? "").split(":")[0];
const unknown = (svc, names) => names.filter((n) => !vars.get(svc).has(n));

// ---- docker-compose.yml --------------------------------------------------
function composeConfig() {
  let r = run("docker-compose", ["-f", "docker-compose.yml", "config"]);
  if (!r.ok) r = run("docker", ["compose", "-f", "docker-compose.yml", "config"]);
  return r;
}
{
  const r = composeConfig();
  check("docker-compose config accepts docker-compose.yml", r.ok, r.err.trim());
  const c = r.ok ? parse(r.out) : { services: {} };
  const sv = c.services || {};
  check("compose has nats, postgres and the five services",
    ["nats", "postgres", ...SERVICES].every((n) => sv[n]), Object.keys(sv).join(","));
  const published = (sv.nats?.ports || []).map((p) => (typeof p === "object" ? Number(p.published) : port(String(p).split("/")[0].replace(/:\d+$/, ""))));
  const natsCmd = [].concat(sv.nats?.command || []).join(" ");
  check("compose nats runs JetStream", /--jetstream|-js\b/.test(natsCmd), natsCmd);
  const healthPorts = new Set();
  for (const s of SERVICES) {
    const d = sv[s] || {};
    const env = d.environment || {};
    const cmd = [].concat(d.command || []);
    check(`compose ${s}: built from deploy/docker/Dockerfile, runs ${s}`,
      d.build?.dockerfile === "deploy/docker/Dockerfile" && cmd.length === 1 && cmd[0] === s,
      JSON.stringify({ build: d.build, cmd }));
    check(`compose ${s}: shares the nats network namespace (local rooms relay on 127.0.0.1)`,
      d.network_mode === "service:nats", d.network_mode);
    const bad = unknown(s, Object.keys(env));
    check(`compose ${s}: every variable is one it reads`, bad.length === 0, bad.join(","));
    const hp = port(env.HEALTH_ADDR);
    const probe = [].concat(d.healthcheck?.test || []).join(" ");
    check(`compose ${s}: health check on its own HEALTH_ADDR /readyz`,
      hp > 0 && !healthPorts.has(hp) && probe.includes(`127.0.0.1:${hp}/readyz`), `${env.HEALTH_ADDR} / ${probe}`);
    healthPorts.add(hp);
    check(`compose ${s}: health published to the host`, host(env.HEALTH_ADDR) === "0.0.0.0" && published.includes(hp),
      `${env.HEALTH_ADDR}, published ${published.join(",")}`);
  }
  const gw = sv["api-gateway"]?.environment || {};
  check("compose api-gateway: API published to the host",
    host(gw.API_ADDR) === "0.0.0.0" && published.includes(port(gw.API_ADDR)), gw.API_ADDR);
  const pg = sv.postgres?.environment || {};
  const want = `postgresql://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@127.0.0.1:5432/${pg.POSTGRES_DB}`;
  check("compose api-gateway: DATABASE_URL is the compose PostgreSQL", gw.DATABASE_URL === want, gw.DATABASE_URL);
  check("compose api-gateway waits for PostgreSQL to be healthy",
    sv["api-gateway"]?.depends_on?.postgres?.condition === "service_healthy" && sv.postgres?.healthcheck, "");
}

// ---- deploy/k8s -----------------------------------------------------------
{
  const r = run("kubectl", ["kustomize", "deploy/k8s"]);
  check("kubectl kustomize renders deploy/k8s", r.ok, r.err.trim());
  const docs = r.ok ? parseAllDocuments(r.out).map((d) => d.toJS()) : [];
  const find = (kind, name) => docs.find((d) => d?.kind === kind && d.metadata?.name === name);
  const cm = find("ConfigMap", "callmesh-config")?.data || {};
  const secret = find("Secret", "callmesh-secrets")?.data || {};
  const dep = find("Deployment", "callmesh");
  check("k8s Deployment callmesh: one replica, replaced with Recreate (local rooms live in the pod)",
    dep?.spec?.replicas === 1 && dep?.spec?.strategy?.type === "Recreate", JSON.stringify(dep?.spec?.strategy));
  const podLabels = dep?.spec?.template?.metadata?.labels || {};
  const matches = (sel) => sel && Object.entries(sel).every(([k, v]) => podLabels[k] === v);
  check("k8s Deployment selector matches its pod", matches(dep?.spec?.selector?.matchLabels), "");
  const containers = dep?.spec?.template?.spec?.containers || [];
  check("k8s pod runs the five services", SERVICES.every((s) => containers.some((c) => c.name === s)),
    containers.map((c) => c.name).join(","));
  const cmKeysUsed = new Set();
  const healthPorts = new Set();
  for (const s of SERVICES) {
    const c = containers.find((x) => x.name === s) || {};
    const env = Object.fromEntries((c.env || []).map((e) => [e.name, e.value ?? e.valueFrom]));
    const fromCm = (c.envFrom || []).some((e) => e.configMapRef?.name === "callmesh-config");
    check(`k8s ${s}: runs ${s} from the callmesh image`,
      JSON.stringify(c.command) === JSON.stringify([s]) && String(c.image).startsWith("callmesh"), `${c.image} ${c.command}`);
    const bad = unknown(s, Object.keys(env));
    check(`k8s ${s}: every variable is one it reads`, bad.length === 0, bad.join(","));
    if (fromCm) for (const k of Object.keys(cm)) if (vars.get(s).has(k)) cmKeysUsed.add(k);
    const refs = (c.env || []).filter((e) => e.valueFrom?.secretKeyRef);
    check(`k8s ${s}: secret references exist`,
      refs.every((e) => e.valueFrom.secretKeyRef.name === "callmesh-secrets" && e.valueFrom.secretKeyRef.key in secret),
      refs.map((e) => e.valueFrom.secretKeyRef.key).join(","));
    const hp = port(env.HEALTH_ADDR);
    check(`k8s ${s}: /readyz and /healthz probes on its own HEALTH_ADDR`,
      host(env.HEALTH_ADDR) === "0.0.0.0" && !healthPorts.has(hp) &&
      c.readinessProbe?.httpGet?.path === "/readyz" && c.readinessProbe?.httpGet?.port === hp &&
      c.livenessProbe?.httpGet?.path === "/healthz" && c.livenessProbe?.httpGet?.port === hp,
      `${env.HEALTH_ADDR} ${JSON.stringify([c.readinessProbe?.httpGet, c.livenessProbe?.httpGet])}`);
    healthPorts.add(hp);
    const res = c.resources || {};
    check(`k8s ${s}: CPU and memory requests, memory limit`,
      res.requests?.cpu && res.requests?.memory && res.limits?.memory, JSON.stringify(res));
  }
  const unread = Object.keys(cm).filter((k) => !cmKeysUsed.has(k));
  check("k8s every ConfigMap key is read by a container that imports it", unread.length === 0, unread.join(","));
  const svcVals = { "room-manager": cm.ROOM_BACKEND, "agent-worker": cm.ROOM_BACKEND };
  check("k8s ROOM_BACKEND is local (the pod's embedded backend)",
    Object.values(svcVals).every((v) => v === "local"), JSON.stringify(svcVals));
  const api = find("Service", "api-gateway");
  const gw = containers.find((x) => x.name === "api-gateway") || {};
  const apiPort = (gw.ports || []).find((p) => p.name === api?.spec?.ports?.[0]?.targetPort);
  check("k8s Service api-gateway reaches API_ADDR on the pod",
    matches(api?.spec?.selector) && apiPort && apiPort.containerPort === port(cm.API_ADDR) && host(cm.API_ADDR) === "0.0.0.0",
    JSON.stringify({ sel: api?.spec?.selector, apiPort, API_ADDR: cm.API_ADDR }));
  const nats = find("StatefulSet", "nats");
  const natsSvc = find("Service", "nats");
  const natsUrl = new URL(cm.NATS_URL || "nats://x:1");
  check("k8s NATS_URL names the nats Service and port",
    natsUrl.hostname === natsSvc?.metadata?.name && Number(natsUrl.port) === natsSvc?.spec?.ports?.[0]?.port, cm.NATS_URL);
  check("k8s nats runs JetStream on a volume",
    (nats?.spec?.template?.spec?.containers?.[0]?.args || []).includes("--jetstream") &&
    nats?.spec?.volumeClaimTemplates?.length === 1, "");
  const pdbs = docs.filter((d) => d?.kind === "PodDisruptionBudget");
  const natsLabels = nats?.spec?.template?.metadata?.labels || {};
  check("k8s PodDisruptionBudgets select the callmesh pod and nats",
    pdbs.some((p) => matches(p.spec?.selector?.matchLabels)) &&
    pdbs.some((p) => Object.entries(p.spec?.selector?.matchLabels || {}).every(([k, v]) => natsLabels[k] === v)),
    pdbs.map((p) => p.metadata.name).join(","));
  const dockerfile = readFileSync(join(root, "deploy/docker/Dockerfile"), "utf8");
  const migrations = dockerfile.match(/^COPY services\/api-gateway\/migrations (\S+)/m)?.[1];
  check("k8s MIGRATIONS_DIR is where the image keeps the migrations", migrations && cm.MIGRATIONS_DIR === migrations,
    `${cm.MIGRATIONS_DIR} vs ${migrations}`);
}

// ---- deploy/docker/Dockerfile --------------------------------------------
{
  const text = readFileSync(join(root, "deploy/docker/Dockerfile"), "utf8").replace(/\\\n/g, " ");
  const stages = text.split(/^FROM /m).slice(1);
  check("Dockerfile has a build stage and a runtime stage", stages.length === 2, `${stages.length} stages`);
  const runtime = stages[stages.length - 1] || "";
  const pkgs = new Set((runtime.match(/apt-get install ([^&]*)/)?.[1] || "").split(/\s+/).filter((w) => w && !w.startsWith("-")));
  const buildStage = stages[0] || "";
  check("Dockerfile builds with make from the sources it copies",
    /RUN make build/.test(buildStage) && ["Makefile", "libs", "services", "proto"].every((d) => new RegExp(`^COPY ${d}\\b`, "m").test(buildStage)), "");
  check("Dockerfile copies the binaries into the runtime image", /COPY --from=build \S*build\/bin\/? /.test(runtime), "");
  // Every library a service binary links comes from a package the runtime
  // stage installs or a direct dependency of one (sanitizer builds link a few
  // more, e.g. libcap2 through libwebsockets17); libc and sanitizer runtimes
  // aside. Dependencies come from this machine's dpkg database.
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
    for (const f of [path, execFileSync("realpath", [path], { encoding: "utf8" }).trim()]) {
      const r = run("dpkg", ["-S", f]);
      if (r.ok) return r.out.split(":")[0];
    }
    return "";
  };
  const ldcache = execFileSync("ldconfig", ["-p"], { encoding: "utf8" });
  const missing = new Set();
  for (const s of SERVICES) {
    let dyn = "";
    try {
      dyn = execFileSync("readelf", ["-d", join(root, build, "bin", s)], { encoding: "utf8" });
    } catch (e) {
      missing.add(`${s}: ${e.message}`);
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
  check("Dockerfile runtime stage installs every library the services link", missing.size === 0, [...missing].join(", "));
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
