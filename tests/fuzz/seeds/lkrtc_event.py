"""Seeds of fuzz_lkrtc_event: records [op][len: 2 bytes LE][payload]; op 0 an
FfiEvent (protobuf, encoded here by hand from the pinned schema's field
numbers), 1 send audio, 2 send data, 3 sync; 0xff first = a refused connect."""
import struct


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def f_int(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def handle(num, hid=1):
    return f_bytes(num, f_int(1, hid))


def participant(identity):
    info = (f_bytes(1, "PA_" + identity) + f_bytes(2, "") + f_bytes(3, identity) + f_int(4, 1) +
            f_bytes(5, "") + f_int(7, 3) + f_int(8, 0) + f_int(9, 1764755400) + f_int(12, 0))
    return handle(1) + f_bytes(2, info)


def room_event(num, body, room=0):
    return f_bytes(1, f_int(1, room) + f_bytes(num, body))


def joined(identity):
    return room_event(2, f_bytes(1, participant(identity)))


def left(identity, reason=1):
    return room_event(3, f_bytes(1, identity) + f_int(2, reason))


def subscribed(identity, sid, kind=1):
    info = f_bytes(1, sid) + f_bytes(2, "mic") + f_int(3, kind) + f_int(4, 1) + f_int(5, 0) + f_int(6, 1)
    return room_event(9, f_bytes(1, identity) + f_bytes(2, handle(1) + f_bytes(2, info)))


def unsubscribed(identity, sid):
    return room_event(10, f_bytes(1, identity) + f_bytes(2, sid))


def data_packet(identity, length, topic=None, kind=1):
    user = f_bytes(1, handle(1) + f_bytes(2, f_int(1, 0) + f_int(2, length)))
    if topic is not None:
        user += f_bytes(2, topic)
    return room_event(27, f_int(1, kind) + f_bytes(2, identity) + f_bytes(4, user))


def sip_dtmf_packet(identity):
    return room_event(27, f_int(1, 1) + f_bytes(2, identity) + f_bytes(5, f_int(1, 5) + f_bytes(2, "5")))


def disconnected(reason):
    return room_event(22, f_int(1, reason))


def audio_frame(stream=0, samples=480, channels=1, rate=48000):
    info = f_int(1, 0) + f_int(2, channels) + f_int(3, rate) + f_int(4, samples)
    return f_bytes(4, f_int(1, stream) + f_bytes(2, f_bytes(1, handle(1) + f_bytes(2, info))))


def audio_eos(stream=0):
    return f_bytes(4, f_int(1, stream) + f_bytes(3, b""))


def capture_cb(async_id, error=None):
    return f_bytes(13, f_int(1, async_id) + (f_bytes(2, error) if error else b""))


def rec(op, payload=b""):
    return bytes([op]) + struct.pack("<H", len(payload)) + payload


EV, AUDIO, DATA, SYNC = 0, 1, 2, 3


def seeds():
    yield "join-leave", b""
    yield "member-joins-leaves", rec(EV, joined("sip-caller")) + rec(SYNC) + rec(EV, left("sip-caller"))
    yield "subscribe-play", (rec(EV, subscribed("sip-caller", "TR_a")) + rec(SYNC) +
                             rec(EV, audio_frame(0, 480)) + rec(EV, audio_frame(0, 480)) +
                             rec(EV, audio_frame(0, 960)))
    yield "subscribe-stereo-odd", (rec(EV, subscribed("sip-caller", "TR_a")) + rec(SYNC) +
                                   rec(EV, audio_frame(0, 333, 2)) + rec(EV, audio_frame(0, 1000, 2)))
    yield "frame-wrong-rate", (rec(EV, subscribed("sip-caller", "TR_a")) + rec(SYNC) +
                               rec(EV, audio_frame(0, 480, 1, 16000)) + rec(EV, audio_frame(0, 480, 0)))
    yield "frame-unknown-stream", rec(EV, audio_frame(12345, 480))
    yield "subscribe-video", rec(EV, subscribed("web-1", "TR_v", kind=2))
    yield "subscribe-twice", (rec(EV, subscribed("sip-caller", "TR_a")) + rec(EV, subscribed("sip-caller", "TR_a")) +
                              rec(SYNC) + rec(EV, audio_frame(1, 960)))
    yield "subscribe-many", b"".join(rec(EV, subscribed("p%d" % i, "TR_%d" % i)) for i in range(18)) + rec(SYNC)
    yield "unsubscribe", (rec(EV, subscribed("sip-caller", "TR_a")) + rec(SYNC) +
                          rec(EV, unsubscribed("sip-caller", "TR_a")) + rec(SYNC) + rec(EV, audio_frame(0, 960)))
    yield "stream-eos", (rec(EV, subscribed("sip-caller", "TR_a")) + rec(SYNC) + rec(EV, audio_eos(0)) +
                         rec(SYNC) + rec(EV, audio_frame(0, 960)))
    yield "left-clears-senders", (rec(EV, subscribed("sip-caller", "TR_a")) + rec(SYNC) +
                                  rec(EV, left("sip-caller", 4)) + rec(SYNC) + rec(EV, audio_frame(0, 960)))
    yield "data", rec(EV, data_packet("web-1", 11, "lk-chat")) + rec(EV, data_packet("", 0))
    yield "data-dtmf", rec(EV, sip_dtmf_packet("sip-caller"))
    yield "data-big", rec(EV, data_packet("web-1", 70000))
    yield "removed", rec(EV, disconnected(4)) + rec(SYNC) + rec(EV, joined("late"))
    yield "room-deleted", rec(EV, disconnected(5))
    yield "duplicate-identity", rec(EV, disconnected(2))
    yield "server-shutdown", rec(EV, disconnected(3))
    yield "client-initiated", rec(EV, disconnected(1))
    yield "unknown-reason", rec(EV, disconnected(77))
    yield "reconnect", rec(EV, room_event(23, b"")) + rec(EV, room_event(24, b"")) + rec(EV, room_event(23, b""))
    yield "room-eos", rec(EV, room_event(26, b""))
    yield "other-room", rec(EV, room_event(2, f_bytes(1, participant("x")), room=99))
    yield "panic", rec(EV, f_bytes(20, f_bytes(1, "thread 'tokio' panicked")))
    yield "logs", rec(EV, f_bytes(18, f_bytes(1, f_int(1, 2) + f_bytes(2, "lk") + f_bytes(6, "hello"))))
    yield "sends", rec(AUDIO) * 3 + rec(DATA, b"hello") + rec(DATA, b"") + rec(AUDIO) * 4 + rec(SYNC)
    yield "send-data-too-big", rec(DATA, b"x" * 16000)
    yield "capture-unknown", rec(EV, capture_cb(7 << 32 | 3, "full"))
    yield "late-connect", rec(EV, f_bytes(5, f_int(1, 999) + f_bytes(3, f_bytes(1, handle(1) + f_bytes(
        2, f_bytes(2, "r") + f_bytes(3, "") + b"".join(f_int(n, 0) for n in range(4, 13)))) +
        f_bytes(2, participant("agent-late")))))
    yield "late-connect-error", rec(EV, f_bytes(5, f_int(1, 998) + f_bytes(2, "timeout")))
    yield "undecodable", rec(EV, b"\x0a\xff\xff\xff\xff\x0f") + rec(EV, b"\xff")
    yield "missing-required", rec(EV, f_bytes(1, f_bytes(2, b"")))
    yield "empty-event", rec(EV, b"")
    yield "truncated-record", b"\x00\xff\xff\x0a\x02"
    yield "refused-401", b"\xff" + b"could not establish signal connection: 401 Unauthorized"
    yield "refused-refused", b"\xff" + b"Connection refused (os error 111)"
    yield "refused-other", b"\xff" + b"engine said no"
