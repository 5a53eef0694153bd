//! Detection geometry and metrics on hand-made cases.

use steerlab::nn::boxes::{BBox, Detection, GroundTruth, average_precision, coco_ap, mean_ap, nms};

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
