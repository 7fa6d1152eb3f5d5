//! Host property sets and the OfxPropertySuiteV1 the plugin calls on them.

use super::registry::{self, Kind};
use super::status::{self as st, Status};
use openfx_sys::{OfxPropertySetHandle, OfxPropertySuiteV1};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Arc;

/// One property's values. Strings are kept as C strings so the plugin can borrow them.
#[derive(Clone, Debug, PartialEq)]
pub enum PropValue {
    Str(Vec<CString>),
    Double(Vec<f64>),
    Int(Vec<i32>),
    Pointer(Vec<usize>),
}

impl PropValue {
    fn len(&self) -> usize {
        match self {
            PropValue::Str(v) => v.len(),
            PropValue::Double(v) => v.len(),
            PropValue::Int(v) => v.len(),
            PropValue::Pointer(v) => v.len(),
        }
    }
}

#[derive(Default)]
struct Inner {
    values: BTreeMap<String, PropValue>,
    defaults: BTreeMap<String, PropValue>,
    /// Names the plugin set through the suite (so tests can tell them from host defaults).
    written: BTreeSet<String>,
}

/// A property set handed to the plugin as an `OfxPropertySetHandle` (its address).
pub struct PropSet {
    inner: Mutex<Inner>,
}

impl Drop for PropSet {
    fn drop(&mut self) {
        registry::unregister(self as *const PropSet as usize);
    }
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

impl PropSet {
    pub fn new() -> Arc<PropSet> {
        let set = Arc::new(PropSet {
            inner: Mutex::new(Inner::default()),
        });
        registry::register(Arc::as_ptr(&set) as usize, Kind::PropSet);
        set
    }

    /// A new set holding a copy of this one's values.
    pub fn duplicate(&self) -> Arc<PropSet> {
        let out = PropSet::new();
        out.inner.lock().values = self.inner.lock().values.clone();
        out
    }

    pub fn handle(&self) -> OfxPropertySetHandle {
        self as *const PropSet as OfxPropertySetHandle
    }

    pub fn set(&self, name: &str, value: PropValue) {
        self.inner.lock().values.insert(name.to_owned(), value);
    }
    pub fn set_str(&self, name: &str, values: &[&str]) {
        self.set(
            name,
            PropValue::Str(values.iter().map(|s| cstring(s)).collect()),
        );
    }
    pub fn set_double(&self, name: &str, values: &[f64]) {
        self.set(name, PropValue::Double(values.to_vec()));
    }
    pub fn set_int(&self, name: &str, values: &[i32]) {
        self.set(name, PropValue::Int(values.to_vec()));
    }
    pub fn set_pointer(&self, name: &str, values: &[usize]) {
        self.set(name, PropValue::Pointer(values.to_vec()));
    }
    pub fn remove(&self, name: &str) {
        self.inner.lock().values.remove(name);
    }

    pub fn get(&self, name: &str) -> Option<PropValue> {
        self.inner.lock().values.get(name).cloned()
    }
    pub fn get_str(&self, name: &str) -> Option<Vec<String>> {
        match self.get(name)? {
            PropValue::Str(v) => Some(v.iter().map(|s| s.to_string_lossy().into_owned()).collect()),
            _ => None,
        }
    }
    pub fn get_double(&self, name: &str) -> Option<Vec<f64>> {
        match self.get(name)? {
            PropValue::Double(v) => Some(v),
            _ => None,
        }
    }
    pub fn get_int(&self, name: &str) -> Option<Vec<i32>> {
        match self.get(name)? {
            PropValue::Int(v) => Some(v),
            _ => None,
        }
    }
    pub fn get_pointer(&self, name: &str) -> Option<Vec<usize>> {
        match self.get(name)? {
            PropValue::Pointer(v) => Some(v),
            _ => None,
        }
    }
    pub fn names(&self) -> Vec<String> {
        self.inner.lock().values.keys().cloned().collect()
    }
    pub fn snapshot(&self) -> BTreeMap<String, PropValue> {
        self.inner.lock().values.clone()
    }

    /// Whether the plugin set this property through the property suite.
    pub fn written_by_plugin(&self, name: &str) -> bool {
        self.inner.lock().written.contains(name)
    }

    /// Records the current values as the ones propReset restores.
    pub fn seal_defaults(&self) {
        let mut g = self.inner.lock();
        g.defaults = g.values.clone();
    }
}

/// Runs an FFI body, turning a panic into kOfxStatErrFatal (no panic may cross into the plugin).
pub(crate) fn guard(f: impl FnOnce() -> Status) -> Status {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(st::ERR_FATAL)
}

/// # Safety
/// `p` must be NULL or a NUL-terminated string.
pub(crate) unsafe fn c_str<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller (the OFX API contract) guarantees a NUL-terminated string.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// Resolves a property set handle the plugin passed in, if it is live.
pub(crate) fn with_set(h: OfxPropertySetHandle, f: impl FnOnce(&PropSet) -> Status) -> Status {
    if !registry::is_live(h as usize, Kind::PropSet) {
        return st::ERR_BAD_HANDLE;
    }
    // SAFETY: the registry says this address is a PropSet that its owner keeps alive (an Arc held by
    // the host for at least as long as the plugin may use the handle).
    let set = unsafe { &*(h as *const PropSet) };
    f(set)
}

fn set_one(h: OfxPropertySetHandle, prop: *const c_char, index: c_int, make: PropValue) -> Status {
    guard(|| {
        with_set(h, |set| {
            // SAFETY: the property name is a C string per the OFX API.
            let Some(name) = (unsafe { c_str(prop) }) else {
                return st::ERR_UNKNOWN;
            };
            if index < 0 {
                return st::ERR_BAD_INDEX;
            }
            let i = index as usize;
            let mut g = set.inner.lock();
            g.written.insert(name.to_owned());
            let entry = g
                .values
                .entry(name.to_owned())
                .or_insert_with(|| match &make {
                    PropValue::Str(_) => PropValue::Str(vec![]),
                    PropValue::Double(_) => PropValue::Double(vec![]),
                    PropValue::Int(_) => PropValue::Int(vec![]),
                    PropValue::Pointer(_) => PropValue::Pointer(vec![]),
                });
            fn put<T: Clone + Default>(v: &mut Vec<T>, i: usize, x: T) {
                if v.len() <= i {
                    v.resize(i + 1, T::default());
                }
                v[i] = x;
            }
            match (entry, make) {
                (PropValue::Str(v), PropValue::Str(mut x)) => put(v, i, x.remove(0)),
                (PropValue::Double(v), PropValue::Double(x)) => put(v, i, x[0]),
                (PropValue::Int(v), PropValue::Int(x)) => put(v, i, x[0]),
                (PropValue::Pointer(v), PropValue::Pointer(x)) => put(v, i, x[0]),
                _ => return st::ERR_VALUE,
            }
            st::OK
        })
    })
}

fn set_n(h: OfxPropertySetHandle, prop: *const c_char, value: PropValue) -> Status {
    guard(|| {
        with_set(h, |set| {
            // SAFETY: the property name is a C string per the OFX API.
            let Some(name) = (unsafe { c_str(prop) }) else {
                return st::ERR_UNKNOWN;
            };
            let mut g = set.inner.lock();
            g.written.insert(name.to_owned());
            if let Some(old) = g.values.get(name) {
                if std::mem::discriminant(old) != std::mem::discriminant(&value) {
                    return st::ERR_VALUE;
                }
            }
            g.values.insert(name.to_owned(), value);
            st::OK
        })
    })
}

/// Reads `count` values starting at `first` of a property through `read(value, index)`.
fn get_some(
    h: OfxPropertySetHandle,
    prop: *const c_char,
    first: c_int,
    count: c_int,
    mut read: impl FnMut(&PropValue, usize) -> Status,
) -> Status {
    guard(|| {
        with_set(h, |set| {
            // SAFETY: the property name is a C string per the OFX API.
            let Some(name) = (unsafe { c_str(prop) }) else {
                return st::ERR_UNKNOWN;
            };
            let g = set.inner.lock();
            let Some(v) = g.values.get(name) else {
                return st::ERR_UNKNOWN;
            };
            if first < 0 || count < 0 || (first + count) as usize > v.len() {
                return st::ERR_BAD_INDEX;
            }
            for k in 0..count as usize {
                let s = read(v, first as usize + k);
                if s != st::OK {
                    return s;
                }
            }
            st::OK
        })
    })
}

unsafe extern "C" fn prop_set_pointer(
    h: OfxPropertySetHandle,
    p: *const c_char,
    i: c_int,
    v: *mut c_void,
) -> Status {
    set_one(h, p, i, PropValue::Pointer(vec![v as usize]))
}
unsafe extern "C" fn prop_set_string(
    h: OfxPropertySetHandle,
    p: *const c_char,
    i: c_int,
    v: *const c_char,
) -> Status {
    // NULL is stored as "".
    let s = if v.is_null() {
        CString::default()
    } else {
        // SAFETY: OFX passes a NUL-terminated C string, checked non-NULL above.
        unsafe { CStr::from_ptr(v) }.to_owned()
    };
    set_one(h, p, i, PropValue::Str(vec![s]))
}
unsafe extern "C" fn prop_set_double(
    h: OfxPropertySetHandle,
    p: *const c_char,
    i: c_int,
    v: f64,
) -> Status {
    set_one(h, p, i, PropValue::Double(vec![v]))
}
unsafe extern "C" fn prop_set_int(
    h: OfxPropertySetHandle,
    p: *const c_char,
    i: c_int,
    v: c_int,
) -> Status {
    set_one(h, p, i, PropValue::Int(vec![v]))
}

/// # Safety
/// `v` must point to `count` readable elements (OFX contract).
unsafe fn slice_in<'a, T>(v: *const T, count: c_int) -> Option<&'a [T]> {
    if count < 0 || (v.is_null() && count > 0) {
        return None;
    }
    if count == 0 {
        return Some(&[]);
    }
    // SAFETY: guaranteed by the caller.
    Some(unsafe { std::slice::from_raw_parts(v, count as usize) })
}

unsafe extern "C" fn prop_set_pointer_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    n: c_int,
    v: *const *mut c_void,
) -> Status {
    // SAFETY: OFX: `v` holds `n` pointers.
    let Some(s) = (unsafe { slice_in(v, n) }) else {
        return st::ERR_BAD_INDEX;
    };
    set_n(
        h,
        p,
        PropValue::Pointer(s.iter().map(|x| *x as usize).collect()),
    )
}
unsafe extern "C" fn prop_set_string_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    n: c_int,
    v: *const *const c_char,
) -> Status {
    // SAFETY: OFX: `v` holds `n` C strings.
    let Some(s) = (unsafe { slice_in(v, n) }) else {
        return st::ERR_BAD_INDEX;
    };
    let strings = s
        .iter()
        .map(|x| {
            if x.is_null() {
                CString::default()
            } else {
                // SAFETY: each entry is a NUL-terminated C string per the OFX API, non-NULL here.
                unsafe { CStr::from_ptr(*x) }.to_owned()
            }
        })
        .collect();
    set_n(h, p, PropValue::Str(strings))
}
unsafe extern "C" fn prop_set_double_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    n: c_int,
    v: *const f64,
) -> Status {
    // SAFETY: OFX: `v` holds `n` doubles.
    let Some(s) = (unsafe { slice_in(v, n) }) else {
        return st::ERR_BAD_INDEX;
    };
    set_n(h, p, PropValue::Double(s.to_vec()))
}
unsafe extern "C" fn prop_set_int_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    n: c_int,
    v: *const c_int,
) -> Status {
    // SAFETY: OFX: `v` holds `n` ints.
    let Some(s) = (unsafe { slice_in(v, n) }) else {
        return st::ERR_BAD_INDEX;
    };
    set_n(h, p, PropValue::Int(s.to_vec()))
}

unsafe extern "C" fn prop_get_pointer(
    h: OfxPropertySetHandle,
    p: *const c_char,
    i: c_int,
    out: *mut *mut c_void,
) -> Status {
    prop_get_pointer_at(h, p, i, 1, out)
}
unsafe extern "C" fn prop_get_pointer_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    n: c_int,
    out: *mut *mut c_void,
) -> Status {
    prop_get_pointer_at(h, p, 0, n, out)
}
fn prop_get_pointer_at(
    h: OfxPropertySetHandle,
    p: *const c_char,
    first: c_int,
    n: c_int,
    out: *mut *mut c_void,
) -> Status {
    if out.is_null() {
        return st::ERR_VALUE;
    }
    get_some(h, p, first, n, |v, i| match v {
        PropValue::Pointer(x) => {
            // SAFETY: OFX: `out` has room for `n` values; the index is `i - first` < n.
            unsafe { *out.add(i - first as usize) = x[i] as *mut c_void };
            st::OK
        }
        _ => st::ERR_VALUE,
    })
}
unsafe extern "C" fn prop_get_string(
    h: OfxPropertySetHandle,
    p: *const c_char,
    i: c_int,
    out: *mut *mut c_char,
) -> Status {
    prop_get_string_at(h, p, i, 1, out)
}
unsafe extern "C" fn prop_get_string_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    n: c_int,
    out: *mut *mut c_char,
) -> Status {
    prop_get_string_at(h, p, 0, n, out)
}
fn prop_get_string_at(
    h: OfxPropertySetHandle,
    p: *const c_char,
    first: c_int,
    n: c_int,
    out: *mut *mut c_char,
) -> Status {
    if out.is_null() {
        return st::ERR_VALUE;
    }
    get_some(h, p, first, n, |v, i| match v {
        PropValue::Str(x) => {
            // SAFETY: OFX: `out` has room for `n` values. The string stays valid until the property
            // is next set, which is the OFX lifetime rule for returned strings.
            unsafe { *out.add(i - first as usize) = x[i].as_ptr() as *mut c_char };
            st::OK
        }
        _ => st::ERR_VALUE,
    })
}
unsafe extern "C" fn prop_get_double(
    h: OfxPropertySetHandle,
    p: *const c_char,
    i: c_int,
    out: *mut f64,
) -> Status {
    prop_get_double_at(h, p, i, 1, out)
}
unsafe extern "C" fn prop_get_double_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    n: c_int,
    out: *mut f64,
) -> Status {
    prop_get_double_at(h, p, 0, n, out)
}
fn prop_get_double_at(
    h: OfxPropertySetHandle,
    p: *const c_char,
    first: c_int,
    n: c_int,
    out: *mut f64,
) -> Status {
    if out.is_null() {
        return st::ERR_VALUE;
    }
    get_some(h, p, first, n, |v, i| match v {
        PropValue::Double(x) => {
            // SAFETY: OFX: `out` has room for `n` values.
            unsafe { *out.add(i - first as usize) = x[i] };
            st::OK
        }
        _ => st::ERR_VALUE,
    })
}
unsafe extern "C" fn prop_get_int(
    h: OfxPropertySetHandle,
    p: *const c_char,
    i: c_int,
    out: *mut c_int,
) -> Status {
    prop_get_int_at(h, p, i, 1, out)
}
unsafe extern "C" fn prop_get_int_n(
    h: OfxPropertySetHandle,
    p: *const c_char,
    n: c_int,
    out: *mut c_int,
) -> Status {
    prop_get_int_at(h, p, 0, n, out)
}
fn prop_get_int_at(
    h: OfxPropertySetHandle,
    p: *const c_char,
    first: c_int,
    n: c_int,
    out: *mut c_int,
) -> Status {
    if out.is_null() {
        return st::ERR_VALUE;
    }
    get_some(h, p, first, n, |v, i| match v {
        PropValue::Int(x) => {
            // SAFETY: OFX: `out` has room for `n` values.
            unsafe { *out.add(i - first as usize) = x[i] };
            st::OK
        }
        _ => st::ERR_VALUE,
    })
}
unsafe extern "C" fn prop_reset(h: OfxPropertySetHandle, p: *const c_char) -> Status {
    guard(|| {
        with_set(h, |set| {
            // SAFETY: the property name is a C string per the OFX API.
            let Some(name) = (unsafe { c_str(p) }) else {
                return st::ERR_UNKNOWN;
            };
            let mut g = set.inner.lock();
            match g.defaults.get(name).cloned() {
                Some(d) => {
                    g.values.insert(name.to_owned(), d);
                    st::OK
                }
                None if g.values.contains_key(name) => st::OK,
                None => st::ERR_UNKNOWN,
            }
        })
    })
}
unsafe extern "C" fn prop_get_dimension(
    h: OfxPropertySetHandle,
    p: *const c_char,
    count: *mut c_int,
) -> Status {
    guard(|| {
        with_set(h, |set| {
            // SAFETY: the property name is a C string per the OFX API.
            let Some(name) = (unsafe { c_str(p) }) else {
                return st::ERR_UNKNOWN;
            };
            let Some(n) = set.inner.lock().values.get(name).map(PropValue::len) else {
                return st::ERR_UNKNOWN;
            };
            if count.is_null() {
                return st::ERR_VALUE;
            }
            // SAFETY: non-null out pointer per the OFX API.
            unsafe { *count = n as c_int };
            st::OK
        })
    })
}

pub(crate) static PROPERTY_SUITE: OfxPropertySuiteV1 = OfxPropertySuiteV1 {
    propSetPointer: Some(prop_set_pointer),
    propSetString: Some(prop_set_string),
    propSetDouble: Some(prop_set_double),
    propSetInt: Some(prop_set_int),
    propSetPointerN: Some(prop_set_pointer_n),
    propSetStringN: Some(prop_set_string_n),
    propSetDoubleN: Some(prop_set_double_n),
    propSetIntN: Some(prop_set_int_n),
    propGetPointer: Some(prop_get_pointer),
    propGetString: Some(prop_get_string),
    propGetDouble: Some(prop_get_double),
    propGetInt: Some(prop_get_int),
    propGetPointerN: Some(prop_get_pointer_n),
    propGetStringN: Some(prop_get_string_n),
    propGetDoubleN: Some(prop_get_double_n),
    propGetIntN: Some(prop_get_int_n),
    propReset: Some(prop_reset),
    propGetDimension: Some(prop_get_dimension),
};
