//! The host suites driven as a plugin would drive them, through the C ABI (variadic calls included),
//! without any plugin binary.

use super::effect::{Effect, IMAGE_EFFECT_SUITE};
use super::params::{ParamValue, PARAMETER_SUITE};
use super::props::{PropSet, PROPERTY_SUITE};
use super::status as st;
use super::suites::{HostConfig, HostState};
use openfx_sys::{OfxMessageSuiteV2, OfxParamHandle, OfxParamSetHandle, OfxPropertySetHandle};
use std::ffi::{c_char, c_int, c_void, CStr};

fn effect() -> std::sync::Arc<Effect> {
    let _host = HostState::new(HostConfig::default()); // installs the shim callbacks
    Effect::new_descriptor(PropSet::new())
}

#[test]
fn property_suite_roundtrip_and_errors() {
    let p = PropSet::new();
    let h = p.handle();
    let s = &PROPERTY_SUITE;
    // SAFETY: calling the host's own suite with a live handle and valid pointers, as a plugin would.
    unsafe {
        assert_eq!(
            s.propSetDoubleN.unwrap()(h, c"d".as_ptr(), 3, [1.0, 2.0, 3.0].as_ptr()),
            st::OK
        );
        let mut n: c_int = 0;
        assert_eq!(
            s.propGetDimension.unwrap()(h, c"d".as_ptr(), &mut n),
            st::OK
        );
        assert_eq!(n, 3);
        let mut v = [0.0f64; 2];
        assert_eq!(
            s.propGetDoubleN.unwrap()(h, c"d".as_ptr(), 2, v.as_mut_ptr()),
            st::OK
        );
        assert_eq!(v, [1.0, 2.0]);
        let mut one = 0.0;
        assert_eq!(
            s.propGetDouble.unwrap()(h, c"d".as_ptr(), 3, &mut one),
            st::ERR_BAD_INDEX
        );
        assert_eq!(
            s.propGetDouble.unwrap()(h, c"nope".as_ptr(), 0, &mut one),
            st::ERR_UNKNOWN
        );
        let mut i: c_int = 0;
        assert_eq!(
            s.propGetInt.unwrap()(h, c"d".as_ptr(), 0, &mut i),
            st::ERR_VALUE
        );
        assert_eq!(
            s.propSetString.unwrap()(h, c"s".as_ptr(), 1, c"b".as_ptr()),
            st::OK
        );
        let mut sp: *mut c_char = std::ptr::null_mut();
        assert_eq!(
            s.propGetString.unwrap()(h, c"s".as_ptr(), 1, &mut sp),
            st::OK
        );
        assert_eq!(CStr::from_ptr(sp).to_str().unwrap(), "b");
        p.set_int("r", &[7]);
        p.seal_defaults();
        assert_eq!(s.propSetInt.unwrap()(h, c"r".as_ptr(), 0, 9), st::OK);
        assert_eq!(s.propReset.unwrap()(h, c"r".as_ptr()), st::OK);
        assert_eq!(s.propGetInt.unwrap()(h, c"r".as_ptr(), 0, &mut i), st::OK);
        assert_eq!(i, 7);
        let bogus = 0x10 as OfxPropertySetHandle;
        assert_eq!(
            s.propSetInt.unwrap()(bogus, c"r".as_ptr(), 0, 1),
            st::ERR_BAD_HANDLE
        );
    }
    assert!(p.written_by_plugin("d") && !p.written_by_plugin("zzz"));
}

#[test]
fn variadic_param_values_through_the_c_abi() {
    let desc = effect();
    let ps: OfxParamSetHandle = desc.params().handle();
    let s = &PARAMETER_SUITE;
    let mut props: OfxPropertySetHandle = std::ptr::null_mut();
    // SAFETY: the host's own suites with live handles and correctly typed variadic arguments.
    unsafe {
        assert_eq!(
            s.paramDefine.unwrap()(
                ps,
                c"OfxParamTypeDouble".as_ptr(),
                c"d".as_ptr(),
                &mut props
            ),
            st::OK
        );
        PROPERTY_SUITE.propSetDouble.unwrap()(props, c"OfxParamPropDefault".as_ptr(), 0, 2.5);
        assert_eq!(
            s.paramDefine.unwrap()(ps, c"OfxParamTypeRGBA".as_ptr(), c"c".as_ptr(), &mut props),
            st::OK
        );
        assert_eq!(
            s.paramDefine.unwrap()(
                ps,
                c"OfxParamTypeChoice".as_ptr(),
                c"k".as_ptr(),
                &mut props
            ),
            st::OK
        );
        assert_eq!(
            s.paramDefine.unwrap()(
                ps,
                c"OfxParamTypeString".as_ptr(),
                c"t".as_ptr(),
                &mut props
            ),
            st::OK
        );
        assert_eq!(
            s.paramDefine.unwrap()(
                ps,
                c"OfxParamTypeDouble".as_ptr(),
                c"d".as_ptr(),
                &mut props
            ),
            st::ERR_EXISTS
        );
        assert_eq!(
            s.paramDefine.unwrap()(ps, c"Bogus".as_ptr(), c"x".as_ptr(), &mut props),
            st::ERR_UNKNOWN
        );
    }
    let inst = Effect::instantiate(&desc);
    let ips = inst.params().handle();
    let get = |name: &CStr| {
        let mut h: OfxParamHandle = std::ptr::null_mut();
        assert_eq!(
            // SAFETY: live param set, valid out pointer.
            unsafe { s.paramGetHandle.unwrap()(ips, name.as_ptr(), &mut h, std::ptr::null_mut()) },
            st::OK
        );
        h
    };
    let (d, c, k, t) = (get(c"d"), get(c"c"), get(c"k"), get(c"t"));
    // SAFETY: variadic arguments match each parameter's type (double*, 4 x double*, int*, char**).
    unsafe {
        let mut v = 0.0f64;
        assert_eq!(s.paramGetValue.unwrap()(d, &mut v as *mut f64), st::OK);
        assert_eq!(v, 2.5, "instance value starts at the default");
        assert_eq!(s.paramSetValue.unwrap()(d, 4.25f64), st::OK);
        assert_eq!(
            s.paramGetValueAtTime.unwrap()(d, 3.0, &mut v as *mut f64),
            st::OK
        );
        assert_eq!(v, 4.25);
        assert_eq!(
            s.paramSetValue.unwrap()(c, 0.1f64, 0.2f64, 0.3f64, 0.4f64),
            st::OK
        );
        let (mut r, mut g, mut b, mut a) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let st_rgba = s.paramGetValue.unwrap()(
            c,
            &mut r as *mut f64,
            &mut g as *mut f64,
            &mut b as *mut f64,
            &mut a as *mut f64,
        );
        assert_eq!(st_rgba, st::OK);
        assert_eq!((r, g, b, a), (0.1, 0.2, 0.3, 0.4));
        assert_eq!(s.paramSetValueAtTime.unwrap()(k, 1.0, 2 as c_int), st::OK);
        let mut i: c_int = -1;
        assert_eq!(s.paramGetValue.unwrap()(k, &mut i as *mut c_int), st::OK);
        assert_eq!(i, 2);
        assert_eq!(s.paramSetValue.unwrap()(t, c"/models".as_ptr()), st::OK);
        let mut sp: *const c_char = std::ptr::null();
        assert_eq!(
            s.paramGetValue.unwrap()(t, &mut sp as *mut *const c_char),
            st::OK
        );
        assert_eq!(CStr::from_ptr(sp).to_str().unwrap(), "/models");
        let mut dv = 1.0f64;
        assert_eq!(
            s.paramGetDerivative.unwrap()(d, 0.0, &mut dv as *mut f64),
            st::OK
        );
        assert_eq!(dv, 0.0);
        assert_eq!(
            s.paramGetIntegral.unwrap()(d, 0.0, 2.0, &mut dv as *mut f64),
            st::OK
        );
        assert_eq!(dv, 8.5);
        let mut junk = 0.0f64;
        assert_eq!(
            s.paramGetValue.unwrap()(0x20 as OfxParamHandle, &mut junk as *mut f64),
            st::ERR_BAD_HANDLE
        );
    }
    assert_eq!(
        inst.params().get("k").unwrap().value(),
        ParamValue::Int(vec![2])
    );
    assert_eq!(
        inst.params().get("t").unwrap().plugin_sets(),
        vec![ParamValue::Str("/models".into())]
    );
}

#[test]
fn messages_are_formatted_and_recorded() {
    let e = effect();
    let h = e.handle() as *mut c_void;
    let host = HostState::new(HostConfig::default());
    let fetch = |name: &CStr, v: c_int| {
        // SAFETY: the host's fetchSuite with its own handle.
        unsafe { (*host.ofx_host()).fetchSuite.unwrap()((*host.ofx_host()).host, name.as_ptr(), v) }
    };
    let m = fetch(c"OfxMessageSuite", 2) as *const OfxMessageSuiteV2;
    assert!(!m.is_null());
    // SAFETY: the suite pointer came from fetchSuite; printf-style arguments match the format.
    unsafe {
        let m = &*m;
        let fmt = c"model %s missing (%d)";
        assert_eq!(
            m.message.unwrap()(
                h,
                c"OfxMessageError".as_ptr(),
                c"id".as_ptr(),
                fmt.as_ptr(),
                c"/x".as_ptr(),
                7 as c_int
            ),
            st::OK
        );
        let pfmt = c"%s";
        assert_eq!(
            m.setPersistentMessage.unwrap()(
                h,
                c"OfxMessageWarning".as_ptr(),
                std::ptr::null(),
                pfmt.as_ptr(),
                c"p".as_ptr()
            ),
            st::OK
        );
    }
    assert_eq!(e.messages()[0].text, "model /x missing (7)");
    assert_eq!(e.persistent_message().unwrap().text, "p");
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            (*(fetch(c"OfxMessageSuite", 2) as *const OfxMessageSuiteV2))
                .clearPersistentMessage
                .unwrap()(h),
            st::OK
        )
    };
    assert!(e.persistent_message().is_none());

    let resolve = HostState::new(HostConfig {
        null_persistent_message: true,
        ..HostConfig::default()
    });
    // SAFETY: as above.
    let m = unsafe {
        (*resolve.ofx_host()).fetchSuite.unwrap()(
            (*resolve.ofx_host()).host,
            c"OfxMessageSuite".as_ptr(),
            2,
        ) as *const OfxMessageSuiteV2
    };
    // SAFETY: non-null suite from fetchSuite.
    assert!(unsafe { (*m).setPersistentMessage }.is_none());
    assert!(fetch(c"NoSuchSuite", 1).is_null());
}

#[test]
fn clips_and_images() {
    use super::effect::ClipSource;
    use super::image::{BitDepth, Components, HostImage};
    use std::sync::Arc;
    let desc = effect();
    let s = &IMAGE_EFFECT_SUITE;
    let mut props: OfxPropertySetHandle = std::ptr::null_mut();
    assert_eq!(
        // SAFETY: live descriptor handle, valid out pointer.
        unsafe { s.clipDefine.unwrap()(desc.handle(), c"Source".as_ptr(), &mut props) },
        st::OK
    );
    let inst = Effect::instantiate(&desc);
    let clip = inst.clip("Source").unwrap();
    let mut img = HostImage::new([0, 0, 3, 2], BitDepth::Byte, Components::Rgba, true, 4);
    img.fill_rgba(&[0.5; 24]).unwrap();
    clip.set_source(ClipSource::Images {
        per_frame: Default::default(),
        any: Some(Arc::new(img)),
    });
    let mut ih: OfxPropertySetHandle = std::ptr::null_mut();
    assert_eq!(
        // SAFETY: live clip handle and out pointer.
        unsafe { s.clipGetImage.unwrap()(clip.handle(), 0.0, std::ptr::null(), &mut ih) },
        st::OK
    );
    assert_eq!(super::effect::unreleased_images(), 1);
    let mut rb: c_int = 0;
    // SAFETY: live image property set.
    unsafe { PROPERTY_SUITE.propGetInt.unwrap()(ih, c"OfxImagePropRowBytes".as_ptr(), 0, &mut rb) };
    assert_eq!(rb, -16);
    // SAFETY: the handle came from clipGetImage.
    assert_eq!(unsafe { s.clipReleaseImage.unwrap()(ih) }, st::OK);
    assert_eq!(
        // SAFETY: released twice: must be refused, not crash.
        unsafe { s.clipReleaseImage.unwrap()(ih) },
        st::ERR_BAD_HANDLE
    );
    clip.set_source(ClipSource::NullImage);
    assert_eq!(
        // SAFETY: live clip handle and out pointer.
        unsafe { s.clipGetImage.unwrap()(clip.handle(), 0.0, std::ptr::null(), &mut ih) },
        st::OK
    );
    assert!(ih.is_null());
    clip.set_source(ClipSource::Unconnected);
    assert_eq!(
        // SAFETY: as above.
        unsafe { s.clipGetImage.unwrap()(clip.handle(), 0.0, std::ptr::null(), &mut ih) },
        st::FAILED
    );
}

#[test]
fn memory_threads_and_mutexes() {
    use openfx_sys::{
        OfxImageMemoryHandle, OfxMemorySuiteV1, OfxMultiThreadSuiteV1, OfxMutexHandle,
    };
    use std::ffi::c_uint;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let e = effect();
    let host = HostState::new(HostConfig::default());
    let fetch = |name: &CStr| {
        // SAFETY: the host's fetchSuite with its own handle.
        unsafe { (*host.ofx_host()).fetchSuite.unwrap()((*host.ofx_host()).host, name.as_ptr(), 1) }
    };
    let s = &IMAGE_EFFECT_SUITE;
    let before = super::memory::live_memory_blocks();
    // SAFETY: the host's own suites; pointers returned by the allocators are used within their size.
    unsafe {
        let mut h: OfxImageMemoryHandle = std::ptr::null_mut();
        assert_eq!(
            s.imageMemoryAlloc.unwrap()(e.handle(), 1024, &mut h),
            st::OK
        );
        let mut p: *mut c_void = std::ptr::null_mut();
        assert_eq!(s.imageMemoryLock.unwrap()(h, &mut p), st::OK);
        assert_eq!(p as usize % 16, 0, "image memory must be aligned");
        std::ptr::write_bytes(p as *mut u8, 0xab, 1024);
        assert_eq!(s.imageMemoryUnlock.unwrap()(h), st::OK);
        let mem = &*(fetch(c"OfxMemorySuite") as *const OfxMemorySuiteV1);
        let mut q: *mut c_void = std::ptr::null_mut();
        assert_eq!(
            mem.memoryAlloc.unwrap()(std::ptr::null_mut(), 64, &mut q),
            st::OK
        );
        assert_eq!(super::memory::live_memory_blocks(), before + 2);
        assert_eq!(mem.memoryFree.unwrap()(q), st::OK);
        assert_eq!(mem.memoryFree.unwrap()(q), st::ERR_BAD_HANDLE);
        assert_eq!(s.imageMemoryFree.unwrap()(h), st::OK);
        assert_eq!(s.imageMemoryLock.unwrap()(h, &mut p), st::ERR_BAD_HANDLE);
    }

    // SAFETY: suite pointer from fetchSuite.
    let mt = unsafe { &*(fetch(c"OfxMultiThreadSuite") as *const OfxMultiThreadSuiteV1) };
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    unsafe extern "C" fn work(i: c_uint, n: c_uint, arg: *mut c_void) {
        assert_eq!(n, 4);
        // SAFETY: `arg` is the suite pointer passed below, alive for the whole multiThread call.
        let mt = unsafe { &*(arg as *const OfxMultiThreadSuiteV1) };
        let mut idx: c_uint = 99;
        // SAFETY: valid out pointer.
        unsafe { mt.multiThreadIndex.unwrap()(&mut idx) };
        assert_eq!(idx, i);
        // SAFETY: no arguments.
        assert_eq!(unsafe { mt.multiThreadIsSpawnedThread.unwrap()() }, 1);
        SEEN.fetch_or(1 << i, Ordering::SeqCst);
    }
    // SAFETY: `work` matches OfxThreadFunctionV1; the argument outlives the call.
    let r = unsafe { mt.multiThread.unwrap()(Some(work), 4, mt as *const _ as *mut c_void) };
    assert_eq!(r, st::OK);
    assert_eq!(SEEN.load(Ordering::SeqCst), 0b1111);
    // SAFETY: no arguments.
    assert_eq!(unsafe { mt.multiThreadIsSpawnedThread.unwrap()() }, 0);

    let mut m: OfxMutexHandle = std::ptr::null_mut();
    // SAFETY: valid out pointer, then the handle it returned.
    unsafe {
        assert_eq!(mt.mutexCreate.unwrap()(&mut m, 0), st::OK);
        assert_eq!(mt.mutexLock.unwrap()(m), st::OK);
        assert_eq!(
            mt.mutexTryLock.unwrap()(m),
            st::OK,
            "OFX mutexes are recursive"
        );
        let mh = m as usize;
        let other = std::thread::spawn(move || mt_try(mh)).join().unwrap();
        assert_eq!(
            other,
            st::FAILED,
            "another thread must not get a held mutex"
        );
        assert_eq!(mt.mutexUnLock.unwrap()(m), st::OK);
        assert_eq!(mt.mutexUnLock.unwrap()(m), st::OK);
        assert_eq!(mt.mutexDestroy.unwrap()(m), st::OK);
    }
    fn mt_try(m: usize) -> c_int {
        let host = HostState::new(HostConfig::default());
        // SAFETY: fetchSuite with the host's own handle; the mutex handle is live.
        unsafe {
            let mt = &*((*host.ofx_host()).fetchSuite.unwrap()(
                (*host.ofx_host()).host,
                c"OfxMultiThreadSuite".as_ptr(),
                1,
            ) as *const OfxMultiThreadSuiteV1);
            mt.mutexTryLock.unwrap()(m as OfxMutexHandle)
        }
    }
}
