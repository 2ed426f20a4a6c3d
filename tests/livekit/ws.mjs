// A small RFC 6455 WebSocket server endpoint for the LiveKit test server's
// /rtc signalling (node 20 has no WebSocket server; tests/js adds no package
// for it). Server side only: client frames must be masked, ours are not; no
// extensions (permessage-deflate is never negotiated); messages up to 1 MiB.
//
//   const ws = acceptWebSocket(req, socket, head);   // after checking the request
//   ws.onmessage = (data: Buffer, binary: boolean) => …;  ws.onclose = (code) => …;
//   ws.send(bufOrString); ws.close(code, reason); ws.terminate();
import { createHash } from "node:crypto";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MESSAGE_MAX = 1 << 20;

export class WebSocketConn {
  constructor(socket) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.fragments = null; // {opcode, parts, len} while a fragmented message arrives
    this.closed = false;
    this.onmessage = () => {};
    this.onclose = () => {};
    socket.setNoDelay(true);
    socket.on("data", (d) => this.feed(d));
    socket.on("close", () => this.finish(1006));
    socket.on("error", () => this.finish(1006));
  }

  finish(code) {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onclose(code);
  }

  feed(data) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    while (!this.closed) {
      const f = this.parseFrame();
      if (!f) return;
      this.handleFrame(f);
    }
  }

  parseFrame() {
    const b = this.buf;
    if (b.length < 2) return null;
    const fin = (b[0] & 0x80) !== 0, opcode = b[0] & 0x0f, masked = (b[1] & 0x80) !== 0;
    let len = b[1] & 0x7f, off = 2;
    if (len === 126) {
      if (b.length < 4) return null;
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) return null;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(MESSAGE_MAX)) return this.fail(1009), null;
      len = Number(big);
      off = 10;
    }
    if (!masked) return this.fail(1002), null;
    if (len > MESSAGE_MAX) return this.fail(1009), null;
    if (b.length < off + 4 + len) return null;
    const mask = b.subarray(off, off + 4);
    const payload = Buffer.from(b.subarray(off + 4, off + 4 + len));
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    this.buf = b.subarray(off + 4 + len);
    return { fin, opcode, payload };
  }

  handleFrame({ fin, opcode, payload }) {
    switch (opcode) {
      case 0x0: // continuation
        if (!this.fragments) return this.fail(1002);
        this.fragments.parts.push(payload);
        this.fragments.len += payload.length;
        if (this.fragments.len > MESSAGE_MAX) return this.fail(1009);
        if (fin) {
          const { opcode: op, parts } = this.fragments;
          this.fragments = null;
          this.onmessage(Buffer.concat(parts), op === 0x2);
        }
        return;
      case 0x1:
      case 0x2:
        if (this.fragments) return this.fail(1002);
        if (fin) return this.onmessage(payload, opcode === 0x2);
        this.fragments = { opcode, parts: [payload], len: payload.length };
        return;
      case 0x8: { // close: echo the code, then end
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.writeFrame(0x8, payload.subarray(0, 2));
        this.socket.end();
        return this.finish(code);
      }
      case 0x9:
        return this.writeFrame(0xa, payload);
      case 0xa:
        return;
      default:
        return this.fail(1002);
    }
  }

  fail(code) {
    this.close(code, "protocol error");
  }

  writeFrame(opcode, payload) {
    if (this.closed || this.socket.destroyed) return;
    const len = payload.length;
    let head;
    if (len < 126) {
      head = Buffer.from([0x80 | opcode, len]);
    } else if (len < 65536) {
      head = Buffer.alloc(4);
      head[0] = 0x80 | opcode;
      head[1] = 126;
      head.writeUInt16BE(len, 2);
    } else {
      head = Buffer.alloc(10);
      head[0] = 0x80 | opcode;
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    this.socket.write(Buffer.concat([head, payload]));
  }

  send(data) {
    if (typeof data === "string") this.writeFrame(0x1, Buffer.from(data, "utf8"));
    else this.writeFrame(0x2, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }

  close(code = 1000, reason = "") {
    if (this.closed) return;
    const r = Buffer.from(reason, "utf8").subarray(0, 120);
    const p = Buffer.alloc(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    this.writeFrame(0x8, p);
    this.socket.end();
    setTimeout(() => this.finish(code), 1000).unref();
  }

  // LiveKit gone: no close frame, the TCP connection just resets.
  terminate() {
    if (this.closed) return;
    this.socket.resetAndDestroy?.() ?? this.socket.destroy();
    this.finish(1006);
  }
}

// Completes the handshake of an upgrade request; null (and a 400) when it is
// not a WebSocket version 13 request.
export function acceptWebSocket(req, socket, head) {
  const key = req.headers["sec-websocket-key"];
  if ((req.headers.upgrade || "").toLowerCase() !== "websocket" || !key ||
      req.headers["sec-websocket-version"] !== "13") {
    socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    return null;
  }
  const accept = createHash("sha1").update(key + GUID).digest("base64");
  socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
  const ws = new WebSocketConn(socket);
  if (head && head.length) setImmediate(() => ws.feed(head)); // once the caller set onmessage
  return ws;
}

// Answers an upgrade request with a plain HTTP error (the client sees the status).
export function refuseUpgrade(socket, status, text, body) {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
