//! The node's parameters exactly as docs/PARAMS.md lists them (names and choice orders are a
//! saved-project API: append only), how to read them at a time, and how they map to the engine.

use ofx_bindings::{Common, ParamDef, ParamSet, Result, StringMode};

use crate::engine::{
    ChromaKeyParams, Device, HintSource, InputColour, KeyParams, OutputColour, OutputMode,
    RefinerParams, ScreenColour, TileSize,
};

pub const HINT_SOURCE: &str = "hintSource";
pub const INPUT_COLOUR: &str = "inputColour";
pub const QUALITY: &str = "quality";
pub const SHOW: &str = "show";
pub const GROUP_BUILTIN_HINT: &str = "builtinHint";
pub const HINT_HUE_MIN: &str = "hintHueMin";
pub const HINT_HUE_MAX: &str = "hintHueMax";
pub const HINT_SAT_MIN: &str = "hintSatMin";
pub const HINT_VAL_MIN: &str = "hintValMin";
pub const HINT_ERODE: &str = "hintErode";
pub const HINT_BLUR: &str = "hintBlur";
pub const GROUP_REFINER: &str = "refinerGroup";
pub const REFINER: &str = "refiner";
pub const REFINER_STRENGTH: &str = "refinerStrength";
pub const REFINER_TILE: &str = "refinerTile";
pub const REFINER_OVERLAP: &str = "refinerOverlap";
pub const SPARSE_SKIP: &str = "sparseSkip";
pub const SKIP_LOW: &str = "skipLow";
pub const SKIP_HIGH: &str = "skipHigh";
pub const GROUP_MATTE: &str = "matteGroup";
pub const DESPILL: &str = "despill";
pub const DESPECKLE: &str = "despeckle";
pub const DESPECKLE_SIZE: &str = "despeckleSize";
pub const CLIP_BLACK: &str = "clipBlack";
pub const CLIP_WHITE: &str = "clipWhite";
pub const DEVICE: &str = "device";
pub const GPU_MEMORY_MB: &str = "gpuMemoryMB";
pub const MODEL_FOLDER: &str = "modelFolder";
pub const INFO: &str = "info";
pub const SCREEN_COLOUR: &str = "screenColour";
pub const OUTPUT_COLOUR: &str = "outputColour";
pub const FOLLOW_HOST_ALPHA: &str = "followHostAlpha";
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
pub const OUTPUT_COLOUR_OPTIONS: &[&str] = &["Linear", "sRGB"];

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
const OUTPUT_COLOURS: [OutputColour; 2] = [OutputColour::Linear, OutputColour::Srgb];

const KEY_CHILDREN: &[&str] = &[
    HINT_SOURCE,
    INPUT_COLOUR,
    OUTPUT_COLOUR,
    SCREEN_COLOUR,
    QUALITY,
    SHOW,
    FOLLOW_HOST_ALPHA,
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
];
const DEVICE_CHILDREN: &[&str] = &[DEVICE, GPU_MEMORY_MB, MODEL_FOLDER, INFO];

/// Page order for `kOfxPluginPropParamPageOrder`.
pub const PAGE_ORDER: &[&str] = &[PAGE_KEY, PAGE_DEVICE];

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

const HINT_GROUP: Option<&str> = Some(GROUP_BUILTIN_HINT);
const REFINER_PARENT: Option<&str> = Some(GROUP_REFINER);
const MATTE_PARENT: Option<&str> = Some(GROUP_MATTE);

/// Every parameter in definition order (groups before their children, pages last).
pub const DEFINITIONS: &[ParamDef<'static>] = &[
    ParamDef::Choice {
        common: c(HINT_SOURCE, "Hint source", "Where the coarse alpha hint comes from. AlphaHint clip uses the built-in key when the clip is not connected.", None),
        options: HINT_SOURCE_OPTIONS,
        default: 0,
    },
    ParamDef::Choice {
        common: c(INPUT_COLOUR, "Input colour", "Encoding of the Source clip: scene-linear (converted to sRGB for the network) or already sRGB.", None),
        options: INPUT_COLOUR_OPTIONS,
        default: 0,
    },
    ParamDef::Choice {
        common: c(QUALITY, "Quality", "Inference size S: the plate is resized to S x S for the network. 2048 is the model's native size.", None),
        options: QUALITY_OPTIONS,
        default: 2,
    },
    ParamDef::Choice {
        common: c(SHOW, "Show", "What the node outputs: the keyed foreground (premultiplied or not), the matte, the foreground colour, a composite, a diagnostic status view or the hint.", None),
        options: SHOW_OPTIONS,
        default: 0,
    },
    ParamDef::Group { common: c(GROUP_BUILTIN_HINT, "Built-in hint", "The HSV key of the screen colour, used when no hint clip is available.", None), open: false },
    dbl(c(HINT_HUE_MIN, "Hue min", "Lowest screen hue (OpenCV 8-bit HSV scale, 0..180).", HINT_GROUP), 35.0, 0.0, 180.0, 0.0, 180.0, 1, 1.0),
    dbl(c(HINT_HUE_MAX, "Hue max", "Highest screen hue (OpenCV 8-bit HSV scale, 0..180).", HINT_GROUP), 85.0, 0.0, 180.0, 0.0, 180.0, 1, 1.0),
    dbl(c(HINT_SAT_MIN, "Saturation min", "Lowest screen saturation (0..255).", HINT_GROUP), 40.0, 0.0, 255.0, 0.0, 255.0, 1, 1.0),
    dbl(c(HINT_VAL_MIN, "Value min", "Lowest screen value (0..255).", HINT_GROUP), 30.0, 0.0, 255.0, 0.0, 255.0, 1, 1.0),
    int(c(HINT_ERODE, "Erode", "Elliptical erode of the key, in pixels at full resolution.", HINT_GROUP), 7, 0, 101, 0, 31),
    int(c(HINT_BLUR, "Blur", "Gaussian blur of the eroded key, kernel size in pixels at full resolution.", HINT_GROUP), 21, 0, 201, 0, 63),
    ParamDef::Group { common: c(GROUP_REFINER, "Refiner", "The full-resolution edge refiner.", None), open: false },
    ParamDef::Bool { common: c(REFINER, "Refiner", "Run the refiner on the coarse prediction (hair, motion blur).", REFINER_PARENT), default: true },
    dbl(c(REFINER_STRENGTH, "Strength", "Multiplies the refiner's delta logits.", REFINER_PARENT), 1.0, 0.0, 10.0, 0.0, 2.0, 2, 0.05),
    ParamDef::Choice {
        common: c(REFINER_TILE, "Tile size", "Refiner tile size. Full frame reproduces the reference model exactly; tiles use less memory.", REFINER_PARENT),
        options: REFINER_TILE_OPTIONS,
        default: 0,
    },
    int(c(REFINER_OVERLAP, "Tile overlap", "Overlap between refiner tiles, in pixels at the inference size.", REFINER_PARENT), 128, 0, 512, 0, 256),
    ParamDef::Bool { common: c(SPARSE_SKIP, "Sparse skip", "Skip refiner tiles whose coarse alpha is uniform.", REFINER_PARENT), default: true },
    dbl(c(SKIP_LOW, "Skip below", "A tile whose coarse alpha never exceeds this is skipped as background.", REFINER_PARENT), 0.05, 0.0, 1.0, 0.0, 0.5, 3, 0.01),
    dbl(c(SKIP_HIGH, "Skip above", "A tile whose coarse alpha never falls below this is skipped as foreground.", REFINER_PARENT), 0.95, 0.0, 1.0, 0.5, 1.0, 3, 0.01),
    ParamDef::Group { common: c(GROUP_MATTE, "Matte", "Matte and colour clean-up after the network.", None), open: true },
    dbl(c(DESPILL, "Despill", "Strength of the 'average' green despill on the foreground colour.", MATTE_PARENT), 1.0, 0.0, 1.0, 0.0, 1.0, 2, 0.05),
    ParamDef::Bool { common: c(DESPECKLE, "Despeckle", "Remove small islands from the matte.", MATTE_PARENT), default: false },
    int(c(DESPECKLE_SIZE, "Despeckle size", "Islands smaller than this many pixels (at full resolution) are removed.", MATTE_PARENT), 400, 1, 100000, 1, 5000),
    dbl(c(CLIP_BLACK, "Clip black", "Matte values at or below this become 0.", MATTE_PARENT), 0.0, 0.0, 1.0, 0.0, 1.0, 3, 0.01),
    dbl(c(CLIP_WHITE, "Clip white", "Matte values at or above this become 1.", MATTE_PARENT), 1.0, 0.0, 1.0, 0.0, 1.0, 3, 0.01),
    ParamDef::Choice {
        common: c(DEVICE, "Device", "Where the network runs. Auto tries TensorRT, then CUDA, then the CPU.", None),
        options: DEVICE_OPTIONS,
        default: 0,
    },
    int(c(GPU_MEMORY_MB, "GPU memory (MB)", "CUDA memory limit for the network (gpu_mem_limit).", None), 6144, 256, 262144, 1024, 24576),
    ParamDef::String {
        common: c(MODEL_FOLDER, "Model folder", "Folder with manifest.json and the ONNX graphs. Empty: $CORRIDORKEY_MODEL_DIR, else the bundle's Contents/Resources/models.", None),
        default: "",
        mode: StringMode::DirectoryPath,
        enabled: true,
        animates: false,
    },
    ParamDef::String {
        common: c(INFO, "Info", "Model, inference size, precision and device in use, the last frame time and the refiner tiles run / skipped.", None),
        default: "",
        mode: StringMode::SingleLine,
        enabled: false,
        animates: false,
    },
    // Appended after every earlier param (defined last, shown beside Input colour on the Key page).
    ParamDef::Choice {
        common: c(SCREEN_COLOUR, "Screen colour", "The screen the plate was shot on: the built-in key removes it (the hue params are set for green; blue keys hue min + 55 to hue max + 45), and the model trained for it keys the plate when the model folder has one.", None),
        options: SCREEN_COLOUR_OPTIONS,
        default: 0,
    },
    // Appended (shown beside Input colour and Show on the Key page); defaults keep projects as they were.
    ParamDef::Choice {
        common: c(OUTPUT_COLOUR, "Output colour", "Encoding of the output's RGB: scene-linear, or sRGB for hosts whose images are display-encoded (Kdenlive, Shotcut). Alpha, Matte, Status and Hint are never encoded.", None),
        options: OUTPUT_COLOUR_OPTIONS,
        default: 0,
    },
    ParamDef::Bool {
        common: c(FOLLOW_HOST_ALPHA, "Follow host alpha", "When the host says its output takes straight alpha (Kdenlive, Shotcut), the Premultiplied view is delivered straight. Off: always premultiplied.", None),
        default: true,
    },
    ParamDef::Page { name: PAGE_KEY, label: "Key", children: KEY_CHILDREN },
    ParamDef::Page { name: PAGE_DEVICE, label: "Device", children: DEVICE_CHILDREN },
];

/// The raw values of every keying parameter at one time.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamValues {
    pub hint_source: i32,
    pub input_colour: i32,
    pub quality: i32,
    pub show: i32,
    pub hue_min: f64,
    pub hue_max: f64,
    pub sat_min: f64,
    pub val_min: f64,
    pub erode: i32,
    pub blur: i32,
    pub refiner: bool,
    pub refiner_strength: f64,
    pub refiner_tile: i32,
    pub refiner_overlap: i32,
    pub sparse_skip: bool,
    pub skip_low: f64,
    pub skip_high: f64,
    pub despill: f64,
    pub despeckle: bool,
    pub despeckle_size: i32,
    pub clip_black: f64,
    pub clip_white: f64,
    pub device: i32,
    pub gpu_memory_mb: i32,
    pub model_folder: String,
    pub screen_colour: i32,
    pub output_colour: i32,
    pub follow_host_alpha: bool,
}

impl Default for ParamValues {
    /// The defaults of PARAMS.md.
    fn default() -> Self {
        Self {
            hint_source: 0,
            input_colour: 0,
            quality: 2,
            show: 0,
            hue_min: 35.0,
            hue_max: 85.0,
            sat_min: 40.0,
            val_min: 30.0,
            erode: 7,
            blur: 21,
            refiner: true,
            refiner_strength: 1.0,
            refiner_tile: 0,
            refiner_overlap: 128,
            sparse_skip: true,
            skip_low: 0.05,
            skip_high: 0.95,
            despill: 1.0,
            despeckle: false,
            despeckle_size: 400,
            clip_black: 0.0,
            clip_white: 1.0,
            device: 0,
            gpu_memory_mb: 6144,
            model_folder: String::new(),
            screen_colour: 0,
            output_colour: 0,
            follow_host_alpha: true,
        }
    }
}

impl ParamValues {
    /// Reads every value at `time` (render, instanceChanged).
    pub fn read(ps: &ParamSet, time: f64) -> Result<Self> {
        let d = |n: &str| ps.param(n)?.double_at(time);
        let i = |n: &str| ps.param(n)?.int_at(time);
        let b = |n: &str| ps.param(n)?.bool_at(time);
        Ok(Self {
            hint_source: i(HINT_SOURCE)?,
            input_colour: i(INPUT_COLOUR)?,
            quality: i(QUALITY)?,
            show: i(SHOW)?,
            hue_min: d(HINT_HUE_MIN)?,
            hue_max: d(HINT_HUE_MAX)?,
            sat_min: d(HINT_SAT_MIN)?,
            val_min: d(HINT_VAL_MIN)?,
            erode: i(HINT_ERODE)?,
            blur: i(HINT_BLUR)?,
            refiner: b(REFINER)?,
            refiner_strength: d(REFINER_STRENGTH)?,
            refiner_tile: i(REFINER_TILE)?,
            refiner_overlap: i(REFINER_OVERLAP)?,
            sparse_skip: b(SPARSE_SKIP)?,
            skip_low: d(SKIP_LOW)?,
            skip_high: d(SKIP_HIGH)?,
            despill: d(DESPILL)?,
            despeckle: b(DESPECKLE)?,
            despeckle_size: i(DESPECKLE_SIZE)?,
            clip_black: d(CLIP_BLACK)?,
            clip_white: d(CLIP_WHITE)?,
            device: i(DEVICE)?,
            gpu_memory_mb: i(GPU_MEMORY_MB)?,
            model_folder: ps.param(MODEL_FOLDER)?.string_at(time)?,
            screen_colour: i(SCREEN_COLOUR)?,
            output_colour: i(OUTPUT_COLOUR)?,
            follow_host_alpha: b(FOLLOW_HOST_ALPHA)?,
        })
    }

    /// The screen colour (an out-of-range index falls back to green).
    pub fn screen(&self) -> ScreenColour {
        pick(&SCREENS, self.screen_colour, 0)
    }

    /// Brings every numeric and choice value into its declared range (DEFINITIONS): hosts and
    /// scripts can still send values outside it (`hintErode=2000000000`), and the engine must never
    /// size a buffer or a loop from one. Returns a note per value changed.
    pub fn clamp_to_ranges(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        for d in DEFINITIONS {
            match *d {
                ParamDef::Double {
                    common,
                    default,
                    min,
                    max,
                    ..
                } => {
                    if let Some(v) = self.double_mut(common.name) {
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
                }
                ParamDef::Int {
                    common, min, max, ..
                } => {
                    if let Some(v) = self.int_mut(common.name) {
                        let c = (*v).clamp(min, max);
                        if c != *v {
                            notes.push(format!(
                                "{} = {} is outside {min}..{max}; using {c}",
                                common.name, *v
                            ));
                            *v = c;
                        }
                    }
                }
                ParamDef::Choice {
                    common,
                    options,
                    default,
                } => {
                    if let Some(v) = self.int_mut(common.name) {
                        if usize::try_from(*v).map_or(true, |i| i >= options.len()) {
                            notes.push(format!(
                                "{} = {} is not one of its {} options; using {default}",
                                common.name,
                                *v,
                                options.len()
                            ));
                            *v = default;
                        }
                    }
                }
                _ => {}
            }
        }
        notes
    }

    fn double_mut(&mut self, name: &str) -> Option<&mut f64> {
        Some(match name {
            HINT_HUE_MIN => &mut self.hue_min,
            HINT_HUE_MAX => &mut self.hue_max,
            HINT_SAT_MIN => &mut self.sat_min,
            HINT_VAL_MIN => &mut self.val_min,
            REFINER_STRENGTH => &mut self.refiner_strength,
            SKIP_LOW => &mut self.skip_low,
            SKIP_HIGH => &mut self.skip_high,
            DESPILL => &mut self.despill,
            CLIP_BLACK => &mut self.clip_black,
            CLIP_WHITE => &mut self.clip_white,
            _ => return None,
        })
    }

    /// Int and choice values by param name.
    fn int_mut(&mut self, name: &str) -> Option<&mut i32> {
        Some(match name {
            HINT_SOURCE => &mut self.hint_source,
            INPUT_COLOUR => &mut self.input_colour,
            QUALITY => &mut self.quality,
            SHOW => &mut self.show,
            HINT_ERODE => &mut self.erode,
            HINT_BLUR => &mut self.blur,
            REFINER_TILE => &mut self.refiner_tile,
            REFINER_OVERLAP => &mut self.refiner_overlap,
            DESPECKLE_SIZE => &mut self.despeckle_size,
            DEVICE => &mut self.device,
            GPU_MEMORY_MB => &mut self.gpu_memory_mb,
            SCREEN_COLOUR => &mut self.screen_colour,
            OUTPUT_COLOUR => &mut self.output_colour,
            _ => return None,
        })
    }

    /// Inference size S for the quality choice (out-of-range indices fall back to the default).
    pub fn inference_size(&self) -> usize {
        pick(&QUALITY_SIZES, self.quality, 2)
    }

    pub fn output_mode(&self) -> OutputMode {
        pick(&OUTPUT_MODES, self.show, 0)
    }

    pub fn device_choice(&self) -> Device {
        pick(&DEVICES, self.device, 0)
    }

    /// The engine's per-frame settings. Pixel-sized settings stay at full resolution and
    /// `render_scale` goes along: the engine contract (engine/types.rs) scales them.
    pub fn key_params(&self, render_scale: f64) -> KeyParams {
        let finite = |v: f64, dflt: f64| if v.is_finite() { v as f32 } else { dflt as f32 };
        KeyParams {
            hint_source: pick(&HINT_SOURCES, self.hint_source, 0),
            chroma: ChromaKeyParams {
                hue_min: finite(self.hue_min, 35.0),
                hue_max: finite(self.hue_max, 85.0),
                sat_min: finite(self.sat_min, 40.0),
                val_min: finite(self.val_min, 30.0),
                erode_px: self.erode.max(0) as f32,
                blur_px: self.blur.max(0) as f32,
            },
            input_colour: pick(&INPUT_COLOURS, self.input_colour, 0),
            inference_size: self.inference_size(),
            refiner: RefinerParams {
                enabled: self.refiner,
                strength: finite(self.refiner_strength, 1.0),
                tile: pick(&TILES, self.refiner_tile, 0),
                overlap: self.refiner_overlap.max(0) as usize,
                sparse_skip: self.sparse_skip,
                skip_low: finite(self.skip_low, 0.05),
                skip_high: finite(self.skip_high, 0.95),
            },
            despill: finite(self.despill, 1.0).clamp(0.0, 1.0),
            despeckle_px: if self.despeckle {
                self.despeckle_size.max(1) as usize
            } else {
                0
            },
            clip_black: finite(self.clip_black, 0.0),
            clip_white: finite(self.clip_white, 1.0),
            output: self.output_mode(),
            output_colour: pick(&OUTPUT_COLOURS, self.output_colour, 0),
            render_scale: if render_scale.is_finite() && render_scale > 0.0 {
                render_scale
            } else {
                1.0
            },
            screen: self.screen(),
        }
    }
}

/// `table[index]`, or `table[default]` for an index a newer project (or a broken host) sent.
fn pick<T: Copy>(table: &[T], index: i32, default: usize) -> T {
    usize::try_from(index)
        .ok()
        .and_then(|i| table.get(i))
        .copied()
        .unwrap_or(table[default])
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
                "outputColour",
                "followHostAlpha",
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
        assert_eq!(v.key_params(1.0).output_colour, OutputColour::Linear);
        v.output_colour = 1;
        assert_eq!(v.key_params(1.0).output_colour, OutputColour::Srgb);
        v.output_colour = 9;
        assert_eq!(v.key_params(1.0).output_colour, OutputColour::Linear);
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
