#!/usr/bin/env python3
"""Writes the seed corpora of the fuzzers whose seeds are generated:
tests/fuzz/corpus/<name>/ from tests/fuzz/seeds/<name>.py (each defines
seeds() yielding (file name, str or bytes)). Run from the repository root:
  python3 tests/fuzz/seeds/gen.py [name…]"""
import importlib.util, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")


def main(names):
    if not names:
        names = sorted(f[:-3] for f in os.listdir(HERE) if f.endswith(".py") and f != "gen.py")
    for name in names:
        spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, name + ".py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        out = os.path.join(CORPUS, name)
        os.makedirs(out, exist_ok=True)
        for f in os.listdir(out):
            os.unlink(os.path.join(out, f))
        n = 0
        for fname, data in mod.seeds():
            if isinstance(data, str):
                data = data.encode()
            with open(os.path.join(out, fname), "wb") as f:
                f.write(data)
            n += 1
        print(f"{name}: {n} seeds")


if __name__ == "__main__":
    main(sys.argv[1:])
