//! OFX status codes as the host returns them (the bindings do not emit the `kOfxStat*` macros).

pub type Status = std::os::raw::c_int;

pub const OK: Status = 0;
pub const FAILED: Status = 1;
pub const ERR_FATAL: Status = 2;
pub const ERR_UNKNOWN: Status = 3;
pub const ERR_MISSING_HOST_FEATURE: Status = 4;
pub const ERR_UNSUPPORTED: Status = 5;
pub const ERR_EXISTS: Status = 6;
pub const ERR_FORMAT: Status = 7;
pub const ERR_MEMORY: Status = 8;
pub const ERR_BAD_HANDLE: Status = 9;
pub const ERR_BAD_INDEX: Status = 10;
pub const ERR_VALUE: Status = 11;
pub const REPLY_YES: Status = 12;
pub const REPLY_NO: Status = 13;
pub const REPLY_DEFAULT: Status = 14;
pub const ERR_IMAGE_FORMAT: Status = 1000;

/// The `kOfxStat*` name of a status, for messages.
pub fn name(st: Status) -> &'static str {
    match st {
        OK => "kOfxStatOK",
        FAILED => "kOfxStatFailed",
        ERR_FATAL => "kOfxStatErrFatal",
        ERR_UNKNOWN => "kOfxStatErrUnknown",
        ERR_MISSING_HOST_FEATURE => "kOfxStatErrMissingHostFeature",
        ERR_UNSUPPORTED => "kOfxStatErrUnsupported",
        ERR_EXISTS => "kOfxStatErrExists",
        ERR_FORMAT => "kOfxStatErrFormat",
        ERR_MEMORY => "kOfxStatErrMemory",
        ERR_BAD_HANDLE => "kOfxStatErrBadHandle",
        ERR_BAD_INDEX => "kOfxStatErrBadIndex",
        ERR_VALUE => "kOfxStatErrValue",
        REPLY_YES => "kOfxStatReplyYes",
        REPLY_NO => "kOfxStatReplyNo",
        REPLY_DEFAULT => "kOfxStatReplyDefault",
        ERR_IMAGE_FORMAT => "kOfxStatErrImageFormat",
        1001 => "kOfxStatGPUOutOfMemory",
        1002 => "kOfxStatGPURenderFailed",
        _ => "unknown status",
    }
}
