"""Seeds of fuzz_validate: byte 0 picks the table (bits 0-2), partial (bit 3)
or a query argument (bit 7); the rest is the body or the argument."""
import base64, json

ASSISTANT, OUTBOUND, TRUNK, EXOTEL, HANGUP, INTERACTION, SCRIPT, LLM = range(8)
PARTIAL, QUERY = 8, 0x80
UUID = "3f2c7d9e-1b4a-4c8e-9f3d-2a6b5c4d3e21"


def body(sel, obj):
    text = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
    return bytes([sel]) + text.encode()


def query(s):
    return bytes([QUERY]) + (s.encode() if isinstance(s, str) else s)


def cursor(raw):
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def seeds():
    yield "assistant-valid", body(ASSISTANT, {
        "assistant_name": "Support", "assistant_prompt": "Be brief.", "assistant_mode": "pipeline",
        "assistant_interaction_config": {"speaks_first": True, "silence_timeout_s": 8,
                                         "reprompt_message": "Still there?"},
        "assistant_llm_config": {"provider": "local", "temperature": 0.5, "max_tokens": 256,
                                 "script": [{"match": "hello", "reply": "Hi!"}],
                                 "base_url": "https://llm.example/v1"},
        "assistant_end_call_url": None})
    yield "assistant-missing-prompt", body(ASSISTANT, {"assistant_name": "x"})
    yield "assistant-patch-one", body(ASSISTANT | PARTIAL, {"assistant_mode": "realtime"})
    yield "assistant-unknown-nested", body(ASSISTANT, {
        "assistant_name": "a", "assistant_prompt": "p",
        "assistant_interaction_config": {"speaks_frist": True}})
    yield "assistant-script-bad-item", body(ASSISTANT, {
        "assistant_name": "a", "assistant_prompt": "p",
        "assistant_llm_config": {"provider": "openai", "script": [{"match": "m", "reply": "r"}, 3]}})
    yield "assistant-ctl-char", body(ASSISTANT, {"assistant_name": "a\u0001", "assistant_prompt": "p"})
    yield "assistant-bad-utf8", bytes([ASSISTANT]) + b'{"assistant_name":"\xc3\x28","assistant_prompt":"p"}'
    yield "outbound-valid", body(OUTBOUND, {
        "assistant_id": UUID, "trunk_id": UUID, "to_number": "+918044319240",
        "call_service": "exotel", "from_number": "+14155550100", "metadata": {"crm": {"id": 7}}})
    yield "outbound-nul", body(OUTBOUND, '{"assistant_id":"%s","trunk_id":"%s","to_number":"+9198\\u0000@evil","call_service":"twilio"}' % (UUID, UUID))
    yield "outbound-nul-key", body(OUTBOUND, '{"meta\\u0000data":{}}')
    yield "outbound-bad-e164", body(OUTBOUND, {"assistant_id": UUID, "trunk_id": UUID,
                                               "to_number": "+0123", "call_service": "twilio"})
    yield "outbound-dup-key", body(OUTBOUND, '{"trunk_id":"%s","trunk_id":"%s"}' % (UUID, UUID))
    yield "outbound-null-metadata", body(OUTBOUND, {"assistant_id": UUID, "trunk_id": UUID,
                                                    "to_number": "+918044319240",
                                                    "call_service": "twilio", "metadata": None})
    yield "outbound-many-keys", body(OUTBOUND, {"k%d" % i: i for i in range(70)})
    yield "trunk-valid", body(TRUNK, {"trunk_name": "exo", "trunk_type": "exotel",
                                      "trunk_config": {"sip_host": "sip.example"}})
    yield "exotel-valid", body(EXOTEL, {"sip_host": "10.1.2.3", "sip_port": 5061, "transport": "tls",
                                        "username": "u", "numbers": ["+918044319240", "+918044319241"]})
    yield "exotel-dup-number", body(EXOTEL, {"sip_host": "h", "username": "u",
                                             "numbers": ["+918044319240", "+918044319240"]})
    yield "exotel-bad-host", body(EXOTEL, {"sip_host": "-bad-.example", "username": "u",
                                           "numbers": ["+918044319240"]})
    yield "exotel-port-float", body(EXOTEL, {"sip_host": "h", "sip_port": 5060.5, "username": "u",
                                             "numbers": ["+918044319240"]})
    yield "hangup-valid", body(HANGUP, {"reason": "customer_request"})
    yield "hangup-empty", body(HANGUP, {})
    yield "llm-temperature-huge", body(LLM, '{"provider":"local","temperature":1e999}')
    yield "not-object", body(HANGUP, "[1]")
    yield "deep", body(ASSISTANT, "{\"a\":" * 40 + "1" + "}" * 40)
    yield "q-cursor-valid", query(cursor("1764755400123456:" + UUID))
    yield "q-cursor-no-colon", query(cursor("1764755400123456" + UUID))
    yield "q-cursor-bad-char", query("abc*def")
    yield "q-cursor-long-us", query(cursor("1234567890123456789:" + UUID))
    yield "q-time-z", query("2026-12-03T10:00:00Z")
    yield "q-time-offset-frac", query("2026-12-03T10:00:00.5+05:30")
    yield "q-time-year-0", query("0000-01-01T00:00:00Z")
    yield "q-time-leap", query("2028-02-29T23:59:59.999-00:00")
    yield "q-status", query("in_progress")
    yield "q-status-case", query("COMPLETED")
    yield "q-empty", query("")
