//! What the plugin may ask about the host application itself: its property set and its name.

use crate::props::PropertySet;
use crate::status::Result;
use crate::suites::{host, suites};

/// The host's own property set (name, supported depths and components, ...).
pub fn host_properties() -> Result<PropertySet> {
    let h = host()?;
    let s = suites()?;
    PropertySet::with_suite(h.host, s.property)
}

/// The host's `kOfxPropName`, or "" when unknown.
pub fn host_name() -> String {
    host_properties()
        .and_then(|p| p.get_string(crate::k!(kOfxPropName), 0))
        .unwrap_or_default()
}
