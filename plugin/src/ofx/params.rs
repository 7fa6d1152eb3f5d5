//! The node's parameters, each declared once in the [`params!`] table below: name, type, default,
//! range, label and hint (the `ParamDef`), page, cache-key membership, the docs/PARAMS.md note and
//! the [`ParamValues`] field it fills. Everything else derives from that table: `DEFINITIONS` (what
//! describe hands the host), the pages' child lists, `ParamValues`'s fields and `Default`, `read`,
//! `clamp_to_ranges` and PARAMS.md's parameter rows (`params_doc.rs`, tested to be current).
//! Names and choice orders are a saved-project API: append only, never reorder, never change a
//! default.
//!
//! Adding a parameter is one table entry plus the code that uses it:
//! 1. Append an entry at the end of the table (before the pages, which are not in it): the name
//!    constant and its string, `field name: type` if the render reads it (`f64` double, `i32` int
//!    or choice, `bool`, `String`), its page (`after NAME` places it behind another on the page),
//!    `cache Params` when it changes [`KeyParams`] (the frame cache key), `Runtime` when it changes
//!    the `RuntimeConfig`, `Steady` when it changes the `SteadyParams` (steady mattes), `None`
//!    otherwise, the PARAMS.md note and the `ParamDef` itself.
//! 2. Use the field: map it into `KeyParams` in [`ParamValues::key_params`] (or the runtime).
//! 3. Regenerate PARAMS.md's rows: `cargo test -p corridorkey --lib params_md` prints them.

use ofx_bindings::{Common, ParamDef, ParamSet, Result, StringMode};

use crate::engine::{
    ChromaKeyParams, Device, HintSource, InputColour, KeyParams, OutputMode, RefinerParams,
    ScreenColour, SteadyParams, TileSize,
};

pub const PAGE_KEY: &str = "Key";
pub const PAGE_DEVICE: &str = "Device";

// Choice orders follow the engine enums (same order, append only).
pub const HINT_SOURCE_OPTIONS: &[&str] = &["AlphaHint clip", "Source alpha", "Built-in chroma key"];
pub const INPUT_COLOUR_OPTIONS: &[&str] = &["Linear", "sRGB"];
pub const QUALITY_OPTIONS: &[&str] = &["1024 (fast)", "1536", "2048 (native)"];
pub const QUALITY_SIZES: [usize; 3] = [1024, 1536, 2048];
pub const SHOW_OPTIONS: &[&str] = &[
    "Premultiplied",
    "Unpremultiplied",
    "Matte",
    "Foreground",
    "Composite",
    "Status",
    "Hint",
];
pub const REFINER_TILE_OPTIONS: &[&str] = &["512", "1024", "Full frame"];
pub const DEVICE_OPTIONS: &[&str] = &["Auto", "CUDA", "TensorRT", "CPU"];
pub const SCREEN_COLOUR_OPTIONS: &[&str] = &["Green", "Blue"];

const HINT_SOURCES: [HintSource; 3] = [
    HintSource::Clip,
    HintSource::SourceAlpha,
    HintSource::ChromaKey,
];
const INPUT_COLOURS: [InputColour; 2] = [InputColour::Linear, InputColour::Srgb];
const OUTPUT_MODES: [OutputMode; 7] = [
    OutputMode::Premultiplied,
    OutputMode::Unpremultiplied,
    OutputMode::Matte,
    OutputMode::Foreground,
    OutputMode::Composite,
    OutputMode::Status,
    OutputMode::Hint,
];
const TILES: [TileSize; 3] = [TileSize::T512, TileSize::T1024, TileSize::FullFrame];
const DEVICES: [Device; 4] = [Device::Auto, Device::Cuda, Device::TensorRt, Device::Cpu];
const SCREENS: [ScreenColour; 2] = [ScreenColour::Green, ScreenColour::Blue];

/// The page a parameter is shown on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Key,
    Device,
}

impl Page {
    pub const fn name(self) -> &'static str {
        match self {
            Page::Key => PAGE_KEY,
            Page::Device => PAGE_DEVICE,
        }
    }
}

/// Which part of the frame cache key a parameter's value reaches (`ofx/cache.rs`'s `FrameKey`
/// holds the `KeyParams` and the `RuntimeConfig`); tested by perturbing each value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheKey {
    /// Changes [`KeyParams`] (the engine's per-frame settings).
    Params,
    /// Changes the `RuntimeConfig` (model folder, device, memory).
    Runtime,
    /// Changes no rendered pixel (groups, the info line).
    None,
    /// Changes the `SteadyParams` (steady mattes), which the per-instance key's content covers
    /// (`ofx/temporal.rs`: `content_key`).
    Steady,
}

/// One table entry's facts beside its `ParamDef` (same index in [`SPECS`] and [`DEFINITIONS`]).
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub name: &'static str,
    pub page: Page,
    /// Shown on its page right after this param (for params appended after the page was laid out).
    pub after: Option<&'static str>,
    pub cache: CacheKey,
    /// The "choices / notes" column of PARAMS.md (the choices themselves come from the def).
    pub doc: &'static str,
    /// Whether [`ParamValues`] has a field for it.
    pub has_field: bool,
}

/// A mutable view of one [`ParamValues`] field, by the field's type.
pub enum Slot<'a> {
    Double(&'a mut f64),
    Int(&'a mut i32),
    Bool(&'a mut bool),
    Str(&'a mut String),
}

impl<'a> From<&'a mut f64> for Slot<'a> {
    fn from(v: &'a mut f64) -> Self {
        Slot::Double(v)
    }
}
impl<'a> From<&'a mut i32> for Slot<'a> {
    fn from(v: &'a mut i32) -> Self {
        Slot::Int(v)
    }
}
impl<'a> From<&'a mut bool> for Slot<'a> {
    fn from(v: &'a mut bool) -> Self {
        Slot::Bool(v)
    }
}
impl<'a> From<&'a mut String> for Slot<'a> {
    fn from(v: &'a mut String) -> Self {
        Slot::Str(v)
    }
}

/// Declares the table: one entry per parameter (groups included, pages not), in definition order.
macro_rules! params {
    ($(
        $konst:ident = $name:literal,
        $(field $field:ident: $ty:ty,)?
        page $page:ident, $(after $after:ident,)?
        cache $cache:ident,
        doc $doc:literal,
        def $def:expr;
    )*) => {
        $(pub const $konst: &str = $name;)*

        /// Every table entry's facts, in definition order.
        pub const SPECS: &[Spec] = &[$(Spec {
            name: $name,
            page: Page::$page,
            after: params!(@opt $($after)?),
            cache: CacheKey::$cache,
            doc: $doc,
            has_field: params!(@has $($field)?),
        },)*];

        /// Every parameter in definition order (groups before their children, pages last).
        pub const DEFINITIONS: &[ParamDef<'static>] = &[
            $($def,)*
            ParamDef::Page { name: PAGE_KEY, label: "Key", children: KEY_CHILDREN },
            ParamDef::Page { name: PAGE_DEVICE, label: "Device", children: DEVICE_CHILDREN },
        ];

        /// The raw values of every parameter the render reads, at one time.
        #[derive(Clone, Debug, PartialEq)]
        pub struct ParamValues {
            $($(pub $field: $ty,)?)*
        }

        impl ParamValues {
            /// The field that holds param `name`, if any.
            pub fn slot_mut(&mut self, name: &str) -> Option<Slot<'_>> {
                match name {
                    $($($konst => Some(Slot::from(&mut self.$field)),)?)*
                    _ => None,
                }
            }

            /// Every field at its type's zero (`Default` then applies the table's defaults).
            fn zeroed() -> Self {
                Self { $($($field: <$ty>::default(),)?)* }
            }
        }
    };
    (@opt $after:ident) => { Some($after) };
    (@opt) => { None };
    (@has $field:ident) => { true };
    (@has) => { false };
}

const fn c<'a>(
    name: &'a str,
    label: &'a str,
    hint: &'a str,
    parent: Option<&'a str>,
) -> Common<'a> {
    Common {
        name,
        label,
        hint,
        parent,
    }
}

#[allow(clippy::too_many_arguments)]
const fn dbl<'a>(
    common: Common<'a>,
    default: f64,
    min: f64,
    max: f64,
    display_min: f64,
    display_max: f64,
    digits: i32,
    increment: f64,
) -> ParamDef<'a> {
    ParamDef::Double {
        common,
        default,
        min,
        max,
        display_min,
        display_max,
        digits,
        increment,
    }
}

const fn int<'a>(
    common: Common<'a>,
    default: i32,
    min: i32,
    max: i32,
    display_min: i32,
    display_max: i32,
) -> ParamDef<'a> {
    ParamDef::Int {
        common,
        default,
        min,
        max,
        display_min,
        display_max,
    }
}

const fn choice<'a>(common: Common<'a>, options: &'a [&'a str], default: i32) -> ParamDef<'a> {
    ParamDef::Choice {
        common,
        options,
        default,
    }
}

const fn boolean(common: Common<'_>, default: bool) -> ParamDef<'_> {
    ParamDef::Bool { common, default }
}

const fn group(common: Common<'_>, open: bool) -> ParamDef<'_> {
    ParamDef::Group { common, open }
}

const HINT_GROUP: Option<&str> = Some(GROUP_BUILTIN_HINT);
const REFINER_PARENT: Option<&str> = Some(GROUP_REFINER);
const MATTE_PARENT: Option<&str> = Some(GROUP_MATTE);
const TEMPORAL_PARENT: Option<&str> = Some(GROUP_TEMPORAL);

#[rustfmt::skip]
params! {
    HINT_SOURCE = "hintSource", field hint_source: i32, page Key, cache Params,
        doc "AlphaHint clip uses the built-in key when the clip is absent",
        def choice(c(HINT_SOURCE, "Hint source", "Where the coarse alpha hint comes from. AlphaHint clip uses the built-in key when the clip is not connected.", None), HINT_SOURCE_OPTIONS, 0);
    INPUT_COLOUR = "inputColour", field input_colour: i32, page Key, cache Params,
        doc "",
        def choice(c(INPUT_COLOUR, "Input colour", "Encoding of the Source clip: scene-linear (converted to sRGB for the network) or already sRGB.", None), INPUT_COLOUR_OPTIONS, 0);
    QUALITY = "quality", field quality: i32, page Key, cache Params,
        doc "-> inference size S",
        def choice(c(QUALITY, "Quality", "Inference size S: the plate is resized to S x S for the network. 2048 is the model's native size.", None), QUALITY_OPTIONS, 2);
    SHOW = "show", field show: i32, page Key, cache Params,
        doc "",
        def choice(c(SHOW, "Show", "What the node outputs: the keyed foreground (premultiplied or not), the matte, the foreground colour, a composite, a diagnostic status view or the hint.", None), SHOW_OPTIONS, 0);
    GROUP_BUILTIN_HINT = "builtinHint", page Key, cache None,
        doc "",
        def group(c(GROUP_BUILTIN_HINT, "Built-in hint", "The HSV key of the screen colour, used when no hint clip is available.", None), false);
    HINT_HUE_MIN = "hintHueMin", field hue_min: f64, page Key, cache Params,
        doc "OpenCV 8-bit HSV hue",
        def dbl(c(HINT_HUE_MIN, "Hue min", "Lowest screen hue (OpenCV 8-bit HSV scale, 0..180).", HINT_GROUP), 35.0, 0.0, 180.0, 0.0, 180.0, 1, 1.0);
    HINT_HUE_MAX = "hintHueMax", field hue_max: f64, page Key, cache Params,
        doc "",
        def dbl(c(HINT_HUE_MAX, "Hue max", "Highest screen hue (OpenCV 8-bit HSV scale, 0..180).", HINT_GROUP), 85.0, 0.0, 180.0, 0.0, 180.0, 1, 1.0);
    HINT_SAT_MIN = "hintSatMin", field sat_min: f64, page Key, cache Params,
        doc "",
        def dbl(c(HINT_SAT_MIN, "Saturation min", "Lowest screen saturation (0..255).", HINT_GROUP), 40.0, 0.0, 255.0, 0.0, 255.0, 1, 1.0);
    HINT_VAL_MIN = "hintValMin", field val_min: f64, page Key, cache Params,
        doc "",
        def dbl(c(HINT_VAL_MIN, "Value min", "Lowest screen value (0..255).", HINT_GROUP), 30.0, 0.0, 255.0, 0.0, 255.0, 1, 1.0);
    HINT_ERODE = "hintErode", field erode: i32, page Key, cache Params,
        doc "elliptical kernel, px at full res",
        def int(c(HINT_ERODE, "Erode", "Elliptical erode of the key, in pixels at full resolution.", HINT_GROUP), 7, 0, 101, 0, 31);
    HINT_BLUR = "hintBlur", field blur: i32, page Key, cache Params,
        doc "Gaussian kernel, px at full res",
        def int(c(HINT_BLUR, "Blur", "Gaussian blur of the eroded key, kernel size in pixels at full resolution.", HINT_GROUP), 21, 0, 201, 0, 63);
    GROUP_REFINER = "refinerGroup", page Key, cache None,
        doc "",
        def group(c(GROUP_REFINER, "Refiner", "The full-resolution edge refiner.", None), false);
    REFINER = "refiner", field refiner: bool, page Key, cache Params,
        doc "",
        def boolean(c(REFINER, "Refiner", "Run the refiner on the coarse prediction (hair, motion blur).", REFINER_PARENT), true);
    REFINER_STRENGTH = "refinerStrength", field refiner_strength: f64, page Key, cache Params,
        doc "multiplies the delta logits",
        def dbl(c(REFINER_STRENGTH, "Strength", "Multiplies the refiner's delta logits.", REFINER_PARENT), 1.0, 0.0, 10.0, 0.0, 2.0, 2, 0.05);
    REFINER_TILE = "refinerTile", field refiner_tile: i32, page Key, cache Params,
        doc "",
        def choice(c(REFINER_TILE, "Tile size", "Refiner tile size. Full frame reproduces the reference model exactly; tiles use less memory.", REFINER_PARENT), REFINER_TILE_OPTIONS, 0);
    REFINER_OVERLAP = "refinerOverlap", field refiner_overlap: i32, page Key, cache Params,
        doc "",
        def int(c(REFINER_OVERLAP, "Tile overlap", "Overlap between refiner tiles, in pixels at the inference size.", REFINER_PARENT), 128, 0, 512, 0, 256);
    SPARSE_SKIP = "sparseSkip", field sparse_skip: bool, page Key, cache Params,
        doc "skip tiles whose coarse alpha is uniform",
        def boolean(c(SPARSE_SKIP, "Sparse skip", "Skip refiner tiles whose coarse alpha is uniform.", REFINER_PARENT), true);
    SKIP_LOW = "skipLow", field skip_low: f64, page Key, cache Params,
        doc "",
        def dbl(c(SKIP_LOW, "Skip below", "A tile whose coarse alpha never exceeds this is skipped as background.", REFINER_PARENT), 0.05, 0.0, 1.0, 0.0, 0.5, 3, 0.01);
    SKIP_HIGH = "skipHigh", field skip_high: f64, page Key, cache Params,
        doc "",
        def dbl(c(SKIP_HIGH, "Skip above", "A tile whose coarse alpha never falls below this is skipped as foreground.", REFINER_PARENT), 0.95, 0.0, 1.0, 0.5, 1.0, 3, 0.01);
    GROUP_MATTE = "matteGroup", page Key, cache None,
        doc "",
        def group(c(GROUP_MATTE, "Matte", "Matte and colour clean-up after the network.", None), true);
    DESPILL = "despill", field despill: f64, page Key, cache Params,
        doc "upstream 'average' despill strength",
        def dbl(c(DESPILL, "Despill", "Strength of the 'average' green despill on the foreground colour.", MATTE_PARENT), 1.0, 0.0, 1.0, 0.0, 1.0, 2, 0.05);
    DESPECKLE = "despeckle", field despeckle: bool, page Key, cache Params,
        doc "",
        def boolean(c(DESPECKLE, "Despeckle", "Remove small islands from the matte.", MATTE_PARENT), false);
    DESPECKLE_SIZE = "despeckleSize", field despeckle_size: i32, page Key, cache Params,
        doc "px at full res",
        def int(c(DESPECKLE_SIZE, "Despeckle size", "Islands smaller than this many pixels (at full resolution) are removed.", MATTE_PARENT), 400, 1, 100000, 1, 5000);
    CLIP_BLACK = "clipBlack", field clip_black: f64, page Key, cache Params,
        doc "",
        def dbl(c(CLIP_BLACK, "Clip black", "Matte values at or below this become 0.", MATTE_PARENT), 0.0, 0.0, 1.0, 0.0, 1.0, 3, 0.01);
    CLIP_WHITE = "clipWhite", field clip_white: f64, page Key, cache Params,
        doc "",
        def dbl(c(CLIP_WHITE, "Clip white", "Matte values at or above this become 1.", MATTE_PARENT), 1.0, 0.0, 1.0, 0.0, 1.0, 3, 0.01);
    DEVICE = "device", field device: i32, page Device, cache Runtime,
        doc "",
        def choice(c(DEVICE, "Device", "Where the network runs. Auto tries TensorRT, then CUDA, then the CPU.", None), DEVICE_OPTIONS, 0);
    GPU_MEMORY_MB = "gpuMemoryMB", field gpu_memory_mb: i32, page Device, cache Runtime,
        doc "CUDA `gpu_mem_limit`",
        def int(c(GPU_MEMORY_MB, "GPU memory (MB)", "CUDA memory limit for the network (gpu_mem_limit).", None), 6144, 256, 262144, 1024, 24576);
    MODEL_FOLDER = "modelFolder", field model_folder: String, page Device, cache Runtime,
        doc "empty = the bundle's `Contents/Resources/models` (or `$CORRIDORKEY_MODEL_DIR`)",
        def ParamDef::String {
            common: c(MODEL_FOLDER, "Model folder", "Folder with manifest.json and the ONNX graphs. Empty: $CORRIDORKEY_MODEL_DIR, else the bundle's Contents/Resources/models.", None),
            default: "",
            mode: StringMode::DirectoryPath,
            enabled: true,
            animates: false,
        };
    INFO = "info", page Device, cache None,
        doc "model, size, precision, device in use, last frame time and refiner tiles run / skipped",
        def ParamDef::String {
            common: c(INFO, "Info", "Model, inference size, precision and device in use, the last frame time and the refiner tiles run / skipped.", None),
            default: "",
            mode: StringMode::SingleLine,
            enabled: false,
            animates: false,
        };
    // Appended after every earlier param (defined last, shown beside Input colour on the Key page).
    SCREEN_COLOUR = "screenColour", field screen_colour: i32, page Key, after INPUT_COLOUR, cache Params,
        doc "The built-in key removes this colour: the hue params are set for green, blue keys `hintHueMin` + 55 to `hintHueMax` + 45 (90..130 at the defaults). A model folder holding one model per screen colour (docs/MODEL-FORMAT.md) keys with the matching one; with none, the node uses the other and warns.",
        def choice(c(SCREEN_COLOUR, "Screen colour", "The screen the plate was shot on: the built-in key removes it (the hue params are set for green; blue keys hue min + 55 to hue max + 45), and the model trained for it keys the plate when the model folder has one.", None), SCREEN_COLOUR_OPTIONS, 0);
    // Steady mattes (issue 22): appended, off by default (docs/ARCHITECTURE.md, "Steady mattes").
    GROUP_TEMPORAL = "temporalGroup", page Key, cache None,
        doc "",
        def group(c(GROUP_TEMPORAL, "Temporal", "Steady mattes: frames t-1 and t+1 steady frame t's matte where the picture holds still.", None), false);
    STEADY_MATTES = "steadyMattes", field steady_mattes: bool, page Key, cache Steady,
        doc "frame t's key blended per pixel with the keys of frames t-1 and t+1 where the plate did not change (the host gives those frames through temporal clip access; at the ends of a clip the frames that exist are used); a frame depends on t-1..t+1 only, never on render order",
        def boolean(c(STEADY_MATTES, "Steady mattes", "Blend each frame's matte with the previous and next frames' where the plate did not change, so static parts stop flickering and moving edges never lag. Any render order gives the same frames.", TEMPORAL_PARENT), false);
    STEADY_STRENGTH = "steadyStrength", field steady_strength: f64, page Key, cache Steady,
        doc "weight of each neighbour where its plate matches frame t (1 = the three frames weigh the same)",
        def dbl(c(STEADY_STRENGTH, "Strength", "Weight of the previous and next frames where the plate did not change (1: the three frames weigh the same).", TEMPORAL_PARENT), 1.0, 0.0, 1.0, 0.0, 1.0, 2, 0.05);
    STEADY_TOLERANCE = "steadyTolerance", field steady_tolerance: f64, page Key, cache Steady,
        doc "plate difference (linear RGB, 3x3 mean) still counted as sensor noise: full weight up to this, none from twice this (motion)",
        def dbl(c(STEADY_TOLERANCE, "Noise tolerance", "Plate difference (linear RGB, averaged over 3x3 pixels) still treated as noise; from twice this a pixel counts as moving and is not blended.", TEMPORAL_PARENT), 0.02, 0.001, 0.5, 0.001, 0.1, 3, 0.005);
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn on_page(spec: &Spec, page: Page) -> bool {
    spec.page as u8 == page as u8
}

const fn page_len(page: Page) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < SPECS.len() {
        if on_page(&SPECS[i], page) {
            n += 1;
        }
        i += 1;
    }
    n
}

/// The names on `page` in table order, each `after` entry placed behind the param it names.
const fn page_children<const N: usize>(page: Page) -> [&'static str; N] {
    let mut out = [""; N];
    let mut n = 0;
    let mut i = 0;
    while i < SPECS.len() {
        let s = &SPECS[i];
        if on_page(s, page) && s.after.is_none() {
            out[n] = s.name;
            n += 1;
            let mut j = 0;
            while j < SPECS.len() {
                if let Some(a) = SPECS[j].after {
                    if on_page(&SPECS[j], page) && str_eq(a, s.name) {
                        out[n] = SPECS[j].name;
                        n += 1;
                    }
                }
                j += 1;
            }
        }
        i += 1;
    }
    // An `after` naming a param not on its page would leave a hole: refuse to compile.
    assert!(
        n == N,
        "an `after` names a param that is not on the same page"
    );
    out
}

const KEY_LEN: usize = page_len(Page::Key);
const DEVICE_LEN: usize = page_len(Page::Device);
const KEY_PAGE: [&str; KEY_LEN] = page_children::<KEY_LEN>(Page::Key);
const DEVICE_PAGE: [&str; DEVICE_LEN] = page_children::<DEVICE_LEN>(Page::Device);
const KEY_CHILDREN: &[&str] = &KEY_PAGE;
const DEVICE_CHILDREN: &[&str] = &DEVICE_PAGE;

/// Page order for `kOfxPluginPropParamPageOrder`.
pub const PAGE_ORDER: &[&str] = &[PAGE_KEY, PAGE_DEVICE];

impl Default for ParamValues {
    /// The table's defaults (PARAMS.md).
    fn default() -> Self {
        let mut v = Self::zeroed();
        for d in DEFINITIONS {
            match (*d, v.slot_mut(d.name())) {
                (ParamDef::Double { default, .. }, Some(Slot::Double(x))) => *x = default,
                (ParamDef::Int { default, .. }, Some(Slot::Int(x)))
                | (ParamDef::Choice { default, .. }, Some(Slot::Int(x))) => *x = default,
                (ParamDef::Bool { default, .. }, Some(Slot::Bool(x))) => *x = default,
                (ParamDef::String { default, .. }, Some(Slot::Str(x))) => *x = default.to_owned(),
                _ => {}
            }
        }
        v
    }
}

impl ParamValues {
    /// Reads every value at `time` (render, instanceChanged).
    pub fn read(ps: &ParamSet, time: f64) -> Result<Self> {
        let mut v = Self::default();
        for d in DEFINITIONS {
            let name = d.name();
            match v.slot_mut(name) {
                Some(Slot::Double(x)) => *x = ps.param(name)?.double_at(time)?,
                Some(Slot::Int(x)) => *x = ps.param(name)?.int_at(time)?,
                Some(Slot::Bool(x)) => *x = ps.param(name)?.bool_at(time)?,
                Some(Slot::Str(x)) => *x = ps.param(name)?.string_at(time)?,
                None => {}
            }
        }
        Ok(v)
    }

    /// The screen colour (an out-of-range index falls back to green).
    pub fn screen(&self) -> ScreenColour {
        pick(&SCREENS, self.screen_colour, Self::default().screen_colour)
    }

    /// Brings every numeric and choice value into its declared range (DEFINITIONS): hosts and
    /// scripts can still send values outside it (`hintErode=2000000000`), and the engine must never
    /// size a buffer or a loop from one. Returns a note per value changed.
    pub fn clamp_to_ranges(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        for d in DEFINITIONS {
            match (*d, self.slot_mut(d.name())) {
                (
                    ParamDef::Double {
                        common,
                        default,
                        min,
                        max,
                        ..
                    },
                    Some(Slot::Double(v)),
                ) => {
                    let c = if v.is_nan() {
                        default
                    } else {
                        v.clamp(min, max)
                    };
                    if c != *v {
                        notes.push(format!(
                            "{} = {} is outside {min}..{max}; using {c}",
                            common.name, *v
                        ));
                        *v = c;
                    }
                }
                (
                    ParamDef::Int {
                        common, min, max, ..
                    },
                    Some(Slot::Int(v)),
                ) => {
                    let c = (*v).clamp(min, max);
                    if c != *v {
                        notes.push(format!(
                            "{} = {} is outside {min}..{max}; using {c}",
                            common.name, *v
                        ));
                        *v = c;
                    }
                }
                (
                    ParamDef::Choice {
                        common,
                        options,
                        default,
                    },
                    Some(Slot::Int(v)),
                ) if usize::try_from(*v).map_or(true, |i| i >= options.len()) => {
                    notes.push(format!(
                        "{} = {} is not one of its {} options; using {default}",
                        common.name,
                        *v,
                        options.len()
                    ));
                    *v = default;
                }
                _ => {}
            }
        }
        notes
    }

    #[cfg(test)]
    fn double_mut(&mut self, name: &str) -> Option<&mut f64> {
        match self.slot_mut(name) {
            Some(Slot::Double(v)) => Some(v),
            _ => None,
        }
    }

    /// Int and choice values by param name.
    #[cfg(test)]
    fn int_mut(&mut self, name: &str) -> Option<&mut i32> {
        match self.slot_mut(name) {
            Some(Slot::Int(v)) => Some(v),
            _ => None,
        }
    }

    /// Inference size S for the quality choice (out-of-range indices fall back to the default).
    pub fn inference_size(&self) -> usize {
        pick(&QUALITY_SIZES, self.quality, Self::default().quality)
    }

    pub fn output_mode(&self) -> OutputMode {
        pick(&OUTPUT_MODES, self.show, Self::default().show)
    }

    pub fn device_choice(&self) -> Device {
        pick(&DEVICES, self.device, Self::default().device)
    }

    /// The engine's per-frame settings. Pixel-sized settings stay at full resolution and
    /// `render_scale` goes along: the engine contract (engine/types.rs) scales them. A value not
    /// finite (no clamp ran) or a choice out of range takes the table's default.
    pub fn key_params(&self, render_scale: f64) -> KeyParams {
        let d = Self::default();
        let finite = |v: f64, dflt: f64| if v.is_finite() { v as f32 } else { dflt as f32 };
        KeyParams {
            hint_source: pick(&HINT_SOURCES, self.hint_source, d.hint_source),
            chroma: ChromaKeyParams {
                hue_min: finite(self.hue_min, d.hue_min),
                hue_max: finite(self.hue_max, d.hue_max),
                sat_min: finite(self.sat_min, d.sat_min),
                val_min: finite(self.val_min, d.val_min),
                erode_px: self.erode.max(0) as f32,
                blur_px: self.blur.max(0) as f32,
            },
            input_colour: pick(&INPUT_COLOURS, self.input_colour, d.input_colour),
            inference_size: self.inference_size(),
            refiner: RefinerParams {
                enabled: self.refiner,
                strength: finite(self.refiner_strength, d.refiner_strength),
                tile: pick(&TILES, self.refiner_tile, d.refiner_tile),
                overlap: self.refiner_overlap.max(0) as usize,
                sparse_skip: self.sparse_skip,
                skip_low: finite(self.skip_low, d.skip_low),
                skip_high: finite(self.skip_high, d.skip_high),
            },
            despill: finite(self.despill, d.despill).clamp(0.0, 1.0),
            despeckle_px: if self.despeckle {
                self.despeckle_size.max(1) as usize
            } else {
                0
            },
            clip_black: finite(self.clip_black, d.clip_black),
            clip_white: finite(self.clip_white, d.clip_white),
            output: self.output_mode(),
            render_scale: if render_scale.is_finite() && render_scale > 0.0 {
                render_scale
            } else {
                1.0
            },
            screen: self.screen(),
        }
    }
}

impl ParamValues {
    /// The Temporal group as the engine takes it (off: strength 0), clamped.
    pub fn steady_params(&self) -> SteadyParams {
        let d = SteadyParams::OFF;
        let finite = |v: f64, dflt: f32| if v.is_finite() { v as f32 } else { dflt };
        SteadyParams {
            strength: if self.steady_mattes {
                finite(self.steady_strength, 1.0)
            } else {
                0.0
            },
            tolerance: finite(self.steady_tolerance, d.tolerance),
        }
        .clamped()
    }
}

/// `table[index]`, or `table[default]` for an index a newer project (or a broken host) sent.
fn pick<T: Copy>(table: &[T], index: i32, default: i32) -> T {
    let at = |i: i32| usize::try_from(i).ok().and_then(|i| table.get(i)).copied();
    at(index).or_else(|| at(default)).unwrap_or(table[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_order_match_params_md() {
        let names: Vec<&str> = DEFINITIONS.iter().map(|d| d.name()).collect();
        assert_eq!(
            names,
            [
                "hintSource",
                "inputColour",
                "quality",
                "show",
                "builtinHint",
                "hintHueMin",
                "hintHueMax",
                "hintSatMin",
                "hintValMin",
                "hintErode",
                "hintBlur",
                "refinerGroup",
                "refiner",
                "refinerStrength",
                "refinerTile",
                "refinerOverlap",
                "sparseSkip",
                "skipLow",
                "skipHigh",
                "matteGroup",
                "despill",
                "despeckle",
                "despeckleSize",
                "clipBlack",
                "clipWhite",
                "device",
                "gpuMemoryMB",
                "modelFolder",
                "info",
                "screenColour",
                "Key",
                "Device",
            ]
        );
        // Every param (pages aside) sits on exactly one page.
        for d in DEFINITIONS
            .iter()
            .filter(|d| !matches!(d, ParamDef::Page { .. }))
        {
            let on = [KEY_CHILDREN, DEVICE_CHILDREN]
                .iter()
                .filter(|p| p.contains(&d.name()))
                .count();
            assert_eq!(on, 1, "{} on {on} pages", d.name());
        }
    }

    #[test]
    fn table_facts_line_up_with_definitions_and_fields() {
        assert_eq!(SPECS.len() + PAGE_ORDER.len(), DEFINITIONS.len());
        let mut v = ParamValues::default();
        for (s, d) in SPECS.iter().zip(DEFINITIONS) {
            assert_eq!(s.name, d.name());
            let slot = v.slot_mut(s.name);
            assert_eq!(slot.is_some(), s.has_field, "{}", s.name);
            let typed = matches!(
                (d, slot),
                (ParamDef::Double { .. }, Some(Slot::Double(_)))
                    | (ParamDef::Int { .. }, Some(Slot::Int(_)))
                    | (ParamDef::Choice { .. }, Some(Slot::Int(_)))
                    | (ParamDef::Bool { .. }, Some(Slot::Bool(_)))
                    | (ParamDef::String { .. }, Some(Slot::Str(_)))
                    | (_, None)
            );
            assert!(typed, "{}: its field's type is not its def's", s.name);
            if matches!(d, ParamDef::Group { .. }) {
                assert!(!s.has_field && s.cache == CacheKey::None, "{}", s.name);
            }
        }
        // The pages as the host shows them (screenColour appended last, shown after inputColour).
        assert_eq!(
            KEY_CHILDREN,
            [
                HINT_SOURCE,
                INPUT_COLOUR,
                SCREEN_COLOUR,
                QUALITY,
                SHOW,
                GROUP_BUILTIN_HINT,
                HINT_HUE_MIN,
                HINT_HUE_MAX,
                HINT_SAT_MIN,
                HINT_VAL_MIN,
                HINT_ERODE,
                HINT_BLUR,
                GROUP_REFINER,
                REFINER,
                REFINER_STRENGTH,
                REFINER_TILE,
                REFINER_OVERLAP,
                SPARSE_SKIP,
                SKIP_LOW,
                SKIP_HIGH,
                GROUP_MATTE,
                DESPILL,
                DESPECKLE,
                DESPECKLE_SIZE,
                CLIP_BLACK,
                CLIP_WHITE,
                GROUP_TEMPORAL,
                STEADY_MATTES,
                STEADY_STRENGTH,
                STEADY_TOLERANCE,
            ]
        );
        assert_eq!(DEVICE_CHILDREN, [DEVICE, GPU_MEMORY_MB, MODEL_FOLDER, INFO]);
    }

    /// Each param's cache-key membership holds: changing its value changes `KeyParams` (Params),
    /// the `RuntimeConfig` (Runtime) or neither (None).
    #[test]
    fn cache_key_membership_matches_what_a_value_changes() {
        // Despeckle and steady mattes on, so their sizes and settings count.
        let base = ParamValues {
            despeckle: true,
            steady_mattes: true,
            ..Default::default()
        };
        let runtime = |v: &ParamValues| {
            crate::ofx::paths::runtime_config(
                &v.model_folder,
                v.device_choice(),
                v.gpu_memory_mb,
                &Default::default(),
                None,
            )
        };
        for (s, d) in SPECS.iter().zip(DEFINITIONS).filter(|(s, _)| s.has_field) {
            let mut v = base.clone();
            match (v.slot_mut(s.name).unwrap(), *d) {
                (Slot::Double(x), ParamDef::Double { min, max, .. }) => {
                    *x = if *x == min { max } else { min }
                }
                (Slot::Int(x), ParamDef::Int { min, max, .. }) => {
                    *x = if *x == min { max } else { min }
                }
                (Slot::Int(x), ParamDef::Choice { options, .. }) => {
                    *x = (*x + 1) % options.len() as i32
                }
                (Slot::Bool(x), _) => *x = !*x,
                (Slot::Str(x), _) => x.push_str("/elsewhere"),
                _ => unreachable!("checked by table_facts_line_up_with_definitions_and_fields"),
            }
            let params = v.key_params(1.0) != base.key_params(1.0);
            let rt = runtime(&v) != runtime(&base);
            let steady = v.steady_params() != base.steady_params();
            assert_eq!(
                (params, rt, steady),
                (
                    s.cache == CacheKey::Params,
                    s.cache == CacheKey::Runtime,
                    s.cache == CacheKey::Steady
                ),
                "{}",
                s.name
            );
        }
    }

    /// The display range lies inside the range, and the default inside the range.
    fn assert_range<T: PartialOrd>(
        name: &str,
        default: T,
        min: T,
        max: T,
        display_min: T,
        display_max: T,
    ) {
        assert!(
            min <= display_min && display_min < display_max && display_max <= max,
            "{name}"
        );
        assert!(min <= default && default <= max, "{name}");
    }

    #[test]
    fn numeric_params_have_ranges_containing_defaults() {
        for d in DEFINITIONS {
            match *d {
                ParamDef::Double {
                    common,
                    default,
                    min,
                    max,
                    display_min,
                    display_max,
                    ..
                } => assert_range(common.name, default, min, max, display_min, display_max),
                ParamDef::Int {
                    common,
                    default,
                    min,
                    max,
                    display_min,
                    display_max,
                } => assert_range(common.name, default, min, max, display_min, display_max),
                ParamDef::Choice {
                    common,
                    options,
                    default,
                } => {
                    assert!((default as usize) < options.len(), "{}", common.name);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn spot_check_ranges_from_params_md() {
        let find = |n: &str| DEFINITIONS.iter().find(|d| d.name() == n).copied().unwrap();
        match find(GPU_MEMORY_MB) {
            ParamDef::Int {
                default,
                min,
                max,
                display_min,
                display_max,
                ..
            } => {
                assert_eq!(
                    (default, min, max, display_min, display_max),
                    (6144, 256, 262144, 1024, 24576)
                )
            }
            _ => panic!("gpuMemoryMB is an int"),
        }
        match find(SKIP_HIGH) {
            ParamDef::Double {
                default,
                min,
                max,
                display_min,
                display_max,
                ..
            } => {
                assert_eq!(
                    (default, min, max, display_min, display_max),
                    (0.95, 0.0, 1.0, 0.5, 1.0)
                )
            }
            _ => panic!("skipHigh is a double"),
        }
        match find(HINT_BLUR) {
            ParamDef::Int {
                default,
                max,
                display_max,
                ..
            } => assert_eq!((default, max, display_max), (21, 201, 63)),
            _ => panic!("hintBlur is an int"),
        }
    }

    #[test]
    fn defaults_map_to_engine_defaults() {
        let k = ParamValues::default().key_params(1.0);
        // The node's default hint source is the AlphaHint clip (which falls back to the built-in key).
        let expected = KeyParams {
            hint_source: HintSource::Clip,
            ..Default::default()
        };
        assert_eq!(k, expected);
        assert_eq!(k.refiner, RefinerParams::default());
        assert_eq!(k.chroma, ChromaKeyParams::default());
    }

    #[test]
    fn choices_follow_engine_order() {
        let mut v = ParamValues::default();
        for (i, s) in [1024, 1536, 2048].into_iter().enumerate() {
            v.quality = i as i32;
            assert_eq!(v.key_params(1.0).inference_size, s);
        }
        v.hint_source = 1;
        assert_eq!(v.key_params(1.0).hint_source, HintSource::SourceAlpha);
        v.hint_source = 2;
        assert_eq!(v.key_params(1.0).hint_source, HintSource::ChromaKey);
        v.show = 5;
        assert_eq!(v.key_params(1.0).output, OutputMode::Status);
        v.show = 6;
        assert_eq!(v.key_params(1.0).output, OutputMode::Hint);
        v.refiner_tile = 2;
        assert_eq!(v.key_params(1.0).refiner.tile, TileSize::FullFrame);
        v.device = 3;
        assert_eq!(v.device_choice(), Device::Cpu);
        v.device = 2;
        assert_eq!(v.device_choice(), Device::TensorRt);
        v.input_colour = 1;
        assert_eq!(v.key_params(1.0).input_colour, InputColour::Srgb);
        // Out of range (a newer project): the default, never a panic.
        v.quality = 7;
        v.show = -1;
        assert_eq!(v.key_params(1.0).inference_size, 2048);
        assert_eq!(v.key_params(1.0).output, OutputMode::Premultiplied);
        assert_eq!(SHOW_OPTIONS.len(), OUTPUT_MODES.len());
        assert_eq!(HINT_SOURCE_OPTIONS.len(), HINT_SOURCES.len());
        assert_eq!(REFINER_TILE_OPTIONS.len(), TILES.len());
        assert_eq!(DEVICE_OPTIONS.len(), DEVICES.len());
    }

    #[test]
    fn every_numeric_param_is_clamped_to_its_declared_range_with_a_note() {
        let mut v = ParamValues::default();
        for d in DEFINITIONS {
            match d {
                ParamDef::Double { common, .. } => {
                    assert!(v.double_mut(common.name).is_some(), "{}", common.name)
                }
                ParamDef::Int { common, .. } | ParamDef::Choice { common, .. } => {
                    assert!(v.int_mut(common.name).is_some(), "{}", common.name)
                }
                _ => {}
            }
        }
        assert!(v.clamp_to_ranges().is_empty(), "defaults are in range");
        v.erode = 2_000_000_000;
        v.blur = 100_000;
        v.refiner_overlap = -5;
        v.despill = f64::NAN;
        v.skip_high = 7.0;
        v.quality = 9;
        let notes = v.clamp_to_ranges();
        assert_eq!(notes.len(), 6, "{notes:?}");
        assert!(
            notes.iter().any(|n| n.contains("hintErode = 2000000000")),
            "{notes:?}"
        );
        assert_eq!((v.erode, v.blur, v.refiner_overlap), (101, 201, 0));
        assert_eq!((v.despill, v.skip_high, v.quality), (1.0, 1.0, 2));
    }

    #[test]
    fn despeckle_and_scale() {
        let mut v = ParamValues {
            despeckle_size: 900,
            ..Default::default()
        };
        assert_eq!(v.key_params(0.5).despeckle_px, 0);
        v.despeckle = true;
        let k = v.key_params(0.5);
        assert_eq!(k.despeckle_px, 900);
        assert_eq!(k.render_scale, 0.5);
        assert_eq!(k.chroma.erode_px, 7.0);
        assert_eq!(v.key_params(f64::NAN).render_scale, 1.0);
        assert_eq!(v.key_params(0.0).render_scale, 1.0);
        v.hue_min = f64::NAN;
        assert_eq!(v.key_params(1.0).chroma.hue_min, 35.0);
    }
}
