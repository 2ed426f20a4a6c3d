"""Seeds for fuzz_httpc_url: the URL forms test_httpc_url covers."""


def seeds():
    urls = [
        "https://api.openai.com/v1",
        "wss://api.openai.com/v1/realtime",
        "HTTPS://API.OpenAI.COM:443/V1/",
        "http://api.openai.com@evil.example/",
        "https://u:p@h:81/a?token=1#f",
        "http://[::1]:8080/x",
        "http://[::ffff:127.0.0.1]/",
        "https://[fe80::1%25eth0]/",
        "http://%31%32%37.0.0.1/",
        "http://127.1/",
        "http://0x7f.0.0.1/",
        "http://localhost./",
        "http:///x",
        "http:/h/p",
        "api.openai.com/v1",
        "ftp://u:p@h/x",
        "http://h:0/",
        "http://h/p%20q?x#y",
    ]
    for i, u in enumerate(urls):
        yield f"url{i:02d}", u
