#!/usr/bin/env python3
"""Opens steerlab episode files with the reference MCAP reader (PyPI `mcap`, plus `lz4`)
and prints what a standard tool sees: profile, metadata, schemas and message counts per
topic, the first JSON state, and that the first image is a PNG.

    python3 -m venv .venv && .venv/bin/pip install mcap lz4
    .venv/bin/python tools/mcap_check.py runs/record/oval_000.mcap
"""
import json
import sys
from collections import Counter

from mcap.reader import make_reader


def main(paths):
    for path in paths:
        with open(path, "rb") as f:
            reader = make_reader(f)
            header = reader.get_header()
            summary = reader.get_summary()
            print(f"{path}: profile={header.profile!r} library={header.library!r}")
            for meta in reader.iter_metadata():
                keys = sorted(meta.metadata)
                print(f"  metadata {meta.name}: {keys}")
            for schema in summary.schemas.values():
                print(f"  schema {schema.id}: {schema.name} ({schema.encoding})")
            counts = Counter()
            first_state = first_image = None
            for schema, channel, message in reader.iter_messages():
                counts[channel.topic] += 1
                if channel.topic == "/state" and first_state is None:
                    first_state = json.loads(message.data)
                if channel.topic == "/camera/image" and first_image is None:
                    first_image = message.data
            for topic, n in sorted(counts.items()):
                print(f"  {topic}: {n} messages")
            print(f"  first state: {first_state}")
            png = first_image is not None and b"\x89PNG" in first_image[:64]
            print(f"  first image carries a PNG: {png}")


if __name__ == "__main__":
    main(sys.argv[1:])
