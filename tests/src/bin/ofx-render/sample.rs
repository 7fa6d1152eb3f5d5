//! `--write-sample-plate` (the tests' plate) and `--write-demo-plate` (the `make demo` plate).

use ofx_test_host::demo_plate::demo_plate;
use ofx_test_host::imageio::{write_exr, Rgba};
use ofx_test_host::synthetic::{green_screen_plate, Plate};
use std::path::Path;

pub fn write_sample(path: &Path, size: (usize, usize), frame: u32) -> Result<(), String> {
    write(path, green_screen_plate(size.0, size.1, frame))?;
    println!(
        "wrote sample plate {} ({}x{}, frame {frame})",
        path.display(),
        size.0,
        size.1
    );
    Ok(())
}

pub fn write_demo(path: &Path, size: (usize, usize)) -> Result<(), String> {
    write(path, demo_plate(size.0, size.1))?;
    println!(
        "wrote demo plate {} ({}x{}: hair, motion blur, veil, spill, uneven screen)",
        path.display(),
        size.0,
        size.1
    );
    Ok(())
}

fn write(path: &Path, p: Plate) -> Result<(), String> {
    write_exr(
        path,
        &Rgba {
            width: p.width,
            height: p.height,
            data: p.rgba,
        },
    )
    .map(drop)
}
