"""A seeded coin flip for the report demo: the label depends only on a hash of the input."""
import hashlib
import sys

for line in sys.stdin:
    digest = hashlib.sha256(b"seed-7:" + line.encode()).digest()
    print("positive" if digest[0] % 2 else "negative", flush=True)
