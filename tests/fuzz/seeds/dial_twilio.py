"""Seeds of fuzz_dial_twilio: dial.twilio jobs, valid ones and one per refusal."""
import copy, json

CALL = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
BASE = {
    "v": 1, "call_id": CALL, "room": "call-" + CALL, "to_number": "+14155550123",
    "from_number": "+14155550100", "ring_timeout_s": 45, "max_duration_s": 1800,
    "participant_identity": "sip-" + CALL,
    "trunk": {"livekit_sip_trunk_id": "ST_abc123", "krisp_enabled": True},
}


def job(**changes):
    j = copy.deepcopy(BASE)
    for k, v in changes.items():
        path = k.split("__")
        o = j
        for p in path[:-1]:
            o = o[p]
        if v is None:
            o.pop(path[-1], None)
        else:
            o[path[-1]] = v
    return json.dumps(j, separators=(",", ":"))


def seeds():
    yield "valid-full", job()
    yield "valid-minimal", job(ring_timeout_s=None, max_duration_s=None, participant_identity=None,
                               trunk__krisp_enabled=None)
    yield "valid-bounds", job(ring_timeout_s=600, max_duration_s=86400, to_number="+123456789012345")
    yield "bad-v0", job(v=0)
    yield "bad-v-missing", job(v=None)
    yield "bad-callid", job(call_id=CALL.upper() + "x")
    yield "bad-room-space", job(room="call 1")
    yield "bad-room-long", job(room="r" * 300)
    yield "bad-to-zero", job(to_number="+0123456789")
    yield "bad-to-short", job(to_number="+123456")
    yield "bad-from-letter", job(from_number="+1415555O100")
    yield "bad-to-long", job(to_number="+12345678901234567")
    yield "bad-ring-zero", job(ring_timeout_s=0)
    yield "bad-duration-float", job(max_duration_s=10.5)
    yield "bad-identity-ctl", job(participant_identity="sip\u0007x")
    yield "bad-trunk-missing", job(trunk=None)
    yield "bad-trunk-array", job(trunk=[1])
    yield "bad-trunk-id-empty", job(trunk__livekit_sip_trunk_id="")
    yield "bad-trunk-id-long", job(trunk__livekit_sip_trunk_id="x" * 128)
    yield "bad-krisp-string", job(trunk__krisp_enabled="yes")
    yield "bad-nul-in-number", job().replace("+14155550123", "+1415555\\u00000123")
    yield "bad-not-json", "v=1&call_id=" + CALL
    yield "bad-empty", ""
    yield "bad-deep", "[" * 300 + "]" * 300
