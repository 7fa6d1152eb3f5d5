//! CPU image primitives the stages share: colour curves, resampling, morphology and blur. Written
//! for bit-parity with upstream's OpenCV/torchvision pre- and post-processing (each file says how).

pub mod colour;
pub mod morph;
pub mod resize;
