#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| steerlab_fuzz::checkpoint(data));
