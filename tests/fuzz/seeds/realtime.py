"""Seeds of fuzz_realtime: one server event (JSON text frame) per line, and
our own calls as one-byte lines: \\x01 respond, \\x02 cancel, \\x03 append."""
import base64, json, struct

RESPOND, CANCEL, APPEND = "\x01", "\x02", "\x03"


def pcm(n, step=700):
    return base64.b64encode(struct.pack("<%dh" % n, *[(i * step) % 30000 - 15000 for i in range(n)])).decode()


def ev(type_, **kw):
    return json.dumps(dict(type=type_, **kw), separators=(",", ":"))


def lines(*ls):
    return "\n".join(ls)


CREATED = ev("response.created", response={"id": "resp_1", "status": "in_progress"})
DELTA = ev("response.audio.delta", response_id="resp_1", item_id="item_1", delta=pcm(240))
TDONE = ev("response.audio_transcript.done", response_id="resp_1", transcript="Hello there.")
DONE = ev("response.done", response={"id": "resp_1", "status": "completed"})


def seeds():
    yield "turn", lines(RESPOND, CREATED, DELTA, DELTA, TDONE, DONE)
    yield "caller-turn", lines(APPEND, ev("input_audio_buffer.speech_started", audio_start_ms=120),
                               ev("conversation.item.input_audio_transcription.completed",
                                  item_id="item_0", transcript="I need help"))
    yield "barge-in", lines(RESPOND, CREATED, DELTA, CANCEL, DELTA, TDONE, DONE)
    yield "cancel-before-created", lines(RESPOND, CANCEL, CREATED, DELTA, TDONE, DONE)
    yield "double-cancel", lines(RESPOND, CREATED, CANCEL, CANCEL,
                                 ev("response.created", response={"id": "resp_2"}), DONE,
                                 ev("response.audio.delta", response_id="resp_2", delta=pcm(48)))
    yield "cancel-idle", lines(CANCEL, DELTA, DONE)
    yield "delta-odd-bytes", ev("response.audio.delta", response_id="r", delta=base64.b64encode(b"\x01\x02\x03").decode())
    yield "delta-one-byte", ev("response.audio.delta", delta=base64.b64encode(b"\x7f").decode())
    yield "delta-bad-b64", ev("response.audio.delta", delta="!!!***===")
    yield "delta-not-string", ev("response.audio.delta", delta=12)
    yield "delta-empty", ev("response.audio.delta", delta="")
    yield "delta-big", ev("response.audio.delta", response_id="resp_9", delta=pcm(4800, 13))
    yield "created-no-id", lines(RESPOND, ev("response.created", response={}), CANCEL, DELTA)
    yield "created-long-id", lines(RESPOND, ev("response.created", response={"id": "r" * 100}), CANCEL,
                                   ev("response.audio.delta", response_id="r" * 63, delta=pcm(16)))
    yield "transcript-empty", ev("response.audio_transcript.done", transcript="")
    yield "transcript-number", ev("conversation.item.input_audio_transcription.completed", transcript=5)
    yield "error", ev("error", error={"type": "invalid_request_error", "message": "bad"})
    yield "error-no-message", ev("error", error="x")
    yield "unknown-type", ev("session.created", session={"id": "sess_1"})
    yield "type-not-string", '{"type":1}'
    yield "not-json", "response.done"
    yield "array", "[]"
    yield "empty-lines", "\n\n\n"
    yield "many-responds", lines(*([RESPOND] * 600), CANCEL, CREATED, DELTA)
    yield "many-appends", lines(*([APPEND] * 20))
    yield "nul-in-frame", '{"type":"response.audio_transcript.done","transcript":"a\\u0000b"}'
