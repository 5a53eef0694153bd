#!/bin/sh
# Writes the seed corpora of the fuzz targets (fuzz/corpus/TARGET) with the steerlab binary:
# the shipped scenarios, short episodes recorded at a small camera size (frames, labels, map,
# a town with traffic), a COCO export with detections, class masks and frames, and input
# scripts. The model folders (checkpoint) are written by the test suite
# (STEERLAB_BLESS=1 cargo test fuzz_seed_models), which checks them on every run.
set -eu
cd "$(dirname "$0")/.."
bin=${STEERLAB:-target/debug/steerlab}
corpus=fuzz/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p $corpus/scenario $corpus/episode $corpus/coco $corpus/script $corpus/labels

for f in scenarios/*.ron scenarios/heldout/*.ron scenarios/heldout_towns/*.ron; do
    cp "$f" "$corpus/scenario/$(basename "$(dirname "$f")")-$(basename "$f" .ron)"
done

# Small cameras keep the episodes a few kilobytes.
small() { sed "s|^Scenario(|Scenario(camera: (width_px: 32, height_px: 16),|" "$1" >"$work/$2.ron"; }
small scenarios/objects.ron objects
small scenarios/town_small.ron town
small scenarios/town_traffic.ron traffic
"$bin" record --scenario "$work/objects.ron" --steps 3 --labels --out "$work/rec" >/dev/null
"$bin" record --scenario "$work/town.ron" --steps 3 --map --out "$work/rec" >/dev/null
"$bin" record --scenario "$work/traffic.ron" --steps 2 --out "$work/rec" >/dev/null
for f in "$work"/rec/*.mcap; do cp "$f" "$corpus/episode/$(basename "$f" .mcap)"; done

"$bin" export coco "$work/rec/objects_000.mcap" --out "$work/coco" >/dev/null
python3 - "$work/coco" "$corpus" <<'PY'
import json, os, sys
coco, corpus = sys.argv[1], sys.argv[2]
truth = json.load(open(os.path.join(coco, "annotations.json")))
found = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
          "score": 0.9 - 0.1 * i} for i, a in enumerate(truth["annotations"])]
small = {"images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 16}],
         "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 5, 4],
                          "area": 20, "iscrowd": 0}],
         "categories": [{"id": 1, "name": "cone"}]}
pairs = {"export": (truth, found),
         "small": (small, [{"image_id": 1, "category_id": 1, "bbox": [2.5, 3, 5, 4], "score": 0.5}])}
for name, (t, d) in pairs.items():
    with open(os.path.join(corpus, "coco", name), "wb") as out:
        out.write(json.dumps(t).encode() + b"\0" + json.dumps(d).encode())
for kind, folder in ((0, "images"), (1, "masks")):
    name = sorted(os.listdir(os.path.join(coco, folder)))[-1]
    with open(os.path.join(coco, folder, name), "rb") as png:
        data = png.read()
    with open(os.path.join(corpus, "labels", folder), "wb") as out:
        out.write(bytes([kind]) + data)
PY

printf '1 Tab; 2 Left down; 3.5 Left up; 4 click 640 676\n' >$corpus/script/keys
printf '0 W\n0.5 shift down\n1 shift up\n2 Escape\n3 1; 3.1 2; 3.2 3\n' >$corpus/script/lines
ls -l $corpus/* | awk '{s += $5} END {print "fuzz corpora:", s, "bytes"}'
