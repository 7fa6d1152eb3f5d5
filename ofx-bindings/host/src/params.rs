//! Host parameters (descriptors and instances) and the OfxParameterSuiteV1. The C-variadic value
//! functions are in shim.c; they reach the values through the callbacks at the end of this file.

use super::props::{c_str, guard, PropSet, PropValue};
use super::registry::{self, Kind};
use super::status::{self as st, Status};
use openfx_sys::{
    OfxParamHandle, OfxParamSetHandle, OfxParameterSuiteV1, OfxPropertySetHandle, OfxRangeD,
    OfxTime,
};
use parking_lot::Mutex;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::Arc;

/// A parameter's current value, by the C type the variadic API passes.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    Double(Vec<f64>),
    Int(Vec<i32>),
    Str(String),
    /// Groups, pages and push buttons hold no value.
    None,
}

/// The value shape of a parameter type: (kind as in shim.c, number of values).
fn shape(param_type: &str) -> Option<(c_int, usize)> {
    Some(match param_type {
        "OfxParamTypeDouble" => (KIND_DOUBLE, 1),
        "OfxParamTypeDouble2D" => (KIND_DOUBLE, 2),
        "OfxParamTypeDouble3D" | "OfxParamTypeRGB" => (KIND_DOUBLE, 3),
        "OfxParamTypeRGBA" => (KIND_DOUBLE, 4),
        "OfxParamTypeInteger" | "OfxParamTypeBoolean" | "OfxParamTypeChoice" => (KIND_INT, 1),
        "OfxParamTypeInteger2D" => (KIND_INT, 2),
        "OfxParamTypeInteger3D" => (KIND_INT, 3),
        "OfxParamTypeString" | "OfxParamTypeCustom" | "OfxParamTypeStrChoice" => (KIND_STRING, 1),
        _ => return None,
    })
}

const KIND_DOUBLE: c_int = 0;
const KIND_INT: c_int = 1;
const KIND_STRING: c_int = 2;

const KNOWN_TYPES: &[&str] = &[
    "OfxParamTypeInteger",
    "OfxParamTypeDouble",
    "OfxParamTypeBoolean",
    "OfxParamTypeChoice",
    "OfxParamTypeStrChoice",
    "OfxParamTypeRGBA",
    "OfxParamTypeRGB",
    "OfxParamTypeDouble2D",
    "OfxParamTypeInteger2D",
    "OfxParamTypeDouble3D",
    "OfxParamTypeInteger3D",
    "OfxParamTypeString",
    "OfxParamTypeCustom",
    "OfxParamTypeBytes",
    "OfxParamTypeGroup",
    "OfxParamTypePage",
    "OfxParamTypePushButton",
    "OfxParamTypeParametric",
];

/// One parameter: its property set and (for instances) its value.
pub struct Param {
    name: String,
    param_type: String,
    props: Arc<PropSet>,
    value: Mutex<(ParamValue, CString)>,
    /// Values the plugin wrote with paramSetValue / paramSetValueAtTime, in order.
    plugin_sets: Mutex<Vec<ParamValue>>,
}

impl Drop for Param {
    fn drop(&mut self) {
        registry::unregister(self as *const Param as usize);
    }
}

impl Param {
    fn new(name: &str, param_type: &str, props: Arc<PropSet>) -> Arc<Param> {
        let p = Arc::new(Param {
            name: name.to_owned(),
            param_type: param_type.to_owned(),
            props,
            value: Mutex::new((ParamValue::None, CString::default())),
            plugin_sets: Mutex::new(Vec::new()),
        });
        registry::register(Arc::as_ptr(&p) as usize, Kind::Param);
        p
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn param_type(&self) -> &str {
        &self.param_type
    }
    pub fn props(&self) -> &Arc<PropSet> {
        &self.props
    }
    pub fn handle(&self) -> OfxParamHandle {
        self as *const Param as OfxParamHandle
    }
    pub fn value(&self) -> ParamValue {
        self.value.lock().0.clone()
    }
    /// Sets the value the plugin reads (as a host UI would). Fails on a shape mismatch.
    pub fn set_value(&self, v: ParamValue) -> Result<(), String> {
        let ok = match (shape(&self.param_type), &v) {
            (Some((KIND_DOUBLE, n)), ParamValue::Double(x)) => x.len() == n,
            (Some((KIND_INT, n)), ParamValue::Int(x)) => x.len() == n,
            (Some((KIND_STRING, _)), ParamValue::Str(_)) => true,
            (None, ParamValue::None) => true,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "param {} ({}) cannot take {:?}",
                self.name, self.param_type, v
            ));
        }
        let c = match &v {
            ParamValue::Str(s) => CString::new(s.replace('\0', "")).unwrap_or_default(),
            _ => CString::default(),
        };
        *self.value.lock() = (v, c);
        Ok(())
    }
    pub fn plugin_sets(&self) -> Vec<ParamValue> {
        self.plugin_sets.lock().clone()
    }

    /// The value given by the descriptor's kOfxParamPropDefault (zeros when absent).
    fn default_value(&self) -> ParamValue {
        let d = self.props.get("OfxParamPropDefault");
        match shape(&self.param_type) {
            Some((KIND_DOUBLE, n)) => match d {
                Some(PropValue::Double(v)) if v.len() >= n => ParamValue::Double(v[..n].to_vec()),
                _ => ParamValue::Double(vec![0.0; n]),
            },
            Some((KIND_INT, n)) => match d {
                Some(PropValue::Int(v)) if v.len() >= n => ParamValue::Int(v[..n].to_vec()),
                _ => ParamValue::Int(vec![0; n]),
            },
            Some(_) => match d {
                Some(PropValue::Str(v)) if !v.is_empty() => {
                    ParamValue::Str(v[0].to_string_lossy().into_owned())
                }
                _ => ParamValue::Str(String::new()),
            },
            None => ParamValue::None,
        }
    }
}

/// A parameter set: the params of one effect descriptor or instance.
pub struct ParamSet {
    params: Mutex<Vec<Arc<Param>>>,
    /// The owning effect's property set (what paramSetGetPropertySet returns).
    effect_props: Arc<PropSet>,
}

impl Drop for ParamSet {
    fn drop(&mut self) {
        registry::unregister(self as *const ParamSet as usize);
    }
}

impl ParamSet {
    pub(crate) fn new(effect_props: Arc<PropSet>) -> Arc<ParamSet> {
        let s = Arc::new(ParamSet {
            params: Mutex::new(Vec::new()),
            effect_props,
        });
        registry::register(Arc::as_ptr(&s) as usize, Kind::ParamSet);
        s
    }
    pub fn handle(&self) -> OfxParamSetHandle {
        self as *const ParamSet as OfxParamSetHandle
    }
    /// Params in definition order.
    pub fn params(&self) -> Vec<Arc<Param>> {
        self.params.lock().clone()
    }
    pub fn get(&self, name: &str) -> Option<Arc<Param>> {
        self.params.lock().iter().find(|p| p.name == name).cloned()
    }
    /// Instance params: copies of the descriptor's, each holding its default value.
    pub(crate) fn instantiate(&self, effect_props: Arc<PropSet>) -> Arc<ParamSet> {
        let out = ParamSet::new(effect_props);
        for p in self.params() {
            let props = p.props.duplicate();
            let q = Param::new(&p.name, &p.param_type, props);
            let d = q.default_value();
            let _ = q.set_value(d);
            out.params.lock().push(q);
        }
        out
    }
    fn define(&self, param_type: &str, name: &str) -> Result<Arc<Param>, Status> {
        if !KNOWN_TYPES.contains(&param_type) {
            return Err(st::ERR_UNKNOWN);
        }
        let mut g = self.params.lock();
        if g.iter().any(|p| p.name == name) {
            return Err(st::ERR_EXISTS);
        }
        let props = PropSet::new();
        props.set_str("OfxPropType", &["OfxTypeParameter"]);
        props.set_str("OfxPropName", &[name]);
        props.set_str("OfxPropLabel", &[name]);
        props.set_str("OfxParamPropType", &[param_type]);
        props.set_str("OfxParamPropScriptName", &[name]);
        props.set_str("OfxParamPropParent", &[""]);
        props.set_int("OfxParamPropSecret", &[0]);
        props.set_int("OfxParamPropEnabled", &[1]);
        props.set_int("OfxParamPropAnimates", &[1]);
        props.set_int("OfxParamPropEvaluateOnChange", &[1]);
        props.set_int("OfxParamPropCanUndo", &[1]);
        props.set_str("OfxParamPropHint", &[""]);
        props.seal_defaults();
        let p = Param::new(name, param_type, props);
        g.push(p.clone());
        Ok(p)
    }
}

fn param_of<'a>(h: OfxParamHandle) -> Option<&'a Param> {
    if !registry::is_live(h as usize, Kind::Param) {
        return None;
    }
    // SAFETY: the registry says this address is a live Param kept alive by its ParamSet's Arc.
    Some(unsafe { &*(h as *const Param) })
}

fn set_of<'a>(h: OfxParamSetHandle) -> Option<&'a ParamSet> {
    if !registry::is_live(h as usize, Kind::ParamSet) {
        return None;
    }
    // SAFETY: the registry says this address is a live ParamSet kept alive by its effect.
    Some(unsafe { &*(h as *const ParamSet) })
}

/// # Safety
/// `out` must be NULL or writable.
unsafe fn put<T>(out: *mut T, v: T) {
    if !out.is_null() {
        // SAFETY: non-null and writable per the caller.
        unsafe { *out = v };
    }
}

unsafe extern "C" fn param_define(
    set: OfxParamSetHandle,
    ptype: *const c_char,
    name: *const c_char,
    props: *mut OfxPropertySetHandle,
) -> Status {
    guard(|| {
        let Some(s) = set_of(set) else {
            return st::ERR_BAD_HANDLE;
        };
        // SAFETY: C strings per the OFX API.
        let (Some(t), Some(n)) = (unsafe { c_str(ptype) }, unsafe { c_str(name) }) else {
            return st::ERR_UNKNOWN;
        };
        match s.define(t, n) {
            Ok(p) => {
                // SAFETY: out pointer may be NULL (allowed by the API) or writable.
                unsafe { put(props, p.props.handle()) };
                st::OK
            }
            Err(e) => e,
        }
    })
}

unsafe extern "C" fn param_get_handle(
    set: OfxParamSetHandle,
    name: *const c_char,
    param: *mut OfxParamHandle,
    props: *mut OfxPropertySetHandle,
) -> Status {
    guard(|| {
        let Some(s) = set_of(set) else {
            return st::ERR_BAD_HANDLE;
        };
        // SAFETY: C string per the OFX API.
        let Some(n) = (unsafe { c_str(name) }) else {
            return st::ERR_UNKNOWN;
        };
        let Some(p) = s.get(n) else {
            return st::ERR_UNKNOWN;
        };
        // SAFETY: out pointers are NULL or writable per the OFX API.
        unsafe {
            put(param, p.handle());
            put(props, p.props.handle());
        }
        st::OK
    })
}

unsafe extern "C" fn param_set_get_property_set(
    set: OfxParamSetHandle,
    props: *mut OfxPropertySetHandle,
) -> Status {
    guard(|| {
        let Some(s) = set_of(set) else {
            return st::ERR_BAD_HANDLE;
        };
        // SAFETY: out pointer is NULL or writable.
        unsafe { put(props, s.effect_props.handle()) };
        st::OK
    })
}

unsafe extern "C" fn param_get_property_set(
    param: OfxParamHandle,
    props: *mut OfxPropertySetHandle,
) -> Status {
    guard(|| {
        let Some(p) = param_of(param) else {
            return st::ERR_BAD_HANDLE;
        };
        // SAFETY: out pointer is NULL or writable.
        unsafe { put(props, p.props.handle()) };
        st::OK
    })
}

unsafe extern "C" fn param_get_num_keys(param: OfxParamHandle, n: *mut c_uint) -> Status {
    guard(|| {
        if param_of(param).is_none() {
            return st::ERR_BAD_HANDLE;
        }
        // SAFETY: out pointer is NULL or writable.
        unsafe { put(n, 0) };
        st::OK
    })
}
unsafe extern "C" fn param_get_key_time(
    param: OfxParamHandle,
    _nth: c_uint,
    _t: *mut OfxTime,
) -> Status {
    if param_of(param).is_none() {
        return st::ERR_BAD_HANDLE;
    }
    st::ERR_BAD_INDEX
}
unsafe extern "C" fn param_get_key_index(
    param: OfxParamHandle,
    _t: OfxTime,
    _dir: c_int,
    index: *mut c_int,
) -> Status {
    guard(|| {
        if param_of(param).is_none() {
            return st::ERR_BAD_HANDLE;
        }
        // SAFETY: out pointer is NULL or writable.
        unsafe { put(index, -1) };
        st::FAILED
    })
}
unsafe extern "C" fn param_delete_key(param: OfxParamHandle, _t: OfxTime) -> Status {
    if param_of(param).is_none() {
        return st::ERR_BAD_HANDLE;
    }
    st::ERR_BAD_INDEX
}
unsafe extern "C" fn param_delete_all_keys(param: OfxParamHandle) -> Status {
    if param_of(param).is_none() {
        return st::ERR_BAD_HANDLE;
    }
    st::OK
}
unsafe extern "C" fn param_copy(
    to: OfxParamHandle,
    from: OfxParamHandle,
    _off: OfxTime,
    _r: *const OfxRangeD,
) -> Status {
    guard(|| {
        let (Some(t), Some(f)) = (param_of(to), param_of(from)) else {
            return st::ERR_BAD_HANDLE;
        };
        if t.param_type != f.param_type {
            return st::ERR_VALUE;
        }
        match t.set_value(f.value()) {
            Ok(()) => st::OK,
            Err(_) => st::ERR_VALUE,
        }
    })
}
unsafe extern "C" fn param_edit_begin(set: OfxParamSetHandle, _name: *const c_char) -> Status {
    if set_of(set).is_none() {
        return st::ERR_BAD_HANDLE;
    }
    st::OK
}
unsafe extern "C" fn param_edit_end(set: OfxParamSetHandle) -> Status {
    if set_of(set).is_none() {
        return st::ERR_BAD_HANDLE;
    }
    st::OK
}

// ---- callbacks for shim.c ----

pub(crate) unsafe extern "C" fn shim_param_kind(
    param: *mut c_void,
    kind: *mut c_int,
    count: *mut c_int,
) -> Status {
    guard(|| {
        let Some(p) = param_of(param as OfxParamHandle) else {
            return st::ERR_BAD_HANDLE;
        };
        let Some((k, n)) = shape(&p.param_type) else {
            return st::ERR_BAD_HANDLE;
        };
        // SAFETY: shim.c passes pointers to locals.
        unsafe {
            put(kind, k);
            put(count, n as c_int);
        }
        st::OK
    })
}

pub(crate) unsafe extern "C" fn shim_param_read(
    param: *mut c_void,
    _has_time: c_int,
    _time: f64,
    d: *mut f64,
    i: *mut c_int,
    s: *mut *const c_char,
) -> Status {
    guard(|| {
        let Some(p) = param_of(param as OfxParamHandle) else {
            return st::ERR_BAD_HANDLE;
        };
        let g = p.value.lock();
        // SAFETY: shim.c passes arrays of 4 (CK_MAX_DIMS) and a pointer to a local; shapes have <= 4
        // values. The returned string lives in the param until its next set (OFX lifetime rule).
        unsafe {
            match &g.0 {
                ParamValue::Double(v) => v
                    .iter()
                    .take(4)
                    .enumerate()
                    .for_each(|(k, x)| *d.add(k) = *x),
                ParamValue::Int(v) => v
                    .iter()
                    .take(4)
                    .enumerate()
                    .for_each(|(k, x)| *i.add(k) = *x),
                ParamValue::Str(_) => *s = g.1.as_ptr(),
                ParamValue::None => return st::ERR_BAD_HANDLE,
            }
        }
        st::OK
    })
}

pub(crate) unsafe extern "C" fn shim_param_write(
    param: *mut c_void,
    _has_time: c_int,
    _time: f64,
    d: *const f64,
    i: *const c_int,
    s: *const c_char,
) -> Status {
    guard(|| {
        let Some(p) = param_of(param as OfxParamHandle) else {
            return st::ERR_BAD_HANDLE;
        };
        let Some((k, n)) = shape(&p.param_type) else {
            return st::ERR_BAD_HANDLE;
        };
        // SAFETY: shim.c passes arrays of 4 values and a C string (or NULL) from the plugin.
        let v = unsafe {
            match k {
                KIND_DOUBLE => ParamValue::Double(std::slice::from_raw_parts(d, n).to_vec()),
                KIND_INT => ParamValue::Int(std::slice::from_raw_parts(i, n).to_vec()),
                _ if s.is_null() => ParamValue::Str(String::new()),
                _ => ParamValue::Str(CStr::from_ptr(s).to_string_lossy().into_owned()),
            }
        };
        p.plugin_sets.lock().push(v.clone());
        match p.set_value(v) {
            Ok(()) => st::OK,
            Err(_) => st::ERR_VALUE,
        }
    })
}

extern "C" {
    fn ck_param_get_value(param: OfxParamHandle, ...) -> Status;
    fn ck_param_get_value_at_time(param: OfxParamHandle, time: OfxTime, ...) -> Status;
    fn ck_param_get_derivative(param: OfxParamHandle, time: OfxTime, ...) -> Status;
    fn ck_param_get_integral(param: OfxParamHandle, t1: OfxTime, t2: OfxTime, ...) -> Status;
    fn ck_param_set_value(param: OfxParamHandle, ...) -> Status;
    fn ck_param_set_value_at_time(param: OfxParamHandle, time: OfxTime, ...) -> Status;
}

pub(crate) static PARAMETER_SUITE: OfxParameterSuiteV1 = OfxParameterSuiteV1 {
    paramDefine: Some(param_define),
    paramGetHandle: Some(param_get_handle),
    paramSetGetPropertySet: Some(param_set_get_property_set),
    paramGetPropertySet: Some(param_get_property_set),
    paramGetValue: Some(ck_param_get_value),
    paramGetValueAtTime: Some(ck_param_get_value_at_time),
    paramGetDerivative: Some(ck_param_get_derivative),
    paramGetIntegral: Some(ck_param_get_integral),
    paramSetValue: Some(ck_param_set_value),
    paramSetValueAtTime: Some(ck_param_set_value_at_time),
    paramGetNumKeys: Some(param_get_num_keys),
    paramGetKeyTime: Some(param_get_key_time),
    paramGetKeyIndex: Some(param_get_key_index),
    paramDeleteKey: Some(param_delete_key),
    paramDeleteAllKeys: Some(param_delete_all_keys),
    paramCopy: Some(param_copy),
    paramEditBegin: Some(param_edit_begin),
    paramEditEnd: Some(param_edit_end),
};
