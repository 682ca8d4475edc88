#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keytrail::fuzz::objects(data));
