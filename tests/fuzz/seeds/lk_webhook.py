"""Seeds of fuzz_lk_webhook: byte 0 even = a body the fuzzer signs, odd =
"Authorization\\nbody" as sent."""
import base64, hashlib, hmac, json

KEY, SECRET = "fuzzkey", "fuzzsecret"
CALL = "0b6a2f4e-5c1d-4e8f-9a7b-3c2d1e0f9a8b"
FAR = 4102444800


def auth(body, secret=SECRET, sha=None):
    b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
    sha = sha or base64.b64encode(hashlib.sha256(body).digest()).decode()
    h = b64(b'{"alg":"HS256","typ":"JWT"}')
    c = b64(json.dumps({"iss": KEY, "exp": FAR, "sha256": sha}).encode())
    sig = hmac.new(secret.encode(), (h + "." + c).encode(), hashlib.sha256).digest()
    return h + "." + c + "." + b64(sig)


def js(o):
    return json.dumps(o, separators=(",", ":")).encode()


LEFT = js({"event": "participant_left", "id": "EV_1", "room": {"name": "call-" + CALL},
           "participant": {"identity": "sip-" + CALL, "joinedAt": "1764755300"}})
FINISHED = js({"event": "room_finished", "id": "EV_2",
               "room": {"name": "call-" + CALL, "creationTime": 1764755000}})
EGRESS_OK = js({"event": "egress_ended", "id": "EV_3", "egressInfo": {
    "roomName": "call-" + CALL, "egressId": "EG_1", "status": "EGRESS_COMPLETE",
    "fileResults": [{"filename": "/rec/" + CALL + ".ogg"}]}})
EGRESS_FAIL = js({"event": "egress_ended", "egressInfo": {
    "roomName": "call-" + CALL, "egressId": "EG_2", "status": "EGRESS_FAILED", "error": "disk full"}})


def seeds():
    yield "signed-left", b"\x00" + LEFT
    yield "signed-left-ms", b"\x00" + js({"event": "participant_left", "participant": {
        "identity": "sip-" + CALL.upper(), "joinedAtMs": 1764755300123}})
    yield "signed-left-agent", b"\x00" + js({"event": "participant_left", "room": {"name": "call-" + CALL},
                                            "participant": {"identity": "agent-" + CALL}})
    yield "signed-left-other-room", b"\x00" + js({"event": "participant_left",
                                                 "room": {"name": "call-11111111-2222-4333-8444-555555555555"},
                                                 "participant": {"identity": "sip-" + CALL}})
    yield "signed-finished", b"\x00" + FINISHED
    yield "signed-finished-not-ours", b"\x00" + js({"event": "room_finished", "room": {"name": "lobby"}})
    yield "signed-egress-ok", b"\x00" + EGRESS_OK
    yield "signed-egress-failed", b"\x00" + EGRESS_FAIL
    # found by libFuzzer: an empty status made recording_failed with error "" (invalid event)
    yield "regress-egress-empty-status", b"\x00" + js({"event": "egress_ended", "egressInfo": {
        "roomName": "call-" + CALL, "status": ""}})
    yield "signed-egress-no-files", b"\x00" + js({"event": "egress_ended", "egressInfo": {
        "roomName": "call-" + CALL, "status": "EGRESS_COMPLETE", "fileResults": []}})
    yield "signed-other-event", b"\x00" + js({"event": "track_published", "room": {"name": "call-" + CALL}})
    yield "signed-no-event", b"\x00" + js({"room": {"name": "call-" + CALL}})
    yield "signed-event-number", b"\x00" + js({"event": 5})
    yield "signed-trailing", b"\x00" + FINISHED + b" x"
    yield "signed-array", b"\x00[]"
    yield "signed-empty", b"\x00"
    # found by the replay under UBSan: seconds * 1000 overflowed int64 in time_item()
    yield "signed-joined-huge", b"\x00" + js({"event": "participant_left", "participant": {
        "identity": "sip-" + CALL, "joinedAt": "99999999999999999999"}})
    yield "signed-uuid-long", b"\x00" + js({"event": "room_finished", "room": {"name": "call-" + CALL + "0"}})
    yield "sent-valid", b"\x01" + auth(LEFT).encode() + b"\n" + LEFT
    yield "sent-bearer", b"\x01Bearer " + auth(FINISHED).encode() + b"\n" + FINISHED
    yield "sent-wrong-secret", b"\x01" + auth(LEFT, "nope").encode() + b"\n" + LEFT
    yield "sent-wrong-sha", b"\x01" + auth(LEFT, sha="AAAA").encode() + b"\n" + LEFT
    yield "sent-body-changed", b"\x01" + auth(LEFT).encode() + b"\n" + LEFT.replace(b"EV_1", b"EV_9")
    yield "sent-no-body", b"\x01" + auth(b"").encode()
    yield "sent-garbage", b"\x01not.a.jwt\n{}"
