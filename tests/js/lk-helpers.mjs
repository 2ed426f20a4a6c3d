// Helpers for the LiveKit test-server suite (livekit.mjs): start the server,
// mint tokens, publish a tone with @livekit/rtc-node, measure what is heard.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, rmSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { AccessToken } from "livekit-server-sdk";
import * as rtc from "@livekit/rtc-node";

const here = dirname(fileURLToPath(import.meta.url));
export const SERVER = resolve(here, "..", "livekit", "fake.mjs");
export const KEY = "devkey", SECRET = "devsecret-0123456789abcdef0123456789";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resolves with the value of `fn()` once truthy; rejects after `ms`.
export async function until(what, fn, ms = 10000, step = 50) {
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end && i < 100000; i++) {
    const v = await fn();
    if (v) return v;
    await sleep(step);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export function within(what, promise, ms = 10000) {
  let timer;
  return Promise.race([promise, new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  })]).finally(() => clearTimeout(timer));
}

// Starts tests/livekit/fake.mjs on a free port; {url, ws, pid, stop(), log()}.
export async function startServer(extra = []) {
  const dir = mkdtempSync(join(tmpdir(), "lk-test-"));
  const ready = join(dir, "ready");
  const host = process.env.CALLMESH_NETNS_ADDR || "127.0.0.1";
  const logs = [];
  const child = spawn(process.execPath, [SERVER, "--port", "0", "--host", host, "--key", KEY,
    "--secret", SECRET, "--ready-file", ready, ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  const keep = (d) => {
    logs.push(d.toString());
    if (process.env.LK_SERVER_LOG) appendFileSync(process.env.LK_SERVER_LOG, d);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let exited = null;
  child.on("exit", (code, sig) => { exited = code ?? sig; });
  await until("the server's ready file", () => exited !== null || existsSync(ready), 20000);
  if (exited !== null) throw new Error(`server exited (${exited}): ${logs.join("")}`);
  const url = readFileSync(ready, "utf8").trim();
  return {
    url, ws: url.replace(/^http/, "ws"), pid: child.pid, host,
    log: () => logs.join(""),
    async stop() {
      if (exited === null) {
        child.kill("SIGTERM");
        await until("server exit", () => exited !== null, 5000).catch(() => child.kill("SIGKILL"));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// CPU seconds (user + system) a process used so far (Linux /proc, 100 Hz ticks).
export function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export async function token(identity, room, grants = {}, opts = {}) {
  const at = new AccessToken(opts.key ?? KEY, opts.secret ?? SECRET, { identity, ttl: opts.ttl ?? "10m",
    name: opts.name });
  at.addGrant({ roomJoin: true, room, canPublish: true, canSubscribe: true, canPublishData: true, ...grants });
  return at.toJwt();
}

// Power of `freq` in a block of samples (Goertzel), normalised to the block's energy.
export function toneShare(samples, freq, rate = 48000) {
  const w = (2 * Math.PI * freq) / rate, c = 2 * Math.cos(w);
  let s1 = 0, s2 = 0, energy = 0;
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i] / 32768;
    const s0 = x + c * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += x * x;
  }
  const power = s1 * s1 + s2 * s2 - c * s1 * s2;
  return energy > 0 ? (2 * power) / (samples.length * energy) : 0;
}

export function rms(samples) {
  let e = 0;
  for (let i = 0; i < samples.length; i++) e += (samples[i] / 32768) ** 2;
  return Math.sqrt(e / Math.max(1, samples.length));
}

// Publishes a sine tone on `room` until stop(); 10 ms frames paced by the source queue.
export async function publishTone(room, freq, amplitude = 0.3) {
  const source = new rtc.AudioSource(48000, 1, 200);
  const track = rtc.LocalAudioTrack.createAudioTrack(`tone-${freq}`, source);
  const opts = new rtc.TrackPublishOptions();
  opts.source = rtc.TrackSource.SOURCE_MICROPHONE;
  await room.localParticipant.publishTrack(track, opts);
  let running = true, n = 0;
  const loop = (async () => {
    for (let f = 0; running && f < 100 * 600; f++) {
      const data = new Int16Array(480);
      for (let i = 0; i < 480; i++, n++) data[i] = Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * freq * n) / 48000));
      await source.captureFrame(new rtc.AudioFrame(data, 48000, 1, 480));
    }
  })();
  return {
    track,
    async stop() {
      running = false;
      await loop;
      await track.close?.();
    },
  };
}

// Collects the frames of a remote audio track: {frames: [{at, samples}], stop()}.
export function listen(track) {
  const stream = new rtc.AudioStream(track, 48000, 1);
  const frames = [];
  let running = true;
  const loop = (async () => {
    for await (const frame of stream) {
      if (!running) break;
      frames.push({ at: Date.now(), samples: Int16Array.from(frame.data) });
      if (frames.length > 100 * 120) frames.shift();
    }
  })();
  return {
    frames,
    // the share of `freq` over the last `ms` of frames, and their RMS
    measure(freq, ms = 500) {
      const since = Date.now() - ms;
      const recent = frames.filter((f) => f.at >= since);
      if (!recent.length) return { share: 0, rms: 0, frames: 0 };
      const all = new Int16Array(recent.reduce((n, f) => n + f.samples.length, 0));
      let o = 0;
      for (const f of recent) {
        all.set(f.samples, o);
        o += f.samples.length;
      }
      return { share: toneShare(all, freq), rms: rms(all), frames: recent.length };
    },
    async stop() {
      running = false;
      await stream.close?.();
      await Promise.race([loop, sleep(500)]);
    },
  };
}

export { rtc };
