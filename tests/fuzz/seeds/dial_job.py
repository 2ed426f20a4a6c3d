"""Seeds of fuzz_dial_job: dial.exotel jobs, valid ones and one per refusal."""
import copy, json

CALL = "3f2b8c1e-9d4a-4b7e-8f00-1a2b3c4d5e6f"
BASE = {
    "v": 1, "call_id": CALL, "room": "call-" + CALL, "to_number": "+919876543210",
    "from_number": "+918041234567", "ring_timeout_s": 30, "max_duration_s": 600,
    "trunk": {"provider": "exotel", "sip_host": "sip.exotel.example", "sip_port": 5070,
              "transport": "tls", "sip_domain": "exotel.example", "username": "acct1",
              "password_sealed": "s3cret-Pa55"},
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
    yield "valid-minimal", json.dumps({"v": 1, "call_id": CALL, "room": "r", "to_number": "+12",
                                       "from_number": "+34", "trunk": {"sip_host": "10.0.0.1"}})
    yield "valid-ipv6-udp", job(trunk__sip_host="[2001:db8::1]", trunk__transport="udp",
                                trunk__password_sealed=None, trunk__username=None)
    yield "valid-null-optionals", job(ring_timeout_s=None, trunk__sip_domain=None)
    yield "bad-v2", job(v=2)
    yield "bad-v-float", job(v=1.5)
    yield "bad-callid", job(call_id="not-a-uuid")
    yield "bad-room-space", job(room="a room")
    yield "bad-to-letters", job(to_number="+91abc")
    yield "bad-from-long", job(from_number="+1234567890123456789")
    yield "bad-ring-range", job(ring_timeout_s=601)
    yield "bad-duration-type", job(max_duration_s="600")
    yield "bad-trunk-missing", job(trunk=None)
    yield "bad-provider", job(trunk__provider="twilio")
    yield "bad-host-chars", job(trunk__sip_host="sip host;x")
    yield "bad-port", job(trunk__sip_port=70000)
    yield "bad-transport", job(trunk__transport="sctp")
    yield "bad-clear-password", job(trunk__password="clear")
    yield "bad-envelope", job(trunk__password_sealed="cms1.AAAA.BBBB")
    yield "bad-password-crlf", job(trunk__password_sealed="pw\r\nVia: x")
    yield "bad-username-quote", job(trunk__username='a"b')
    yield "bad-ctl-in-room", job(room="call-\u0001")
    yield "bad-not-object", "[1,2,3]"
    yield "bad-truncated", job()[:-9]
    yield "bad-empty", ""
    yield "bad-deep", "{\"trunk\":" * 200 + "1" + "}" * 200
    # found by libFuzzer: a huge number was converted to long before the range check (UB)
    yield "regress-v-huge", '{"v": 6' + "6" * 70 + '1, "call_id": "3f2b8c1e-9d4a-4b=e-8f00-1a2b3c4d5e6f", "rrunk": {"sip_host": "10.0.0+.1"}}'
    yield "regress-port-huge", job(trunk__sip_port=1e300)
