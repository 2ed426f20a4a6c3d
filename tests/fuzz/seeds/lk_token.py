"""Seeds of fuzz_lk_token: byte 0 = 0 raw JWT, 1 header\\nclaims signed by the
fuzzer, 2 ttl byte then identity\\nname\\nmetadata\\nroom minted."""
import base64, hashlib, hmac, json

KEY, SECRET = "fuzzkey", "fuzzsecret"
FAR = 4102444800  # 2100-01-01
PAST = 946684800  # 2000-01-01


def b64(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def jwt(header, claims, secret=SECRET):
    h = b64(json.dumps(header).encode())
    c = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), (h + "." + c).encode(), hashlib.sha256).digest()
    return h + "." + c + "." + b64(sig)


def signed(header, claims):
    h = header if isinstance(header, str) else json.dumps(header)
    c = claims if isinstance(claims, str) else json.dumps(claims)
    return b"\x01" + (h + "\n" + c).encode()


HS = {"alg": "HS256", "typ": "JWT"}
GOOD = {"iss": KEY, "sub": "agent-1", "exp": FAR, "nbf": PAST, "video": {"room": "r", "roomJoin": True}}


def seeds():
    yield "raw-valid", b"\x00" + jwt(HS, GOOD).encode()
    yield "raw-wrong-secret", b"\x00" + jwt(HS, GOOD, "nope").encode()
    yield "raw-expired", b"\x00" + jwt(HS, dict(GOOD, exp=PAST)).encode()
    yield "raw-alg-none", b"\x00" + (b64(b'{"alg":"none"}') + "." + b64(json.dumps(GOOD).encode()) + ".").encode()
    yield "raw-two-parts", b"\x00" + b"eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJmdXp6a2V5In0"
    yield "raw-four-parts", b"\x00" + (jwt(HS, GOOD) + ".x").encode()
    yield "raw-bad-b64", b"\x00" + b"e*J.e*J.sig"
    yield "raw-padding", b"\x00" + (b64(json.dumps(HS).encode()) + "==." + b64(b"{}") + ".AA").encode()
    yield "raw-empty", b"\x00"
    yield "signed-valid", signed(HS, GOOD)
    yield "signed-no-nbf", signed(HS, {"iss": KEY, "exp": FAR})
    yield "signed-nbf-future", signed(HS, {"iss": KEY, "exp": FAR, "nbf": FAR - 10})
    yield "signed-nbf-string", signed(HS, {"iss": KEY, "exp": FAR, "nbf": "0"})
    yield "signed-exp-string", signed(HS, {"iss": KEY, "exp": str(FAR)})
    yield "signed-exp-inf", signed(HS, '{"iss":"fuzzkey","exp":1e999}')
    yield "signed-wrong-iss", signed(HS, {"iss": "other", "exp": FAR})
    yield "signed-iss-nul", signed(HS, '{"iss":"fuzzkey\\u0000x","exp":4102444800}')
    yield "signed-alg-hs512", signed({"alg": "HS512"}, GOOD)
    yield "signed-header-array", signed("[]", GOOD)
    yield "signed-claims-array", signed(HS, "[1]")
    yield "signed-trailing", signed('{"alg":"HS256"}garbage', GOOD)
    yield "signed-no-newline", b"\x01" + json.dumps(HS).encode()
    yield "mint-full", b"\x02\x0a" + b"agent-7\nAgent Seven\n{\"call\":1}\ncall-room"
    yield "mint-identity-only", b"\x02\x0a" + b"sip-1"
    yield "mint-ttl-zero", b"\x02\x02" + b"x\n\n\n"
    yield "mint-ttl-over", b"\x02\xff" + b"x"
    yield "mint-empty-identity", b"\x02\x0a" + b"\nname"
    yield "mint-long-identity", b"\x02\x0a" + b"i" * 300
    yield "mint-utf8", b"\x02\x0a" + "caf\u00e9\n\u0928\u092e\u0938\u094d\u0924\u0947\n\n\u623f".encode()
