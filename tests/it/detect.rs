//! Detection geometry and metrics on hand-made cases.

use steerlab::nn::models::detect::boxes::{
    BBox, Detection, GroundTruth, average_precision, coco_ap, mean_ap, nms,
};

#[test]
fn iou_of_known_boxes() {
    let a = BBox::new(0.0, 0.0, 10.0, 10.0);
    assert_eq!(a.iou(&a), 1.0);
    // Half overlapping: intersection 50, union 150.
    assert!((a.iou(&BBox::new(5.0, 0.0, 15.0, 10.0)) - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(a.iou(&BBox::new(10.0, 0.0, 20.0, 10.0)), 0.0);
    assert_eq!(a.iou(&BBox::new(3.0, 3.0, 3.0, 9.0)), 0.0);
}

#[test]
fn nms_keeps_the_best_of_each_cluster() {
    let boxes = [
        BBox::new(0.0, 0.0, 10.0, 10.0),
        BBox::new(1.0, 0.0, 11.0, 10.0), // overlaps the first by 0.82, scores higher
        BBox::new(30.0, 30.0, 40.0, 40.0),
        BBox::new(5.0, 0.0, 15.0, 10.0), // overlaps the second by 0.43
    ];
    let scores = [0.8, 0.9, 0.3, 0.5];
    assert_eq!(nms(&boxes, &scores, 0.5), vec![1, 3, 2]);
    assert_eq!(nms(&boxes, &scores, 0.3), vec![1, 2]);
}

fn det(image: usize, class: usize, b: BBox, score: f64) -> Detection {
    Detection {
        image,
        class,
        bbox: b,
        score,
    }
}

fn gt(image: usize, class: usize, b: BBox) -> GroundTruth {
    GroundTruth {
        image,
        class,
        bbox: b,
        crowd: false,
    }
}

/// A crowd region (COCO's `iscrowd`), such as an object too small to count.
fn crowd(image: usize, class: usize, b: BBox) -> GroundTruth {
    GroundTruth {
        crowd: true,
        ..gt(image, class, b)
    }
}

#[test]
fn average_precision_of_hand_made_detections() {
    let a = BBox::new(0.0, 0.0, 10.0, 10.0);
    let b = BBox::new(20.0, 20.0, 30.0, 30.0);
    let truths = [gt(0, 0, a), gt(1, 0, b)];
    // Perfect: AP 1 at every threshold.
    let perfect = [det(0, 0, a, 0.9), det(1, 0, b, 0.8)];
    assert_eq!(average_precision(&perfect, &truths, 0, 0.5), Some(1.0));
    assert_eq!(coco_ap(&perfect, &truths), Some(1.0));
    // A false positive scored above both hits: precision 1/2 then 2/3, made monotone → 2/3
    // at every recall: AP = 2/3.
    let with_fp = [
        det(0, 0, BBox::new(50.0, 50.0, 60.0, 60.0), 0.95),
        det(0, 0, a, 0.9),
        det(1, 0, b, 0.8),
    ];
    let ap = average_precision(&with_fp, &truths, 0, 0.5).unwrap();
    assert!((ap - 2.0 / 3.0).abs() < 1e-9, "{ap}");
    // One of two objects found: precision 1 up to recall 0.5 (51 of 101 points), then 0.
    let half = [det(0, 0, a, 0.9)];
    let ap = average_precision(&half, &truths, 0, 0.5).unwrap();
    assert!((ap - 51.0 / 101.0).abs() < 1e-12, "{ap}");
    // A duplicate of a found object is a false positive.
    let dup = [det(0, 0, a, 0.9), det(0, 0, a, 0.85), det(1, 0, b, 0.8)];
    let ap = average_precision(&dup, &truths, 0, 0.5).unwrap();
    assert!(
        (ap - (51.0 + 50.0 * 2.0 / 3.0) / 101.0).abs() < 1e-12,
        "{ap}"
    );
    // A box overlapping by 1/3 counts at IoU 0.3 but not at 0.5.
    let loose = [det(0, 0, BBox::new(5.0, 0.0, 15.0, 10.0), 0.9)];
    assert!(average_precision(&loose, &truths[..1], 0, 0.3).unwrap() > 0.99);
    assert_eq!(average_precision(&loose, &truths[..1], 0, 0.5), Some(0.0));
    // Classes without ground truth are left out of the mean; wrong-class boxes do not match.
    assert_eq!(average_precision(&perfect, &truths, 1, 0.5), None);
    let wrong_class = [det(0, 1, a, 0.9), det(1, 0, b, 0.8)];
    let m = mean_ap(&wrong_class, &truths, 0.5).unwrap();
    assert!((m - 51.0 / 101.0).abs() < 1e-12, "{m}");
}

#[test]
fn detections_on_crowd_regions_are_neither_right_nor_wrong() {
    let a = BBox::new(0.0, 0.0, 10.0, 10.0);
    let b = BBox::new(20.0, 20.0, 30.0, 30.0);
    let small = BBox::new(50.0, 50.0, 60.0, 60.0); // an object too small to count
    let nothing = BBox::new(100.0, 0.0, 110.0, 10.0);
    let truths = [gt(0, 0, a), crowd(0, 0, small), gt(1, 0, b)];
    let found = [
        det(0, 0, nothing, 0.95),
        det(0, 0, a, 0.9),
        det(0, 0, small, 0.85),
        det(1, 0, b, 0.8),
    ];
    // By hand: the false positive, a, (the small one left out), b: precision 0, 1/2, 2/3 at
    // recall 0, 1/2, 1, made monotone 2/3 at every recall: AP = 2/3, as without that detection.
    let ap = average_precision(&found, &truths, 0, 0.5).unwrap();
    assert!((ap - 2.0 / 3.0).abs() < 1e-12, "{ap}");
    let without: Vec<Detection> = found.iter().copied().filter(|d| d.bbox != small).collect();
    assert_eq!(average_precision(&without, &truths, 0, 0.5), Some(ap));
    // Left out of the ground truth, the small object would make its detection a false
    // positive: precision 0, 1/2, 1/3, 1/2, monotone 1/2 everywhere: AP = 1/2.
    let ap = average_precision(&found, &[truths[0], truths[2]], 0, 0.5).unwrap();
    assert!((ap - 0.5).abs() < 1e-12, "{ap}");
    // Never found, a crowd region lowers no recall: a and b found, AP 1 (not 67/101, as two
    // of three objects would give).
    let ap = average_precision(&found[1..], &truths, 0, 0.5).unwrap();
    assert!((ap - 1.0).abs() < 1e-12, "{ap}");
    // A class with nothing but crowd regions has no AP, and is left out of the mean.
    assert_eq!(
        average_precision(&found, &[crowd(0, 1, small)], 1, 0.5),
        None
    );
}

#[test]
fn crowd_regions_overlap_by_the_fraction_of_the_detection_inside() {
    // A crowd region of many objects, 100 × 50, a box inside it and one half in it.
    let region = BBox::new(0.0, 0.0, 100.0, 50.0);
    let inside = BBox::new(10.0, 10.0, 20.0, 20.0);
    let half = BBox::new(95.0, 0.0, 105.0, 10.0);
    // Intersection over the detection's area: 100/100 and 50/100; their IoU is only
    // 100/5000 and 50/5050.
    assert_eq!(inside.fraction_inside(&region), 1.0);
    assert_eq!(half.fraction_inside(&region), 0.5);
    assert!((inside.iou(&region) - 0.02).abs() < 1e-12);
    let a = BBox::new(150.0, 0.0, 160.0, 10.0);
    let truths = [crowd(0, 0, region), gt(0, 0, a)];
    let found = [
        det(0, 0, inside, 0.95),
        det(0, 0, half, 0.9),
        det(0, 0, a, 0.8),
    ];
    // At IoU 0.5 the region takes both boxes (a crowd region takes any number), leaving a
    // found alone: AP 1. (By IoU both would be false positives before a: AP 1/3.)
    let ap = average_precision(&found, &truths, 0, 0.5).unwrap();
    assert!((ap - 1.0).abs() < 1e-12, "{ap}");
    // At 0.75 the box half inside is a false positive before a: precision 0, 1/2, monotone
    // 1/2 everywhere: AP 1/2.
    let ap = average_precision(&found, &truths, 0, 0.75).unwrap();
    assert!((ap - 0.5).abs() < 1e-12, "{ap}");
    // Objects come first: a box on an object inside the region finds the object, and a second
    // box on it, the object taken, falls to the region and is ignored, not a false positive:
    // with b in another image found after, AP 1 (not (51 + 50 · 2/3) / 101).
    let b = BBox::new(20.0, 20.0, 30.0, 30.0);
    let truths = [crowd(0, 0, region), gt(0, 0, inside), gt(1, 0, b)];
    let found = [
        det(0, 0, inside, 0.9),
        det(0, 0, inside, 0.85),
        det(1, 0, b, 0.8),
    ];
    let ap = average_precision(&found, &truths, 0, 0.5).unwrap();
    assert!((ap - 1.0).abs() < 1e-12, "{ap}");
}

#[test]
fn only_the_hundred_best_detections_of_an_image_count() {
    let a = BBox::new(0.0, 0.0, 10.0, 10.0);
    let b = BBox::new(20.0, 20.0, 30.0, 30.0);
    let c = BBox::new(40.0, 40.0, 50.0, 50.0);
    let nothing = BBox::new(150.0, 40.0, 160.0, 50.0);
    let truths = [gt(0, 0, a), gt(0, 0, b), gt(1, 0, c)];
    // Image 0: a found first, 148 boxes on nothing scored 0.900, 0.899, …, 0.753, and b found
    // by the 101st best (0.8015, between the 99th and the 100th box on nothing). Image 1: c
    // found by its only box, scored below all of them.
    let mut found = vec![det(0, 0, a, 1.0), det(0, 0, b, 0.8015)];
    found.extend((0..148).map(|i| det(0, 0, nothing, 0.9 - i as f64 * 1e-3)));
    found.push(det(1, 0, c, 0.5));
    assert_eq!(found.iter().filter(|d| d.image == 0).count(), 150);
    // By hand: a, the 99 false positives above b, then c (image 1 has one detection): recall
    // 1/3 at precision 1, then 2/3 at precision 2/101; 34 recall points up to 1/3 (0, 0.01,
    // …, 0.33) and 33 more up to 2/3: AP = (34 + 33 · 2/101) / 101. Were b counted, c would
    // bring recall to 1 at precision 3/151: AP = (34 + 67 · 3/151) / 101.
    let ap = average_precision(&found, &truths, 0, 0.5).unwrap();
    let expected = (34.0 + 33.0 * 2.0 / 101.0) / 101.0;
    assert!((ap - expected).abs() < 1e-12, "{ap} vs {expected}");
    // The same as without image 0's 50 detections past the 100th.
    let best: Vec<Detection> = found
        .iter()
        .copied()
        .filter(|d| d.image == 1 || d.score > 0.8016)
        .collect();
    assert_eq!(best.len(), 101);
    assert_eq!(average_precision(&best, &truths, 0, 0.5), Some(ap));
}

#[test]
fn coco_crowd_annotations_are_read_as_crowd_regions() {
    let path = std::env::temp_dir().join(format!("steerlab-it-crowd-{}.json", std::process::id()));
    let json = r#"{
        "images": [{"id": 1, "width": 200, "height": 66}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 5, 4], "area": 20, "iscrowd": 1}
        ],
        "categories": [{"id": 1, "name": "cone"}]
    }"#;
    std::fs::write(&path, json).unwrap();
    let truth = steerlab::nn::models::detect::boxes::coco::read_truth(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(
        truth,
        vec![
            gt(1, 1, BBox::new(0.0, 0.0, 10.0, 10.0)),
            crowd(1, 1, BBox::new(50.0, 50.0, 55.0, 54.0)),
        ]
    );
}

mod two_stage {
    use candle_core::{Device, Tensor};
    use rand::{RngExt, SeedableRng, rngs::StdRng};
    use steerlab::nn::ModelDir;
    use steerlab::nn::data::detections::{BoxedImages, ImageTruth};
    use steerlab::nn::metrics::detection::evaluate;
    use steerlab::nn::models::detect::boxes::BBox;
    use steerlab::nn::models::detect::{
        DetectOptions, Detector, DetectorConfig, FeatureGrid, HEAD_WEIGHTS, bce_with_logits,
        decode, encode, smooth_l1,
    };
    use steerlab::nn::ops::roi_align;
    use steerlab::nn::train::detect::{DetectorTraining, train};

    #[test]
    fn feature_cells_sit_where_the_convolutions_put_them() {
        let config = DetectorConfig::pilotnet(vec!["cone".into()]);
        let grid = FeatureGrid::of(config.input, &config.backbone.layers).unwrap();
        // Two 5×5 stride-2 convolutions without padding: cell k reads pixels 4k … 4k + 12, so
        // its centre is at 4k + 6.5; 66×200 → 31×98 → 14×47.
        assert_eq!((grid.height, grid.width, grid.channels), (14, 47, 36));
        assert_eq!((grid.stride, grid.first), (4.0, 6.5));
        // RoI Align of a map holding each cell's column index: a thin region centred on the
        // centre of column 9 (and one halfway to column 10) reads 9 (and 9.5).
        let ramp: Vec<f64> = (0..14 * 47).map(|i| (i % 47) as f64).collect();
        let features = Tensor::from_vec(ramp, (1, 1, 14, 47), &Device::Cpu).unwrap();
        for (x, expected) in [(4.0 * 9.0 + 6.5, 9.0), (4.0 * 9.5 + 6.5, 9.5)] {
            let b = BBox::new(x - 0.5, 20.0, x + 0.5, 30.0);
            let v = roi_align(&features, &[grid.roi(0, &b)], (1, 1), 0.25, 2)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            assert!((v[0] - expected).abs() < 1e-9, "{x}: {v:?}");
        }
        // Anchors: every cell, sides × aspects, centred on the cell, of the asked area and shape.
        let anchors = grid.anchors(&[8.0, 16.0], &[0.5, 2.0]);
        assert_eq!(anchors.len(), 14 * 47 * 4);
        let a = anchors[(47 + 2) * 4 + 3]; // cell (1, 2), side 16, aspect 2
        assert!(((a.x0 + a.x1) / 2.0 - 14.5).abs() < 1e-12);
        assert!(((a.y0 + a.y1) / 2.0 - 10.5).abs() < 1e-12);
        assert!((a.area() - 256.0).abs() < 1e-9);
        assert!(((a.y1 - a.y0) / (a.x1 - a.x0) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn box_deltas_round_trip() {
        let anchor = BBox::new(10.0, 20.0, 30.0, 60.0);
        let target = BBox::new(14.0, 18.0, 40.0, 50.0);
        let d = encode(&anchor, &target, HEAD_WEIGHTS);
        // Centre (20, 40) → (27, 34) in anchor sizes 20 × 40, sides 26/20 and 32/40.
        let expected = [
            10.0 * 7.0 / 20.0,
            10.0 * -6.0 / 40.0,
            5.0 * 1.3f64.ln(),
            5.0 * 0.8f64.ln(),
        ];
        for (a, b) in d.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{d:?}");
        }
        let back = decode(&anchor, d, HEAD_WEIGHTS);
        assert!(back.iou(&target) > 1.0 - 1e-12, "{back:?}");
    }

    /// Finite differences of a scalar function of one f64 tensor against candle's gradient.
    fn check_gradient(f: impl Fn(&Tensor) -> Tensor, x: &[f64]) {
        let var = candle_core::Var::from_tensor(&Tensor::new(x, &Device::Cpu).unwrap()).unwrap();
        let grads = f(var.as_tensor()).sum_all().unwrap().backward().unwrap();
        let g = grads
            .get(var.as_tensor())
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for i in 0..x.len() {
            let at = |e: f64| {
                let mut v = x.to_vec();
                v[i] += e;
                f(&Tensor::new(v.as_slice(), &Device::Cpu).unwrap())
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap()
            };
            let numeric = (at(1e-6) - at(-1e-6)) / 2e-6;
            assert!(
                (numeric - g[i]).abs() < 1e-6,
                "element {i}: {numeric} vs {}",
                g[i]
            );
        }
    }

    #[test]
    fn detector_losses_match_their_formulas_and_finite_differences() {
        let x: [f64; 7] = [-3.0, -0.05, 0.02, 0.4, 2.5, -40.0, 40.0];
        let t: [f64; 7] = [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0];
        let targets = Tensor::new(&t, &Device::Cpu).unwrap();
        let bce = bce_with_logits(&Tensor::new(&x, &Device::Cpu).unwrap(), &targets)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for ((x, t), l) in x.iter().zip(t).zip(&bce) {
            let p = 1.0 / (1.0 + (-x).exp());
            let expected = if x.abs() > 30.0 {
                if t == 1.0 { (-x).max(0.0) } else { x.max(0.0) } // the exact limit
            } else {
                -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
            };
            assert!((l - expected).abs() < 1e-9, "x {x}: {l} vs {expected}");
        }
        check_gradient(|v| bce_with_logits(v, &targets).unwrap(), &x);
        let beta = 1.0 / 9.0;
        let d: [f64; 6] = [-2.0, -0.1, -0.01, 0.03, 0.2, 1.5];
        let l = smooth_l1(&Tensor::new(&d, &Device::Cpu).unwrap(), beta)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for (d, l) in d.iter().zip(&l) {
            let expected = if d.abs() < beta {
                0.5 * d * d / beta
            } else {
                d.abs() - 0.5 * beta
            };
            assert!((l - expected).abs() < 1e-12);
        }
        check_gradient(|v| smooth_l1(v, beta).unwrap(), &d);
    }

    /// Frames of noise over a sky-to-ground gradient with red tall boxes (class 0) and blue
    /// wide boxes (class 1) at random places.
    fn synthetic(images: usize, seed: u64) -> BoxedImages {
        let (w, h) = (200usize, 66usize);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut set = BoxedImages {
            classes: vec!["tall".into(), "wide".into()],
            ..BoxedImages::default()
        };
        for _ in 0..images {
            let mut rgb: Vec<u8> = (0..w * h * 3)
                .map(|i| (60 + (i / (3 * w)) as i32 * 2 + rng.random_range(-25..25)) as u8)
                .collect();
            let mut truth = ImageTruth::default();
            for _ in 0..rng.random_range(1..=3) {
                let class = rng.random_range(0..2usize);
                let (bw, bh) = if class == 0 {
                    (rng.random_range(6..12), rng.random_range(14..30))
                } else {
                    (rng.random_range(14..30), rng.random_range(7..13))
                };
                let x0 = rng.random_range(0..w - bw) as f64;
                let y0 = rng.random_range(0..h - bh) as f64;
                let b = BBox::new(x0, y0, x0 + bw as f64, y0 + bh as f64);
                if truth.objects.iter().any(|(_, o)| o.iou(&b) > 0.0) {
                    continue;
                }
                let colour = if class == 0 {
                    [220, 40, 30]
                } else {
                    [30, 60, 220]
                };
                for y in b.y0 as usize..b.y1 as usize {
                    for x in b.x0 as usize..b.x1 as usize {
                        rgb[(y * w + x) * 3..][..3].copy_from_slice(&colour);
                    }
                }
                truth.objects.push((class, b));
            }
            set.push(w as u32, h as u32, rgb, truth).unwrap();
        }
        set
    }

    #[test]
    fn the_two_stage_detector_overfits_a_tiny_set() {
        let data = synthetic(8, 5);
        let objects = data.ground_truth().len();
        let model = Detector::new(DetectorConfig::pilotnet(data.classes.clone()), 3).unwrap();
        let before = evaluate(&model, &data, &DetectOptions::default()).unwrap();
        let options = DetectorTraining {
            epochs: 50,
            batch_size: 2,
            learning_rate: 2e-3,
            seed: 1,
            flip: true,
            photometric: Some(steerlab::nn::data::dataset::Augment::jitter(0.2)),
        };
        let run = steerlab::nn::train::Run::quiet();
        let report = train(&model, &data, &BoxedImages::default(), &options, run).unwrap();
        // history[0] is the model before training; [1] the first epoch's.
        let (first, last) = (&report.history[1], report.history.last().unwrap());
        // The box losses grow at first, as proposals start to overlap objects and become
        // regression targets; the two classification losses fall throughout.
        let classification = |e: &steerlab::nn::train::Epoch| {
            e.get("train_rpn_objectness") + e.get("train_head_classes")
        };
        assert!(
            classification(last) < 0.2 * classification(first),
            "{first:?} → {last:?}"
        );
        let after = evaluate(&model, &data, &DetectOptions::default()).unwrap();
        assert!(before.map50.unwrap() < 0.2, "{before:?}");
        assert!(after.map50.unwrap() > 0.9, "{after:?} ({objects} objects)");
        // Saved and loaded, it finds the same boxes.
        let dir = std::env::temp_dir().join(format!("steerlab-it-detector-{}", std::process::id()));
        model.save(&dir).unwrap();
        let loaded = Detector::load(&dir).unwrap();
        let images = data.images(&[0, 1], &[]).unwrap();
        let (a, b) = (
            model.detect(&images, &DetectOptions::default()).unwrap(),
            loaded.detect(&images, &DetectOptions::default()).unwrap(),
        );
        assert_eq!(a, b);
        assert!(!a[0].is_empty());
        // A config that does not match the weights is refused, naming the tensors.
        let config = dir.join("config.json");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, text.replace("\"wide\"", "\"wide\", \"third\"")).unwrap();
        let err = Detector::load(&dir)
            .err()
            .expect("mismatch detected")
            .to_string();
        assert!(
            err.contains("config.json") && err.contains("head.classes.weight"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn unusable_coco_files_are_refused_with_the_entry_named() {
    let dir = std::env::temp_dir().join(format!("steerlab-it-coco-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let truth = |images: &str, annotations: &str| {
        format!(
            r#"{{"images": [{images}], "annotations": [{annotations}], "categories": [{{"id": 1, "name": "cone"}}]}}"#
        )
    };
    let image = r#"{"id": 1, "width": 200, "height": 66}"#;
    let box_at = |image_id: usize, category: usize, bbox: &str| {
        format!(
            r#"{{"id": 1, "image_id": {image_id}, "category_id": {category}, "bbox": {bbox}, "area": 1}}"#
        )
    };
    for (json, named) in [
        (
            truth(image, &box_at(1, 1, "[0, 0, -5, 4]")),
            "annotations[0].bbox: width and height must not be negative",
        ),
        (
            truth(image, &box_at(7, 1, "[0, 0, 5, 4]")),
            "annotations[0].image_id: 7 is not among the images",
        ),
        (
            truth(image, &box_at(1, 3, "[0, 0, 5, 4]")),
            "annotations[0].category_id: 3",
        ),
        (truth("", ""), "images: empty"),
    ] {
        let path = dir.join("truth.json");
        std::fs::write(&path, &json).unwrap();
        let err = steerlab::nn::models::detect::boxes::coco::read_truth(&path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(named) && err.contains("truth.json"),
            "{json}: {err}"
        );
    }
    // Through the command: detections on an unknown image, and a truth with no objects.
    let good_truth = dir.join("good.json");
    std::fs::write(&good_truth, truth(image, &box_at(1, 1, "[0, 0, 5, 4]"))).unwrap();
    let empty_truth = dir.join("empty.json");
    std::fs::write(&empty_truth, truth(image, "")).unwrap();
    let stray = dir.join("stray.json");
    std::fs::write(
        &stray,
        r#"[{"image_id": 9, "category_id": 1, "bbox": [0, 0, 5, 4], "score": 0.9}]"#,
    )
    .unwrap();
    let none = dir.join("none.json");
    std::fs::write(&none, "[]").unwrap();
    for (t, d, named) in [
        (
            &good_truth,
            &stray,
            "[0].image_id: 9 is not among the images",
        ),
        (&empty_truth, &none, "no objects"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_steerlab"))
            .args(["eval-detections", "--truth"])
            .arg(t)
            .arg("--detections")
            .arg(d)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(named), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
