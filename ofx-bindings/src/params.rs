//! Parameter definition (describe) and value access (instances).

use std::ffi::{c_char, c_int, CStr};
use std::ptr;

use openfx_sys::{OfxParamHandle, OfxParamSetHandle, OfxPropertySetHandle};

use crate::props::{to_cstring, PropertySet};
use crate::status::{Error, Result, Status};
use crate::suites::Suites;

/// What every parameter has. `parent` names a group.
#[derive(Clone, Copy, Debug)]
pub struct Common<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub hint: &'a str,
    pub parent: Option<&'a str>,
}

/// `kOfxParamPropStringMode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringMode {
    SingleLine,
    MultiLine,
    FilePath,
    DirectoryPath,
    Label,
}

impl StringMode {
    fn name(self) -> &'static CStr {
        match self {
            StringMode::SingleLine => crate::k!(kOfxParamStringIsSingleLine),
            StringMode::MultiLine => crate::k!(kOfxParamStringIsMultiLine),
            StringMode::FilePath => crate::k!(kOfxParamStringIsFilePath),
            StringMode::DirectoryPath => crate::k!(kOfxParamStringIsDirectoryPath),
            StringMode::Label => crate::k!(kOfxParamStringIsLabel),
        }
    }
}

/// A parameter to define. Every numeric kind carries a range and a display range (Resolve clamps
/// doubles to (-1, 1) and ints to (0, 0) without both).
#[derive(Clone, Copy, Debug)]
pub enum ParamDef<'a> {
    Double {
        common: Common<'a>,
        default: f64,
        min: f64,
        max: f64,
        display_min: f64,
        display_max: f64,
        digits: i32,
        increment: f64,
    },
    Int {
        common: Common<'a>,
        default: i32,
        min: i32,
        max: i32,
        display_min: i32,
        display_max: i32,
    },
    Bool {
        common: Common<'a>,
        default: bool,
    },
    Choice {
        common: Common<'a>,
        options: &'a [&'a str],
        default: i32,
    },
    Rgb {
        common: Common<'a>,
        default: [f64; 3],
    },
    String {
        common: Common<'a>,
        default: &'a str,
        mode: StringMode,
        enabled: bool,
        animates: bool,
    },
    PushButton {
        common: Common<'a>,
    },
    Group {
        common: Common<'a>,
        open: bool,
    },
    Page {
        name: &'a str,
        label: &'a str,
        children: &'a [&'a str],
    },
}

impl ParamDef<'_> {
    pub fn name(&self) -> &str {
        match self {
            ParamDef::Double { common, .. }
            | ParamDef::Int { common, .. }
            | ParamDef::Bool { common, .. }
            | ParamDef::Choice { common, .. }
            | ParamDef::Rgb { common, .. }
            | ParamDef::String { common, .. }
            | ParamDef::PushButton { common }
            | ParamDef::Group { common, .. } => common.name,
            ParamDef::Page { name, .. } => name,
        }
    }

    fn kind(&self) -> &'static CStr {
        match self {
            ParamDef::Double { .. } => crate::k!(kOfxParamTypeDouble),
            ParamDef::Int { .. } => crate::k!(kOfxParamTypeInteger),
            ParamDef::Bool { .. } => crate::k!(kOfxParamTypeBoolean),
            ParamDef::Choice { .. } => crate::k!(kOfxParamTypeChoice),
            ParamDef::Rgb { .. } => crate::k!(kOfxParamTypeRGB),
            ParamDef::String { .. } => crate::k!(kOfxParamTypeString),
            ParamDef::PushButton { .. } => crate::k!(kOfxParamTypePushButton),
            ParamDef::Group { .. } => crate::k!(kOfxParamTypeGroup),
            ParamDef::Page { .. } => crate::k!(kOfxParamTypePage),
        }
    }
}

/// Where a numeric param's default, range and display range go, in that order (Double and Int alike).
const RANGE_KEYS: [&CStr; 5] = [
    crate::k!(kOfxParamPropDefault),
    crate::k!(kOfxParamPropMin),
    crate::k!(kOfxParamPropMax),
    crate::k!(kOfxParamPropDisplayMin),
    crate::k!(kOfxParamPropDisplayMax),
];

/// A string param's value as the host returned it (NULL reads as empty).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that stays valid for the call.
unsafe fn host_string(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-NULL, so NUL-terminated and valid (the caller's contract).
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn missing(what: &str) -> Error {
    Error::new(
        Status::ErrMissingHostFeature,
        format!("host parameter suite lacks {what}"),
    )
}

/// An effect's parameter set (descriptor in describe, instance afterwards).
#[derive(Clone, Copy, Debug)]
pub struct ParamSet {
    handle: OfxParamSetHandle,
    suites: Suites,
}

// SAFETY: an opaque host token used from the threads running the effect's actions.
unsafe impl Send for ParamSet {}
// SAFETY: as above; no Rust-side mutable state.
unsafe impl Sync for ParamSet {}

impl ParamSet {
    pub(crate) fn new(handle: OfxParamSetHandle, suites: Suites) -> Result<Self> {
        if handle.is_null() {
            return Err(Error::new(Status::ErrBadHandle, "NULL param set"));
        }
        Ok(Self { handle, suites })
    }

    /// The param set's own properties (`kOfxPluginPropParamPageOrder` lives here).
    pub fn properties(&self) -> Result<PropertySet> {
        let f = self
            .suites
            .param
            .paramSetGetPropertySet
            .ok_or_else(|| missing("paramSetGetPropertySet"))?;
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: live param set handle, valid out pointer.
        Error::check(unsafe { f(self.handle, &mut h) }, || {
            "param set properties".into()
        })?;
        PropertySet::with_suite(h, self.suites.property)
    }

    /// Defines a raw parameter of `kind` and returns its descriptor properties.
    pub fn define_raw(&self, kind: &CStr, name: &str) -> Result<PropertySet> {
        let f = self
            .suites
            .param
            .paramDefine
            .ok_or_else(|| missing("paramDefine"))?;
        let n = to_cstring(name)?;
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        Error::check(
            // SAFETY: live descriptor param set, NUL-terminated type and name, valid out pointer.
            unsafe { f(self.handle, kind.as_ptr(), n.as_ptr(), &mut h) },
            || format!("define param {name}"),
        )?;
        PropertySet::with_suite(h, self.suites.property)
    }

    /// Defines a parameter with all its properties.
    pub fn define(&self, def: &ParamDef<'_>) -> Result<PropertySet> {
        let p = self.define_raw(def.kind(), def.name())?;
        let common = |c: &Common<'_>| -> Result<()> {
            p.set_string(crate::k!(kOfxPropLabel), 0, c.label)?;
            p.set_string(crate::k!(kOfxParamPropScriptName), 0, c.name)?;
            if !c.hint.is_empty() {
                p.set_string(crate::k!(kOfxParamPropHint), 0, c.hint)?;
            }
            if let Some(parent) = c.parent {
                p.set_string(crate::k!(kOfxParamPropParent), 0, parent)?;
            }
            Ok(())
        };
        match *def {
            ParamDef::Double {
                common: c,
                default,
                min,
                max,
                display_min,
                display_max,
                digits,
                increment,
            } => {
                common(&c)?;
                for (key, v) in
                    RANGE_KEYS
                        .into_iter()
                        .zip([default, min, max, display_min, display_max])
                {
                    p.set_double(key, 0, v)?;
                }
                // Cosmetic: a host that lacks these still works.
                let _ = p.set_int(crate::k!(kOfxParamPropDigits), 0, digits);
                let _ = p.set_double(crate::k!(kOfxParamPropIncrement), 0, increment);
            }
            ParamDef::Int {
                common: c,
                default,
                min,
                max,
                display_min,
                display_max,
            } => {
                common(&c)?;
                for (key, v) in
                    RANGE_KEYS
                        .into_iter()
                        .zip([default, min, max, display_min, display_max])
                {
                    p.set_int(key, 0, v)?;
                }
            }
            ParamDef::Bool { common: c, default } => {
                common(&c)?;
                p.set_bool(crate::k!(kOfxParamPropDefault), 0, default)?;
            }
            ParamDef::Choice {
                common: c,
                options,
                default,
            } => {
                common(&c)?;
                p.set_strings(crate::k!(kOfxParamPropChoiceOption), options)?;
                p.set_int(crate::k!(kOfxParamPropDefault), 0, default)?;
            }
            ParamDef::Rgb { common: c, default } => {
                common(&c)?;
                p.set_double_n(crate::k!(kOfxParamPropDefault), &default)?;
                let _ = p.set_double_n(crate::k!(kOfxParamPropMin), &[0.0; 3]);
                let _ = p.set_double_n(crate::k!(kOfxParamPropMax), &[f64::MAX; 3]);
                let _ = p.set_double_n(crate::k!(kOfxParamPropDisplayMin), &[0.0; 3]);
                let _ = p.set_double_n(crate::k!(kOfxParamPropDisplayMax), &[1.0; 3]);
            }
            ParamDef::String {
                common: c,
                default,
                mode,
                enabled,
                animates,
            } => {
                common(&c)?;
                p.set_string(crate::k!(kOfxParamPropDefault), 0, default)?;
                p.set_string(
                    crate::k!(kOfxParamPropStringMode),
                    0,
                    mode.name().to_str().unwrap_or_default(),
                )?;
                p.set_bool(crate::k!(kOfxParamPropAnimates), 0, animates)?;
                if !enabled {
                    p.set_bool(crate::k!(kOfxParamPropEnabled), 0, false)?;
                    // Read-only display strings are not part of the saved state.
                    let _ = p.set_bool(crate::k!(kOfxParamPropPersistant), 0, false);
                    let _ = p.set_bool(crate::k!(kOfxParamPropEvaluateOnChange), 0, false);
                }
            }
            ParamDef::PushButton { common: c } => common(&c)?,
            ParamDef::Group { common: c, open } => {
                common(&c)?;
                let _ = p.set_bool(crate::k!(kOfxParamPropGroupOpen), 0, open);
            }
            ParamDef::Page {
                label, children, ..
            } => {
                p.set_string(crate::k!(kOfxPropLabel), 0, label)?;
                p.set_strings(crate::k!(kOfxParamPropPageChild), children)?;
            }
        }
        Ok(p)
    }

    /// An instance's parameter by name.
    pub fn param(&self, name: &str) -> Result<Param> {
        let f = self
            .suites
            .param
            .paramGetHandle
            .ok_or_else(|| missing("paramGetHandle"))?;
        let n = to_cstring(name)?;
        let mut h: OfxParamHandle = ptr::null_mut();
        let mut props: OfxPropertySetHandle = ptr::null_mut();
        Error::check(
            // SAFETY: live instance param set, NUL-terminated name, valid out pointers.
            unsafe { f(self.handle, n.as_ptr(), &mut h, &mut props) },
            || format!("param {name}"),
        )?;
        if h.is_null() {
            return Err(Error::new(
                Status::ErrBadHandle,
                format!("NULL handle for param {name}"),
            ));
        }
        Ok(Param {
            handle: h,
            props: PropertySet::with_suite(props, self.suites.property).ok(),
            suites: self.suites,
        })
    }
}

/// An instance's parameter.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    handle: OfxParamHandle,
    props: Option<PropertySet>,
    suites: Suites,
}

// SAFETY: an opaque host token used from the threads running the instance's actions.
unsafe impl Send for Param {}
// SAFETY: as above.
unsafe impl Sync for Param {}

impl Param {
    pub fn properties(&self) -> Result<PropertySet> {
        if let Some(p) = self.props {
            return Ok(p);
        }
        let f = self
            .suites
            .param
            .paramGetPropertySet
            .ok_or_else(|| missing("paramGetPropertySet"))?;
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: live param handle, valid out pointer.
        Error::check(unsafe { f(self.handle, &mut h) }, || {
            "param properties".into()
        })?;
        PropertySet::with_suite(h, self.suites.property)
    }

    fn get_at(
        &self,
    ) -> Result<unsafe extern "C" fn(OfxParamHandle, f64, ...) -> openfx_sys::OfxStatus> {
        self.suites
            .param
            .paramGetValueAtTime
            .ok_or_else(|| missing("paramGetValueAtTime"))
    }

    pub fn double_at(&self, time: f64) -> Result<f64> {
        let mut v = 0.0f64;
        Error::check(
            // SAFETY: a double param takes one `double *` vararg.
            unsafe { self.get_at()?(self.handle, time, &mut v as *mut f64) },
            || "double param".into(),
        )?;
        Ok(v)
    }

    /// Integer, boolean and choice params all read as one `int *`.
    pub fn int_at(&self, time: f64) -> Result<i32> {
        let mut v: c_int = 0;
        Error::check(
            // SAFETY: integer/boolean/choice params take one `int *` vararg.
            unsafe { self.get_at()?(self.handle, time, &mut v as *mut c_int) },
            || "int param".into(),
        )?;
        Ok(v)
    }

    pub fn bool_at(&self, time: f64) -> Result<bool> {
        self.int_at(time).map(|v| v != 0)
    }

    pub fn rgb_at(&self, time: f64) -> Result<[f64; 3]> {
        let (mut r, mut g, mut b) = (0.0f64, 0.0f64, 0.0f64);
        // SAFETY: an RGB param takes three `double *` varargs.
        let st = unsafe {
            self.get_at()?(
                self.handle,
                time,
                &mut r as *mut f64,
                &mut g as *mut f64,
                &mut b as *mut f64,
            )
        };
        Error::check(st, || "RGB param".into())?;
        Ok([r, g, b])
    }

    pub fn string_at(&self, time: f64) -> Result<String> {
        let mut p: *const c_char = ptr::null();
        Error::check(
            // SAFETY: a string param takes one `char **` vararg; the host owns the returned string.
            unsafe { self.get_at()?(self.handle, time, &mut p as *mut *const c_char) },
            || "string param".into(),
        )?;
        // SAFETY: the host owns the string (or left NULL); it stays valid for the action.
        Ok(unsafe { host_string(p) })
    }

    fn get_now(
        &self,
    ) -> Result<unsafe extern "C" fn(OfxParamHandle, ...) -> openfx_sys::OfxStatus> {
        self.suites
            .param
            .paramGetValue
            .ok_or_else(|| missing("paramGetValue"))
    }

    /// Current (untimed) value of an integer, boolean or choice param, for actions without a time
    /// (getClipPreferences).
    pub fn int_value(&self) -> Result<i32> {
        let mut v: c_int = 0;
        Error::check(
            // SAFETY: integer/boolean/choice params take one `int *` vararg.
            unsafe { self.get_now()?(self.handle, &mut v as *mut c_int) },
            || "int param".into(),
        )?;
        Ok(v)
    }

    /// Current (untimed) value of a string param.
    pub fn string_value(&self) -> Result<String> {
        let mut p: *const c_char = ptr::null();
        Error::check(
            // SAFETY: a string param takes one `char **` vararg; the host owns the returned string.
            unsafe { self.get_now()?(self.handle, &mut p as *mut *const c_char) },
            || "string param".into(),
        )?;
        // SAFETY: the host owns the string (or left NULL); it stays valid for the action.
        Ok(unsafe { host_string(p) })
    }

    /// Sets a string param's value (instanceChanged, or a read-only info line).
    pub fn set_string(&self, value: &str) -> Result<()> {
        let f = self
            .suites
            .param
            .paramSetValue
            .ok_or_else(|| missing("paramSetValue"))?;
        let v = to_cstring(value)?;
        // SAFETY: a string param takes one `const char *` vararg; the host copies it.
        Error::check(unsafe { f(self.handle, v.as_ptr()) }, || {
            "set string param".into()
        })
    }

    pub fn set_enabled(&self, enabled: bool) -> Result<()> {
        self.properties()?
            .set_bool(crate::k!(kOfxParamPropEnabled), 0, enabled)
    }
}
