//! The kernel graphs embedded in the plugin (weight-free; regenerate with
//! `cd onnx-export && python -m corridorkey_export kernels`, a test checks they are current).

/// Tile batches the kernels were written for (crop and blend unroll the batch).
pub const MAX_BATCH: usize = 16;

/// The single-session kernels, by what they do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Plate and hint to the `[1,4,S,S]` network input (linear plates are encoded to sRGB).
    PrepareLinear,
    PrepareSrgb,
    /// Coarse logits up to S, the refiner's input planes, the skip test's alpha plane.
    RefinePrep,
    /// The blended deltas added in logit space, sigmoid.
    RefineFinal,
    /// Sigmoid of the upsampled logits (refiner off).
    Sigmoid,
    /// Back to the plate, clip, despill, sRGB -> linear, premultiply.
    Finish,
    /// The same with the garbage and core mattes.
    FinishMattes,
    /// Benchmark: the hint channel as simulated coarse alpha logits at S/4.
    CoarseFromHint,
    /// The built-in chroma key of a linear / an sRGB plate (the CPU path's `hint::chroma_key`).
    ChromaKeyLinear,
    ChromaKeySrgb,
    /// The plate's alpha as the hint.
    PlateAlpha,
    /// The built-in key and Prepare in one graph (the hint stays inside).
    PrepareKeyedLinear,
    PrepareKeyedSrgb,
    /// RefineFinal and Finish (with the mattes) in one graph.
    FinishRefined,
    FinishRefinedMattes,
}

impl Kernel {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Kernel::PrepareLinear => include_bytes!("../../../kernels/prepare_linear.onnx"),
            Kernel::PrepareSrgb => include_bytes!("../../../kernels/prepare_srgb.onnx"),
            Kernel::RefinePrep => include_bytes!("../../../kernels/refine_prep.onnx"),
            Kernel::RefineFinal => include_bytes!("../../../kernels/refine_final.onnx"),
            Kernel::Sigmoid => include_bytes!("../../../kernels/sigmoid.onnx"),
            Kernel::Finish => include_bytes!("../../../kernels/finish.onnx"),
            Kernel::FinishMattes => include_bytes!("../../../kernels/finish_mattes.onnx"),
            Kernel::CoarseFromHint => include_bytes!("../../../kernels/coarse_from_hint.onnx"),
            Kernel::ChromaKeyLinear => include_bytes!("../../../kernels/chroma_key_linear.onnx"),
            Kernel::ChromaKeySrgb => include_bytes!("../../../kernels/chroma_key_srgb.onnx"),
            Kernel::PlateAlpha => include_bytes!("../../../kernels/plate_alpha.onnx"),
            Kernel::PrepareKeyedLinear => {
                include_bytes!("../../../kernels/prepare_keyed_linear.onnx")
            }
            Kernel::PrepareKeyedSrgb => include_bytes!("../../../kernels/prepare_keyed_srgb.onnx"),
            Kernel::FinishRefined => include_bytes!("../../../kernels/finish_refined.onnx"),
            Kernel::FinishRefinedMattes => {
                include_bytes!("../../../kernels/finish_refined_mattes.onnx")
            }
        }
    }
}

/// One refine step for a batch of `b` tiles (1..=MAX_BATCH): the ramp-weighted blend of the last
/// batch's deltas into the accumulator and the crop of the next batch's tiles.
pub const STEP: [&[u8]; MAX_BATCH] = [
    include_bytes!("../../../kernels/tile_step_b1.onnx"),
    include_bytes!("../../../kernels/tile_step_b2.onnx"),
    include_bytes!("../../../kernels/tile_step_b3.onnx"),
    include_bytes!("../../../kernels/tile_step_b4.onnx"),
    include_bytes!("../../../kernels/tile_step_b5.onnx"),
    include_bytes!("../../../kernels/tile_step_b6.onnx"),
    include_bytes!("../../../kernels/tile_step_b7.onnx"),
    include_bytes!("../../../kernels/tile_step_b8.onnx"),
    include_bytes!("../../../kernels/tile_step_b9.onnx"),
    include_bytes!("../../../kernels/tile_step_b10.onnx"),
    include_bytes!("../../../kernels/tile_step_b11.onnx"),
    include_bytes!("../../../kernels/tile_step_b12.onnx"),
    include_bytes!("../../../kernels/tile_step_b13.onnx"),
    include_bytes!("../../../kernels/tile_step_b14.onnx"),
    include_bytes!("../../../kernels/tile_step_b15.onnx"),
    include_bytes!("../../../kernels/tile_step_b16.onnx"),
];
