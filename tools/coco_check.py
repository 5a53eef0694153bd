#!/usr/bin/env python3
"""Checks steerlab's detection metrics against pycocotools on the same detections.

Random scenes (images with 0-6 objects of 3 classes, some of them crowd regions (iscrowd 1),
small or large, that are not scored; detections that are jittered copies of the objects,
duplicates, misses, boxes inside crowd regions and false positives, with random scores; and
now and then a crowded image with over 100 detections of one class, where COCO scores only the
100 best) are written as COCO ground truth and results files; pycocotools' COCOeval and
`steerlab eval-detections` score them, and the AP@[.5:.95], AP@0.5 and AP@0.75 figures are
compared.

    python3 -m venv .venv && .venv/bin/pip install pycocotools
    .venv/bin/python tools/coco_check.py [--steerlab target/debug/steerlab] [--scenes 20]

With --truth and --detections, the two score that pair of files instead (for instance those
`steerlab detect --model DIR EPISODE --coco DIR` writes for a real detector on a real episode).
"""
import argparse
import contextlib
import io
import json
import random
import subprocess
import sys
import tempfile

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def scene(rng, images=30):
    truth = {"images": [], "annotations": [], "categories": [
        {"id": c, "name": f"class{c}"} for c in (1, 2, 3)]}
    results = []

    def add_object(image, c, w, h, crowd=0):
        x, y = rng.uniform(0, 200 - w), rng.uniform(0, 66 - h)
        truth["annotations"].append({
            "id": len(truth["annotations"]) + 1, "image_id": image, "category_id": c,
            "bbox": [x, y, w, h], "area": w * h, "iscrowd": crowd})
        return x, y

    def jittered(x, y, w, h):
        j = rng.uniform(0, 0.35)
        return [x + rng.uniform(-j, j) * w, y + rng.uniform(-j, j) * h,
                w * rng.uniform(1 - j, 1 + j), h * rng.uniform(1 - j, 1 + j)]

    for image in range(1, images + 1):
        truth["images"].append({"id": image, "width": 200, "height": 66})
        for _ in range(rng.randint(0, 6)):
            # One in five a crowd region: an object too small to count, or a large region of
            # many, which detections inside match by the fraction of their box in it.
            crowd = int(rng.random() < 0.2)
            if crowd and rng.random() < 0.5:
                w, h = rng.uniform(30, 120), rng.uniform(20, 60)
            else:
                w, h = rng.uniform(4, 40), rng.uniform(4, 30)
            c = rng.choice((1, 2, 3))
            x, y = add_object(image, c, w, h, crowd)
            for _ in range(rng.choice((0, 1, 1, 1, 2))):  # misses and duplicates
                results.append({"image_id": image, "category_id": c if rng.random() > 0.1 else rng.choice((1, 2, 3)),
                                "bbox": jittered(x, y, w, h), "score": rng.random()})
            for _ in range(rng.randint(0, 3) if crowd else 0):  # boxes on parts of a crowd region
                bw, bh = w * rng.uniform(0.1, 0.6), h * rng.uniform(0.1, 0.6)
                results.append({"image_id": image, "category_id": c,
                                "bbox": [x + rng.uniform(-0.2, 1) * (w - bw), y + rng.uniform(-0.2, 1) * (h - bh), bw, bh],
                                "score": rng.random()})
        for _ in range(rng.randint(0, 2)):  # false positives
            w, h = rng.uniform(4, 40), rng.uniform(4, 30)
            results.append({"image_id": image, "category_id": rng.choice((1, 2, 3)),
                            "bbox": [rng.uniform(0, 160), rng.uniform(0, 36), w, h], "score": rng.random()})
        if rng.random() < 0.05:
            # A crowded image: 101-150 detections of one class, objects found among false
            # positives, so that objects found only by detections ranked past 100 are missed.
            c = rng.choice((1, 2, 3))
            for _ in range(rng.randint(8, 15)):
                w, h = rng.uniform(4, 20), rng.uniform(4, 15)
                x, y = add_object(image, c, w, h)
                results.append({"image_id": image, "category_id": c,
                                "bbox": jittered(x, y, w, h), "score": rng.random()})
            for _ in range(rng.randint(101, 150)):
                w, h = rng.uniform(4, 40), rng.uniform(4, 30)
                results.append({"image_id": image, "category_id": c,
                                "bbox": [rng.uniform(0, 160), rng.uniform(0, 36), w, h], "score": rng.random()})
    return truth, results


def pycocotools_figures(truth_path, results_path):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(truth_path)
        dt = gt.loadRes(results_path)
        e = COCOeval(gt, dt, "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return {"ap": e.stats[0], "map50": e.stats[1], "map75": e.stats[2]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steerlab", default="target/debug/steerlab")
    p.add_argument("--scenes", type=int, default=20)
    p.add_argument("--truth", help="a COCO ground-truth file to score instead of random scenes")
    p.add_argument("--detections", help="the COCO results file that goes with --truth")
    args = p.parse_args()
    if args.truth or args.detections:
        if not (args.truth and args.detections):
            p.error("--truth and --detections go together")
        theirs = pycocotools_figures(args.truth, args.detections)
        out = subprocess.run([args.steerlab, "eval-detections", "--truth", args.truth,
                              "--detections", args.detections],
                             check=True, capture_output=True, text=True).stdout
        ours = json.loads(out)
        diff = max(abs(ours[key] - theirs[key]) for key in theirs)
        for key in theirs:
            print(f"{key:6} steerlab {ours[key]:.9f}  pycocotools {theirs[key]:.9f}")
        print(f"largest difference: {diff:.2e}")
        sys.exit(0 if diff < 1e-9 else 1)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.scenes):
            truth, results = scene(random.Random(k))
            tp, rp = f"{tmp}/truth.json", f"{tmp}/results.json"
            json.dump(truth, open(tp, "w"))
            json.dump(results, open(rp, "w"))
            theirs = pycocotools_figures(tp, rp)
            out = subprocess.run([args.steerlab, "eval-detections", "--truth", tp, "--detections", rp],
                                 check=True, capture_output=True, text=True).stdout
            ours = json.loads(out)
            diff = max(abs(ours[key] - theirs[key]) for key in theirs)
            worst = max(worst, diff)
            crowd = sum(a["iscrowd"] for a in truth["annotations"])
            print(f"scene {k:2}: {len(truth['annotations']) - crowd:3} objects, {crowd:2} crowd regions, "
                  f"{len(results):3} detections  "
                  f"AP {ours['ap']:.6f} / {theirs['ap']:.6f}  AP50 {ours['map50']:.6f} / {theirs['map50']:.6f}  "
                  f"AP75 {ours['map75']:.6f} / {theirs['map75']:.6f}  (steerlab / pycocotools)")
    print(f"largest difference: {worst:.2e}")
    sys.exit(0 if worst < 1e-9 else 1)


if __name__ == "__main__":
    main()
