//! The permissions `plugins.yml` grants a plugin, kept as a bit set checked on every service
//! call.

use chronicle_plugin_api::Permission;

/// The permissions granted to one plugin, as a bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grants(u8);

impl Grants {
    /// The set of `permissions`.
    pub fn new(permissions: &[Permission]) -> Self {
        Self(permissions.iter().fold(0, |bits, p| bits | Self::bit(*p)))
    }

    fn bit(permission: Permission) -> u8 {
        1 << (permission as u8)
    }

    /// Whether `permission` was granted.
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & Self::bit(permission) != 0
    }
}
