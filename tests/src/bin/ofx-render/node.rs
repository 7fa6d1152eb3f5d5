//! The CorridorKey node as `ofx-render` drives it: one instance, the user's params, and a frame's
//! renders with what the node told the host about them (messages, the info line).

use crate::views::Key;
use ofx_test_host::frame_source::sequence_loader;
use ofx_test_host::imageio::{read_image, Rgba};
use ofx_test_host::synthetic::downscale_rgba;
use ofx_test_host::{
    image_from_rgba, BitDepth, Components, Input, Instance, Message, ParamValue, Plugin,
    RenderRequest,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

const SHOW: &str = "show";
const INFO: &str = "info";
/// Show choices (docs/PARAMS.md; the order is a saved-project API).
const SHOW_PREMULTIPLIED: i32 = 0;
const SHOW_UNPREMULTIPLIED: i32 = 1;
const SHOW_HINT: i32 = 6;

pub struct Node<'p> {
    inst: Instance<'p>,
    /// The Show choice the user asked for.
    show: i32,
    keep_srgb: bool,
    /// Render scale 1/k.
    k: usize,
}

/// A frame the node rendered.
pub struct Rendered {
    pub key: Key,
    /// The Show = Hint render, when asked for.
    pub hint: Option<Rgba>,
    pub ms: f64,
    pub tiles: Option<(u64, u64)>,
    pub warnings: Vec<String>,
}

/// A frame the node did not key.
pub enum NodeError {
    /// The node reported an error and handed back the source (its message, the image).
    PassedThrough(String, Rgba, f64),
    Failed(String, f64),
}

impl<'p> Node<'p> {
    pub fn new(
        plugin: &'p Plugin,
        context: &str,
        params: &[(String, String)],
        k: usize,
    ) -> Result<Node<'p>, String> {
        let inst = plugin.create_instance(context).map_err(|e| e.to_string())?;
        for (name, value) in params {
            inst.set_param_text(name, value)
                .map_err(|e| format!("--param {name}={value}: {e}"))?;
        }
        let show = match inst.effect().params().get(SHOW).map(|p| p.value()) {
            Some(ParamValue::Int(v)) if !v.is_empty() => v[0],
            _ => return Err("the node has no Show parameter".into()),
        };
        let keep_srgb = params
            .iter()
            .any(|(k, v)| k == "inputColour" && (v == "1" || v == "sRGB"));
        Ok(Node {
            inst,
            show,
            keep_srgb,
            k,
        })
    }

    /// Whether the output is the key itself (what layers and views are computed from).
    pub fn keeps_srgb(&self) -> bool {
        self.keep_srgb
    }

    pub fn shows_key(&self) -> bool {
        matches!(self.show, SHOW_PREMULTIPLIED | SHOW_UNPREMULTIPLIED)
    }

    fn load(&self, path: &Path, keep_srgb: bool) -> Result<Rgba, String> {
        let img = read_image(path, keep_srgb)?;
        if self.k == 1 {
            return Ok(img);
        }
        let (data, width, height) = downscale_rgba(&img.data, img.width, img.height, self.k);
        if width == 0 || height == 0 {
            return Err(format!(
                "{}: render scale 1/{} gives an empty image",
                path.display(),
                self.k
            ));
        }
        Ok(Rgba {
            width,
            height,
            data,
        })
    }

    fn connect(&self, clip: &str, img: &Rgba) -> Result<(), String> {
        let mut host = image_from_rgba(
            img.width,
            img.height,
            &img.data,
            BitDepth::Float,
            Components::Rgba,
            false,
        )?;
        let s = 1.0 / self.k as f64;
        host.render_scale = [s, s];
        self.inst.set_input(clip, Input::Image(host))
    }

    /// Lets the node read `clip` at other frames than the one it renders (steady mattes read
    /// frames t-1 and t+1): the file `path_of` names for a frame, at the render scale.
    pub fn follow(
        &self,
        clip: &str,
        path_of: impl Fn(i64) -> Option<PathBuf> + Send + Sync + 'static,
        keep_srgb: bool,
    ) -> Result<(), String> {
        let loader = sequence_loader(path_of, keep_srgb, self.k);
        self.inst.set_frame_loader(clip, Some(loader))
    }

    /// Keys `frame` (and renders its Hint view when `with_hint`).
    pub fn render(
        &self,
        frame: i64,
        input: &Path,
        hint: Option<&Path>,
        with_hint: bool,
    ) -> Result<Rendered, NodeError> {
        let fail = |e: String| NodeError::Failed(e, 0.0);
        let source = self.load(input, self.keep_srgb).map_err(fail)?;
        self.connect("Source", &source).map_err(fail)?;
        if let Some(h) = hint {
            let h = self.load(h, false).map_err(fail)?;
            self.connect("AlphaHint", &h).map_err(fail)?;
        }
        let key = self.render_once(frame, self.show)?;
        let mut ms = key.ms;
        let hint = if with_hint {
            let h = self.render_once(frame, SHOW_HINT);
            // The next frame's key render must see the user's Show again.
            let _ = self.inst.set_int(SHOW, self.show);
            let h = h.map_err(|e| match e {
                NodeError::PassedThrough(m, _, t) | NodeError::Failed(m, t) => {
                    NodeError::Failed(format!("hint view: {m}"), ms + t)
                }
            })?;
            ms += h.ms;
            Some(h.image)
        } else {
            None
        };
        Ok(Rendered {
            key: Key {
                rgba: key.image,
                premultiplied: self.show == SHOW_PREMULTIPLIED,
            },
            hint,
            ms,
            tiles: key.tiles,
            warnings: key.warnings,
        })
    }

    fn render_once(&self, frame: i64, show: i32) -> Result<Once, NodeError> {
        self.inst
            .set_int(SHOW, show)
            .map_err(|e| NodeError::Failed(e, 0.0))?;
        let effect = self.inst.effect();
        effect.clear_messages();
        let info_sets = self.info_sets();
        let t = Instant::now();
        let r = self.inst.render(&RenderRequest {
            time: frame as f64,
            render_scale: 1.0 / self.k as f64,
            depth: Some(BitDepth::Float),
            ..Default::default()
        });
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let out = r.map_err(|e| NodeError::Failed(e.to_string(), ms))?;
        let image = Rgba {
            width: out.width(),
            height: out.height(),
            data: out.to_rgba().map_err(|e| NodeError::Failed(e, ms))?,
        };
        // What the host was told: the persistent message (the node keeps it until a frame
        // succeeds) and anything posted during this render.
        let mut said: Vec<Message> = effect.messages();
        said.extend(effect.persistent_message());
        if let Some(err) = said.iter().find(|m| m.kind.contains("Error")) {
            return Err(NodeError::PassedThrough(err.text.clone(), image, ms));
        }
        let mut warnings: Vec<String> = said
            .iter()
            .filter(|m| m.kind.contains("Warning"))
            .map(|m| m.text.clone())
            .collect();
        warnings.dedup();
        let tiles = (self.info_sets() > info_sets)
            .then(|| self.info_tiles())
            .flatten();
        Ok(Once {
            image,
            ms,
            tiles,
            warnings,
        })
    }

    fn info_sets(&self) -> usize {
        self.inst
            .effect()
            .params()
            .get(INFO)
            .map_or(0, |p| p.plugin_sets().len())
    }

    /// "... | last frame 812 ms, refiner tiles 12 run / 30 skipped" (plugin/src/ofx/render.rs).
    fn info_tiles(&self) -> Option<(u64, u64)> {
        let ParamValue::Str(text) = self.inst.effect().params().get(INFO)?.value() else {
            return None;
        };
        parse_tiles(&text)
    }
}

struct Once {
    image: Rgba,
    ms: f64,
    tiles: Option<(u64, u64)>,
    warnings: Vec<String>,
}

fn parse_tiles(info: &str) -> Option<(u64, u64)> {
    let rest = &info[info.rfind("refiner tiles ")? + "refiner tiles ".len()..];
    let (run, rest) = rest.split_once(" run / ")?;
    let skipped = rest.split_whitespace().next()?;
    Some((run.trim().parse().ok()?, skipped.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tiles_from_the_info_line() {
        assert_eq!(
            super::parse_tiles(
                "compact S=128 fp32 CPU | last frame 81 ms, refiner tiles 3 run / 13 skipped"
            ),
            Some((3, 13))
        );
        assert_eq!(super::parse_tiles("compact | last frame 81 ms"), None);
    }
}
