//! OFX status codes and the error type every safe wrapper returns.
//!
//! The headers write the codes as cast macros (`((int) 14)`), which bindgen drops, so `openfx-sys`
//! only has `kOfxStatOK` (as a `u32`). This table is the project's single source for the rest.

use std::fmt;

use openfx_sys::OfxStatus;

/// Every status code in the OFX 1.4/1.5 headers, plus the GPU render codes of `ofxGPURender.h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Status {
    Ok = 0,
    Failed = 1,
    ErrFatal = 2,
    ErrUnknown = 3,
    ErrMissingHostFeature = 4,
    ErrUnsupported = 5,
    ErrExists = 6,
    ErrFormat = 7,
    ErrMemory = 8,
    ErrBadHandle = 9,
    ErrBadIndex = 10,
    ErrValue = 11,
    ReplyYes = 12,
    ReplyNo = 13,
    ReplyDefault = 14,
    ErrImageFormat = 1000,
    /// `kOfxStatGPUOutOfMemory` (also `kOfxStatGLOutOfMemory`).
    GpuOutOfMemory = 1001,
    /// `kOfxStatGPURenderFailed` (also `kOfxStatGLRenderFailed`).
    GpuRenderFailed = 1002,
}

const ALL: [Status; 18] = [
    Status::Ok,
    Status::Failed,
    Status::ErrFatal,
    Status::ErrUnknown,
    Status::ErrMissingHostFeature,
    Status::ErrUnsupported,
    Status::ErrExists,
    Status::ErrFormat,
    Status::ErrMemory,
    Status::ErrBadHandle,
    Status::ErrBadIndex,
    Status::ErrValue,
    Status::ReplyYes,
    Status::ReplyNo,
    Status::ReplyDefault,
    Status::ErrImageFormat,
    Status::GpuOutOfMemory,
    Status::GpuRenderFailed,
];

impl Status {
    /// The raw code a host or plugin returns.
    pub const fn code(self) -> OfxStatus {
        self as OfxStatus
    }

    /// Maps a raw code back; unknown codes (hosts invent some) are `None`.
    pub fn from_code(code: OfxStatus) -> Option<Status> {
        ALL.iter().copied().find(|s| s.code() == code)
    }

    /// The header's name, for messages and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Status::Ok => "kOfxStatOK",
            Status::Failed => "kOfxStatFailed",
            Status::ErrFatal => "kOfxStatErrFatal",
            Status::ErrUnknown => "kOfxStatErrUnknown",
            Status::ErrMissingHostFeature => "kOfxStatErrMissingHostFeature",
            Status::ErrUnsupported => "kOfxStatErrUnsupported",
            Status::ErrExists => "kOfxStatErrExists",
            Status::ErrFormat => "kOfxStatErrFormat",
            Status::ErrMemory => "kOfxStatErrMemory",
            Status::ErrBadHandle => "kOfxStatErrBadHandle",
            Status::ErrBadIndex => "kOfxStatErrBadIndex",
            Status::ErrValue => "kOfxStatErrValue",
            Status::ReplyYes => "kOfxStatReplyYes",
            Status::ReplyNo => "kOfxStatReplyNo",
            Status::ReplyDefault => "kOfxStatReplyDefault",
            Status::ErrImageFormat => "kOfxStatErrImageFormat",
            Status::GpuOutOfMemory => "kOfxStatGPUOutOfMemory",
            Status::GpuRenderFailed => "kOfxStatGPURenderFailed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// A failed OFX call or a refused request: the status to hand back and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Raw code, kept raw so host-specific codes survive the round trip.
    pub code: OfxStatus,
    pub context: String,
}

impl Error {
    pub fn new(status: Status, context: impl Into<String>) -> Self {
        Self {
            code: status.code(),
            context: context.into(),
        }
    }

    /// The status, when the code is one of the standard ones.
    pub fn status(&self) -> Option<Status> {
        Status::from_code(self.code)
    }

    /// Turns a raw return code into `Ok(())` for `kOfxStatOK`, an error otherwise.
    pub fn check(code: OfxStatus, context: impl FnOnce() -> String) -> Result<()> {
        if code == Status::Ok.code() {
            Ok(())
        } else {
            Err(Error {
                code,
                context: context(),
            })
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status() {
            Some(s) => write!(f, "{}: {}", self.context, s),
            None => write!(f, "{}: status {}", self.context, self.code),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_headers() {
        let expected = [
            (Status::Ok, 0),
            (Status::Failed, 1),
            (Status::ErrFatal, 2),
            (Status::ErrUnknown, 3),
            (Status::ErrMissingHostFeature, 4),
            (Status::ErrUnsupported, 5),
            (Status::ErrExists, 6),
            (Status::ErrFormat, 7),
            (Status::ErrMemory, 8),
            (Status::ErrBadHandle, 9),
            (Status::ErrBadIndex, 10),
            (Status::ErrValue, 11),
            (Status::ReplyYes, 12),
            (Status::ReplyNo, 13),
            (Status::ReplyDefault, 14),
            (Status::ErrImageFormat, 1000),
            (Status::GpuOutOfMemory, 1001),
            (Status::GpuRenderFailed, 1002),
        ];
        for (status, code) in expected {
            assert_eq!(status.code(), code, "{}", status.name());
            assert_eq!(Status::from_code(code), Some(status));
        }
        assert_eq!(Status::Ok.code() as u32, openfx_sys::kOfxStatOK);
        assert_eq!(Status::from_code(15), None);
        assert_eq!(Status::from_code(-1), None);
    }

    #[test]
    fn check_keeps_unknown_codes() {
        assert!(Error::check(0, || "x".into()).is_ok());
        let e = Error::check(4242, || "fetch".into()).unwrap_err();
        assert_eq!(e.code, 4242);
        assert_eq!(e.status(), None);
        assert!(e.to_string().contains("4242"));
        let e = Error::check(9, || "prop".into()).unwrap_err();
        assert_eq!(e.status(), Some(Status::ErrBadHandle));
        assert!(e.to_string().contains("kOfxStatErrBadHandle"));
    }
}
