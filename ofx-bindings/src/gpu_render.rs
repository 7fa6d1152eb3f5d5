//! OFX CUDA render (`ofxImageEffect.h`, OpenFX 1.5): what the host offers, what the plugin declares,
//! and what a render action's arguments say. The images' `kOfxImagePropData` then holds CUDA device
//! addresses: [`crate::Image::device_address`] reads one without ever dereferencing it.

use crate::props::PropertySet;
use crate::status::Result;

/// Whether the host's descriptor offers CUDA render (`kOfxImageEffectPropCudaRenderSupported`
/// "true", or 1.5's "needed"). A host that does not say does not offer it.
pub fn host_offers_cuda_render() -> bool {
    crate::host_info::host_properties()
        .and_then(|h| h.get_string(crate::k!(kOfxImageEffectPropCudaRenderSupported), 0))
        .is_ok_and(|v| v == "true" || v == "needed")
}

/// Declares CUDA render and CUDA stream support on the plugin descriptor (Describe).
pub fn declare_cuda_render(descriptor: &PropertySet) -> Result<()> {
    descriptor.set_string(crate::k!(kOfxImageEffectPropCudaRenderSupported), 0, "true")?;
    descriptor.set_string(crate::k!(kOfxImageEffectPropCudaStreamSupported), 0, "true")
}

/// What a render action's inArgs say about CUDA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CudaRenderArgs {
    /// `kOfxImageEffectPropCudaEnabled` = 1: every image's data is CUDA device memory.
    pub enabled: bool,
    /// `kOfxImageEffectPropCudaStream` (a `cudaStream_t`), when the host passed a non-NULL one.
    pub stream: Option<usize>,
}

impl CudaRenderArgs {
    /// Reads the render action's inArgs; a property the host did not set counts as absent.
    pub fn read(in_args: &PropertySet) -> CudaRenderArgs {
        let enabled = in_args
            .get_int(crate::k!(kOfxImageEffectPropCudaEnabled), 0)
            .is_ok_and(|v| v != 0);
        let stream = in_args
            .get_pointer(crate::k!(kOfxImageEffectPropCudaStream), 0)
            .ok()
            .map(|p| p as usize)
            .filter(|&p| p != 0);
        CudaRenderArgs { enabled, stream }
    }
}
