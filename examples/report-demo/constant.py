"""A constant system for the report demo: answers "positive" to every input."""
import sys

for _ in sys.stdin:
    print("positive", flush=True)
