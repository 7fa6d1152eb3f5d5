//! Host mode's view of the plugin's OFX layer: the render action less the engine call that the
//! plugin reports on its info line, next to a plain parallel copy of the same bytes on this
//! machine (machines differ; the ratio holds).

use std::time::Instant;

use rayon::prelude::*;

use crate::stats::median;

/// The engine call's time from the info line ("... | last frame 81.3 ms, refiner tiles ...",
/// plugin/src/ofx/render.rs), or None when the line has none.
pub fn engine_ms_from_info(info: &str) -> Option<f64> {
    let rest = &info[info.rfind("last frame ")? + "last frame ".len()..];
    rest.split_once(" ms")?.0.trim().parse().ok()
}

/// The median time of a parallel copy (rayon's pool: the plugin's threads) of `input_bytes` and
/// then `output_bytes`, into buffers already resident: what reading the host's source and writing
/// its output cost at the speed of memory.
pub fn plain_copy_ms(input_bytes: usize, output_bytes: usize) -> f64 {
    let copy = |n: usize| {
        let src = vec![1u8; n];
        let mut dst = vec![2u8; n];
        move || {
            dst.par_chunks_mut(1 << 20)
                .zip(src.par_chunks(1 << 20))
                .for_each(|(d, s)| d.copy_from_slice(s));
            std::hint::black_box(&dst);
        }
    };
    let (mut a, mut b) = (copy(input_bytes), copy(output_bytes));
    let times: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            a();
            b();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    median(&times)
}

/// The report line: the OFX layer's median, the plain copy and their ratio.
pub fn summary(ofx_ms: &[f64], copy_ms: f64, width: usize, height: usize) -> String {
    let ofx = median(ofx_ms);
    format!(
        "OFX layer (render action less the engine call the plugin reports), {width}x{height} float RGBA: median {ofx:.1} ms; a plain copy of the same bytes (source in, output out, {} threads): {copy_ms:.1} ms; ratio {:.2}",
        rayon::current_num_threads(),
        ofx / copy_ms.max(1e-9)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_time_from_the_info_line() {
        let line = "compact S=128 fp32 CPU | last frame 81.3 ms, refiner tiles 3 run / 13 skipped";
        assert_eq!(engine_ms_from_info(line), Some(81.3));
        assert_eq!(engine_ms_from_info("x | last frame 7 ms"), Some(7.0));
        assert_eq!(engine_ms_from_info("model ready"), None);
    }

    #[test]
    fn a_copy_takes_time_and_the_ratio_is_printed() {
        let ms = plain_copy_ms(1 << 22, 1 << 22);
        assert!(ms > 0.0);
        let line = summary(&[4.0, 6.0], 2.0, 8, 8);
        assert!(
            line.contains("median 5.0 ms") && line.contains("ratio 2.50"),
            "{line}"
        );
    }
}
