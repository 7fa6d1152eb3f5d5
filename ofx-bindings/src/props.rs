//! Typed access to OFX property sets.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;

use openfx_sys::{OfxPropertySetHandle, OfxPropertySuiteV1};

use crate::status::{Error, Result, Status};

/// A host property set: the handle plus the suite that reads it.
#[derive(Clone, Copy, Debug)]
pub struct PropertySet {
    handle: OfxPropertySetHandle,
    suite: &'static OfxPropertySuiteV1,
}

// SAFETY: a property set handle is an opaque host token; OFX lets any thread that runs an action
// (render threads included) call the property suite on the handles of that action.
unsafe impl Send for PropertySet {}
// SAFETY: as above; the struct itself holds no Rust-side mutable state.
unsafe impl Sync for PropertySet {}

fn entry<F>(f: Option<F>, what: &str) -> Result<F> {
    f.ok_or_else(|| {
        Error::new(
            Status::ErrMissingHostFeature,
            format!("host property suite lacks {what}"),
        )
    })
}

fn ctx(name: &CStr, index: c_int) -> impl FnOnce() -> String + '_ {
    move || format!("property {}[{index}]", name.to_string_lossy())
}

pub(crate) fn to_cstring(s: &str) -> Result<CString> {
    CString::new(s)
        .map_err(|_| Error::new(Status::ErrValue, format!("string with a NUL byte: {s:?}")))
}

impl PropertySet {
    /// Wraps a handle the host passed in.
    ///
    /// # Safety
    /// `handle` must be a live property set handle of the host the global suites came from, valid
    /// for as long as the returned value is used.
    pub unsafe fn from_raw(handle: OfxPropertySetHandle) -> Result<Self> {
        let suite = crate::suites::suites()?.property;
        Self::with_suite(handle, suite)
    }

    /// For handles the host itself returned through a suite (trusted by construction).
    pub(crate) fn with_suite(
        handle: OfxPropertySetHandle,
        suite: &'static OfxPropertySuiteV1,
    ) -> Result<Self> {
        if handle.is_null() {
            return Err(Error::new(Status::ErrBadHandle, "NULL property set"));
        }
        Ok(Self { handle, suite })
    }

    pub fn raw(&self) -> OfxPropertySetHandle {
        self.handle
    }

    pub fn dimension(&self, name: &CStr) -> Result<usize> {
        let f = entry(self.suite.propGetDimension, "propGetDimension")?;
        let mut n: c_int = 0;
        // SAFETY: live handle (type invariant), NUL-terminated name, valid out pointer.
        let st = unsafe { f(self.handle, name.as_ptr(), &mut n) };
        Error::check(st, ctx(name, 0))?;
        Ok(n.max(0) as usize)
    }

    pub fn get_string(&self, name: &CStr, index: usize) -> Result<String> {
        let f = entry(self.suite.propGetString, "propGetString")?;
        let mut p: *mut c_char = ptr::null_mut();
        // SAFETY: live handle, NUL-terminated name, valid out pointer.
        let st = unsafe { f(self.handle, name.as_ptr(), index as c_int, &mut p) };
        Error::check(st, ctx(name, index as c_int))?;
        if p.is_null() {
            return Ok(String::new());
        }
        // SAFETY: the host returns a NUL-terminated string it owns, valid during this call.
        Ok(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    /// All values of a string property (supported contexts, depths, ...).
    pub fn get_strings(&self, name: &CStr) -> Result<Vec<String>> {
        (0..self.dimension(name)?)
            .map(|i| self.get_string(name, i))
            .collect()
    }

    pub fn get_int(&self, name: &CStr, index: usize) -> Result<i32> {
        let f = entry(self.suite.propGetInt, "propGetInt")?;
        let mut v: c_int = 0;
        // SAFETY: live handle, NUL-terminated name, valid out pointer.
        let st = unsafe { f(self.handle, name.as_ptr(), index as c_int, &mut v) };
        Error::check(st, ctx(name, index as c_int))?;
        Ok(v)
    }

    pub fn get_bool(&self, name: &CStr, index: usize) -> Result<bool> {
        self.get_int(name, index).map(|v| v != 0)
    }

    pub fn get_double(&self, name: &CStr, index: usize) -> Result<f64> {
        let f = entry(self.suite.propGetDouble, "propGetDouble")?;
        let mut v = 0.0f64;
        // SAFETY: live handle, NUL-terminated name, valid out pointer.
        let st = unsafe { f(self.handle, name.as_ptr(), index as c_int, &mut v) };
        Error::check(st, ctx(name, index as c_int))?;
        Ok(v)
    }

    pub fn get_pointer(&self, name: &CStr, index: usize) -> Result<*mut c_void> {
        let f = entry(self.suite.propGetPointer, "propGetPointer")?;
        let mut v: *mut c_void = ptr::null_mut();
        // SAFETY: live handle, NUL-terminated name, valid out pointer.
        let st = unsafe { f(self.handle, name.as_ptr(), index as c_int, &mut v) };
        Error::check(st, ctx(name, index as c_int))?;
        Ok(v)
    }

    pub fn get_int_n<const N: usize>(&self, name: &CStr) -> Result<[i32; N]> {
        let f = entry(self.suite.propGetIntN, "propGetIntN")?;
        let mut v = [0 as c_int; N];
        // SAFETY: live handle, NUL-terminated name, out array of exactly N ints.
        let st = unsafe { f(self.handle, name.as_ptr(), N as c_int, v.as_mut_ptr()) };
        Error::check(st, ctx(name, N as c_int))?;
        Ok(v)
    }

    pub fn get_double_n<const N: usize>(&self, name: &CStr) -> Result<[f64; N]> {
        let f = entry(self.suite.propGetDoubleN, "propGetDoubleN")?;
        let mut v = [0.0f64; N];
        // SAFETY: live handle, NUL-terminated name, out array of exactly N doubles.
        let st = unsafe { f(self.handle, name.as_ptr(), N as c_int, v.as_mut_ptr()) };
        Error::check(st, ctx(name, N as c_int))?;
        Ok(v)
    }

    pub fn set_string(&self, name: &CStr, index: usize, value: &str) -> Result<()> {
        let f = entry(self.suite.propSetString, "propSetString")?;
        let v = to_cstring(value)?;
        // SAFETY: live handle, NUL-terminated name and value; the host copies the string.
        let st = unsafe { f(self.handle, name.as_ptr(), index as c_int, v.as_ptr()) };
        Error::check(st, ctx(name, index as c_int))
    }

    /// Sets every value of a string property (index 0..n).
    pub fn set_strings(&self, name: &CStr, values: &[&str]) -> Result<()> {
        for (i, v) in values.iter().enumerate() {
            self.set_string(name, i, v)?;
        }
        Ok(())
    }

    pub fn set_int(&self, name: &CStr, index: usize, value: i32) -> Result<()> {
        let f = entry(self.suite.propSetInt, "propSetInt")?;
        // SAFETY: live handle, NUL-terminated name.
        let st = unsafe { f(self.handle, name.as_ptr(), index as c_int, value) };
        Error::check(st, ctx(name, index as c_int))
    }

    pub fn set_bool(&self, name: &CStr, index: usize, value: bool) -> Result<()> {
        self.set_int(name, index, value as i32)
    }

    pub fn set_double(&self, name: &CStr, index: usize, value: f64) -> Result<()> {
        let f = entry(self.suite.propSetDouble, "propSetDouble")?;
        // SAFETY: live handle, NUL-terminated name.
        let st = unsafe { f(self.handle, name.as_ptr(), index as c_int, value) };
        Error::check(st, ctx(name, index as c_int))
    }

    // The host stores the pointer and never reads through it, so no deref happens here.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    pub fn set_pointer(&self, name: &CStr, index: usize, value: *mut c_void) -> Result<()> {
        let f = entry(self.suite.propSetPointer, "propSetPointer")?;
        // SAFETY: live handle, NUL-terminated name; the host stores the pointer without reading it.
        let st = unsafe { f(self.handle, name.as_ptr(), index as c_int, value) };
        Error::check(st, ctx(name, index as c_int))
    }

    pub fn set_int_n(&self, name: &CStr, values: &[i32]) -> Result<()> {
        let f = entry(self.suite.propSetIntN, "propSetIntN")?;
        // SAFETY: live handle, NUL-terminated name, `values.len()` readable ints.
        let st = unsafe {
            f(
                self.handle,
                name.as_ptr(),
                values.len() as c_int,
                values.as_ptr(),
            )
        };
        Error::check(st, ctx(name, values.len() as c_int))
    }

    pub fn set_double_n(&self, name: &CStr, values: &[f64]) -> Result<()> {
        let f = entry(self.suite.propSetDoubleN, "propSetDoubleN")?;
        // SAFETY: live handle, NUL-terminated name, `values.len()` readable doubles.
        let st = unsafe {
            f(
                self.handle,
                name.as_ptr(),
                values.len() as c_int,
                values.as_ptr(),
            )
        };
        Error::check(st, ctx(name, values.len() as c_int))
    }
}
