//! Stage timings of the CPU-side work at 4K (ignored by default; run with
//! `cargo test --release -p corridorkey --test engine_timing -- --ignored --nocapture`).

use std::time::Instant;

use corridorkey::engine::refine::Refined;
use corridorkey::engine::{
    finish, hint, prepare, InputColour, KeyParams, RgbaImage, UpscaleFilter,
};

#[test]
#[ignore]
fn time_cpu_stages_4k() {
    let (w, h) = (4096, 2160);
    let mut src = RgbaImage::new(w, h);
    for (i, p) in src.data.chunks_mut(4).enumerate() {
        let x = i % w;
        let v = if x > w / 3 && x < 2 * w / 3 {
            [0.4, 0.3, 0.2, 1.0]
        } else {
            [0.03, 0.42, 0.05, 1.0]
        };
        p.copy_from_slice(&v);
    }
    let p = KeyParams::default();
    let t = Instant::now();
    let hint = hint::chroma_key(&src, InputColour::Linear, &p.chroma, 1.0);
    eprintln!("chroma key: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let tensor = prepare::prepare_input(&src, &hint, InputColour::Linear, 2048).unwrap();
    eprintln!(
        "prepare (resize + pack) 2048: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let s = 2048;
    let refined = Refined {
        s,
        alpha: tensor[3 * s * s..].to_vec(),
        fg: tensor[..3 * s * s].to_vec(),
        ..Default::default()
    };
    let t = Instant::now();
    let f = finish::finish(&refined, (w, h), &p, None, None, UpscaleFilter::Lanczos3).unwrap();
    eprintln!(
        "finish 2048 -> 4K: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let _img = corridorkey::engine::output::compose(f, p.output);
    eprintln!("compose: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let _ = corridorkey::engine::cache::hash_f32(&src.data);
    eprintln!("content hash: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
}
