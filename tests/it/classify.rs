//! The classification module: IDX files, learning a tiny set, and a backbone shared with a
//! steering model.

use std::io::Write;
use steerlab::nn::ModelDir;
use steerlab::nn::data::idx::parse_u8;
use steerlab::nn::models::classify::{
    self, Classifier, ClassifierConfig, ClassifierTraining, LabelledImages, Pooling,
    read_mnist_split,
};
use steerlab::nn::models::steering::config::InputSpec;
use steerlab::nn::train::Run;
use steerlab::nn::{Model, ModelConfig};

fn idx(dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend(values);
    b
}

#[test]
fn idx_files_parse_and_bad_ones_are_named() {
    let (dims, values) = parse_u8(&idx(&[2, 1, 3], &[1, 2, 3, 4, 5, 6])).unwrap();
    assert_eq!(dims, vec![2, 1, 3]);
    assert_eq!(values, vec![1, 2, 3, 4, 5, 6]);
    assert!(parse_u8(&[1, 2, 3]).unwrap_err().contains("magic"));
    assert!(
        parse_u8(&idx(&[4], &[1, 2]))
            .unwrap_err()
            .contains("truncated")
    );
    // A gzipped split in a folder, read as Fashion-MNIST is.
    let dir = std::env::temp_dir().join(format!("steerlab-idx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gz = |name: &str, bytes: &[u8]| {
        let file = std::fs::File::create(dir.join(name)).unwrap();
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
    };
    gz(
        "t10k-images-idx3-ubyte.gz",
        &idx(&[2, 2, 2], &[0, 255, 0, 255, 9, 9, 9, 9]),
    );
    gz("t10k-labels-idx1-ubyte.gz", &idx(&[2], &[1, 0]));
    let split = read_mnist_split(&dir, "t10k", &["a", "b"]).unwrap();
    assert_eq!(split.len(), 2);
    assert_eq!(split.labels, vec![1, 0]);
    assert_eq!((split.input.height, split.input.width), (2, 2));
    gz("t10k-labels-idx1-ubyte.gz", &idx(&[2], &[1, 7]));
    let err = read_mnist_split(&dir, "t10k", &["a", "b"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("label 7"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Vertical against horizontal bars at random places, 12×12.
fn bars(count: usize) -> LabelledImages {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in 0..count {
        let (class, at) = (i % 2, 2 + (i * 7) % 8);
        for y in 0..12 {
            for x in 0..12 {
                let on = if class == 0 { x == at } else { y == at };
                pixels.push(if on { 230 } else { 20 });
            }
        }
        labels.push(class as u32);
    }
    LabelledImages {
        input: InputSpec {
            channels: 1,
            height: 12,
            width: 12,
        },
        pixels,
        labels,
        classes: vec!["vertical".into(), "horizontal".into()],
    }
}

#[test]
fn the_lecture_classifier_learns_a_tiny_set() {
    let data = bars(32);
    let mut config = ClassifierConfig::lecture(data.input, data.classes.clone());
    config.hidden = vec![64];
    let model = Classifier::new(config, 1).unwrap();
    let before = classify::evaluate(&model, &data).unwrap().accuracy();
    let options = ClassifierTraining {
        epochs: 25,
        batch_size: 8,
        learning_rate: 3e-3,
        ..ClassifierTraining::default()
    };
    let (report, confusion) =
        classify::train(&model, &data, &data, &options, Run::quiet()).unwrap();
    let history = &report.history; // [0]: before training
    assert_eq!(confusion.accuracy(), 1.0, "from {before}: {history:?}");
    assert!(history.last().unwrap().train_loss < history[1].train_loss);
    // Saved and loaded, it predicts the same.
    let dir = std::env::temp_dir().join(format!("steerlab-cls-{}", std::process::id()));
    model.save(&dir).unwrap();
    let loaded = Classifier::load(&dir).unwrap();
    let (images, _) = data.batch(&(0..32).collect::<Vec<_>>()).unwrap();
    assert_eq!(
        model.predict(&images).unwrap(),
        loaded.predict(&images).unwrap()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_classifier_takes_its_backbone_from_a_steering_model() {
    let steering = Model::new(ModelConfig::pilotnet(), 5).unwrap();
    let dir = std::env::temp_dir().join(format!("steerlab-bb-{}", std::process::id()));
    steering.save(&dir).unwrap();
    let config = ClassifierConfig {
        input: steering.config.input,
        backbone: steering.config.backbone.clone(),
        pooling: Pooling::GlobalAverage,
        hidden: vec![32],
        classes: vec!["cone".into(), "tree".into(), "car".into()],
    };
    let classifier = Classifier::new(config.clone(), 9).unwrap();
    classifier.load_backbone(&dir).unwrap();
    let ours = classifier.varmap.data().lock().unwrap()["backbone.conv0.weight"]
        .as_tensor()
        .clone();
    let theirs = steering.tensors().unwrap()["backbone.conv0.weight"].clone();
    let diff = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
    assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
    // A backbone of another shape is refused, naming the tensor.
    let mut other = config;
    other.input.channels = 1;
    let mismatched = Classifier::new(other, 9).unwrap();
    let err = mismatched.load_backbone(&dir).unwrap_err().to_string();
    assert!(err.contains("backbone.conv0.weight"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sliding_windows_cover_the_frame_and_need_a_background_class() {
    use steerlab::nn::models::slide::SlidingWindow;
    let slide = SlidingWindow::default();
    let windows = slide.windows(200, 66);
    assert!(windows.len() > 1000);
    assert!(
        windows
            .iter()
            .all(|b| b.x0 >= 0.0 && b.y0 >= 0.0 && b.x1 <= 200.0 && b.y1 <= 66.0)
    );
    // Every pixel lies in some window of the smallest size.
    for (x, y) in [(0.5, 0.5), (199.5, 65.5), (100.0, 33.0)] {
        assert!(
            windows
                .iter()
                .any(|b| b.x0 <= x && x <= b.x1 && b.y0 <= y && y <= b.y1)
        );
    }
    let input = InputSpec {
        channels: 3,
        height: 16,
        width: 16,
    };
    let no_background = Classifier::new(
        ClassifierConfig::lecture(input, vec!["cone".into(), "tree".into()]),
        1,
    )
    .unwrap();
    let frame = crate::grey_frame(200, 66);
    let err = slide
        .detect(&no_background, &frame)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--backgrounds"), "{err}");
    let with_background = Classifier::new(
        ClassifierConfig::lecture(input, vec!["cone".into(), "background".into()]),
        1,
    )
    .unwrap();
    let found = slide.detect(&with_background, &frame).unwrap();
    assert!(found.iter().all(|d| d.class == 0 && d.score >= 0.5));
}
