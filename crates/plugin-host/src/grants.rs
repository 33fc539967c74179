//! The permissions `plugins.yml` grants a plugin, kept as a bit set checked on every service
//! call, and the permissions it has actually used, from which the host learns the least list
//! for a plugin that declares none.

use std::sync::atomic::{AtomicU8, Ordering};

use chronicle_plugin_api::Permission;

/// The permissions granted to one plugin, as a bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    bits: u8,
    /// Whether `plugins.yml` lists them; otherwise every permission is granted, as the Python
    /// original granted every service.
    declared: bool,
}

impl Grants {
    /// Exactly `permissions`, as an explicit `permissions:` list grants.
    pub fn new(permissions: &[Permission]) -> Self {
        Self {
            bits: bits(permissions.iter().copied()),
            declared: true,
        }
    }

    /// What an entry grants: its list, or every permission when it has none.
    pub fn for_entry(permissions: Option<&[Permission]>) -> Self {
        match permissions {
            Some(permissions) => Self::new(permissions),
            None => Self {
                bits: bits(Permission::ALL),
                declared: false,
            },
        }
    }

    /// Whether `permission` was granted.
    pub fn contains(self, permission: Permission) -> bool {
        self.bits & bit(permission) != 0
    }

    /// Whether the plugin's entry lists its permissions.
    pub fn is_declared(self) -> bool {
        self.declared
    }
}

/// The permissions a plugin has used since it was loaded.
#[derive(Debug, Default)]
pub struct PermissionsUsed(AtomicU8);

impl PermissionsUsed {
    /// Notes a use; true the first time this permission is used.
    pub fn record(&self, permission: Permission) -> bool {
        let bit = bit(permission);
        self.0.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// The permissions used so far, in [`Permission::ALL`] order.
    pub fn list(&self) -> Vec<Permission> {
        let used = self.0.load(Ordering::Relaxed);
        Permission::ALL
            .into_iter()
            .filter(|permission| used & bit(*permission) != 0)
            .collect()
    }
}

fn bit(permission: Permission) -> u8 {
    1 << (permission as u8)
}

fn bits(permissions: impl IntoIterator<Item = Permission>) -> u8 {
    permissions.into_iter().fold(0, |bits, p| bits | bit(p))
}
