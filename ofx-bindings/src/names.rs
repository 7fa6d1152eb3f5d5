//! OFX string names as `&CStr`: the crate's constants (through [`k!`](crate::k)) and the ones its
//! header snapshot lacks.

use std::ffi::CStr;

/// Turns one of `openfx-sys`'s `&[u8; N]` constants (NUL-terminated) into a `&'static CStr`.
/// Used in const context by [`k!`](crate::k), so a bad constant fails the build, not a render.
pub const fn cstr(bytes: &'static [u8]) -> &'static CStr {
    match CStr::from_bytes_with_nul(bytes) {
        Ok(s) => s,
        Err(_) => panic!("OFX name constant is not NUL-terminated"),
    }
}

/// `k!(kOfxPropLabel)` is the `&'static CStr` of `openfx_sys::kOfxPropLabel`, checked at compile time.
#[macro_export]
macro_rules! k {
    ($name:ident) => {
        const { $crate::names::cstr($crate::sys::$name) }
    };
}

// ---- Missing from the openfx-sys 0.1.0 header snapshot (upstream 1.5.1 and vendor names) ----

/// 1.5.1 `ofxGPURender.h`: whether the effect can render on the CPU ("true"/"false"/"needed").
pub const IMAGE_EFFECT_PROP_CPU_RENDER_SUPPORTED: &CStr = c"OfxImageEffectPropCPURenderSupported";
pub const IMAGE_EFFECT_PROP_OPENCL_SUPPORTED: &CStr = c"OfxImageEffectPropOpenCLSupported";
pub const IMAGE_EFFECT_PROP_OPENCL_IMAGE: &CStr = c"OfxImageEffectPropOpenCLImage";
pub const OPENCL_PROGRAM_SUITE: &CStr = c"OfxOpenCLProgramSuite";
pub const IMAGE_EFFECT_PROP_NO_SPATIAL_AWARENESS: &CStr = c"OfxImageEffectPropNoSpatialAwareness";
pub const IMAGE_EFFECT_PROP_THUMBNAIL_RENDER: &CStr = c"OfxImageEffectPropThumbnailRender";
/// Resolve: the page the effect runs on.
pub const RESOLVE_PROP_PAGE: &CStr = c"OfxImageEffectPropResolvePage";
/// Resolve: set on the source clip of thumbnail renders. The string really starts with "k".
pub const RESOLVE_CLIP_PROP_THUMBNAIL: &CStr = c"kOfxImageClipPropThumbnail";
pub const RESOLVE_PROP_SRC_FILE_PATH: &CStr = c"OfxImageEffectPropSrcFilePath";
pub const RESOLVE_PROP_SRC_FRAME: &CStr = c"OfxImageEffectPropSrcFrame";
/// Nuke extension: show a group as a tab.
pub const NUKE_PARAM_PROP_GROUP_IS_TAB: &CStr = c"FnOfxParamPropGroupIsTab";
/// Natron extension: the host is Natron even when it impersonates another.
pub const NATRON_HOST_IS_NATRON: &CStr = c"NatronOfxHostIsNatron";

// Per-clip names the host builds by appending the clip name (getClipPreferences, RoI).
pub const CLIP_PREF_COMPONENTS_PREFIX: &str = "OfxImageClipPropComponents_";
pub const CLIP_PREF_DEPTH_PREFIX: &str = "OfxImageClipPropDepth_";
pub const CLIP_PREF_PAR_PREFIX: &str = "OfxImageClipPropPAR_";
pub const CLIP_ROI_PREFIX: &str = "OfxImageClipPropRoI_";

/// A per-clip property name: `clip_prop(CLIP_ROI_PREFIX, "Source")` is `OfxImageClipPropRoI_Source`.
pub fn clip_prop(prefix: &str, clip: &str) -> crate::Result<std::ffi::CString> {
    crate::props::to_cstring(&format!("{prefix}{clip}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_constants_convert() {
        assert_eq!(crate::k!(kOfxPropLabel).to_bytes(), b"OfxPropLabel");
        assert_eq!(
            crate::k!(kOfxImageEffectActionRender).to_bytes(),
            b"OfxImageEffectActionRender"
        );
        assert_eq!(
            crate::k!(kOfxImageComponentRGBA).to_bytes(),
            b"OfxImageComponentRGBA"
        );
    }

    #[test]
    fn prefixes_match_header_spelling() {
        // The header documents these only in prose; keep them byte-exact.
        assert_eq!(
            clip_prop(CLIP_ROI_PREFIX, "Source").unwrap().as_bytes(),
            b"OfxImageClipPropRoI_Source"
        );
        assert_eq!(
            format!("{CLIP_PREF_DEPTH_PREFIX}Output"),
            "OfxImageClipPropDepth_Output"
        );
    }
}
