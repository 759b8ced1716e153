//! A site's keys as its backend and its devices hold them: the backend's signing key, and each
//! device's own key pair, made when a test first names the device. Envelopes sealed here are
//! what the backend sends; a device opens them with its [`Site::opener`] and nothing else.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rollcall::keys::{DeviceKey, SealingKey, SigningKey};
use rollcall::store::Key;
use rollcall::sync::roster::{Kind, Opener, Roster, Scope, Sealer, seal_json};

/// The backend's signing key and the devices' keys.
pub struct Site {
    /// The backend's seed (what `rollcall keygen --signing` writes).
    pub backend_seed: Key,
    devices: Mutex<BTreeMap<String, (Key, Arc<DeviceKey>)>>,
}

impl Default for Site {
    fn default() -> Self {
        Site::new()
    }
}

impl Site {
    /// A new backend, no device yet.
    pub fn new() -> Site {
        Site {
            backend_seed: Key::generate(),
            devices: Mutex::new(BTreeMap::new()),
        }
    }

    /// The backend's signing key.
    pub fn backend(&self) -> SigningKey {
        SigningKey::from_seed(&self.backend_seed)
    }

    /// `name`'s key, the same every time it is asked for.
    pub fn device(&self, name: &str) -> Arc<DeviceKey> {
        let mut devices = self.devices.lock().unwrap();
        let (_, key) = devices.entry(name.to_string()).or_insert_with(|| {
            let seed = Key::generate();
            let key = Arc::new(DeviceKey::from_seed(&seed));
            (seed, key)
        });
        key.clone()
    }

    /// Writes `name`'s seed to a new key file, for a daemon's `[device] key_file`.
    pub fn write_device_key(&self, name: &str, path: &Path) {
        self.device(name);
        let devices = self.devices.lock().unwrap();
        devices[name].0.write_new(path).unwrap();
    }

    /// What `name` opens envelopes with: the backend's verifying key and its own key.
    pub fn opener(&self, name: &str) -> Opener {
        Opener {
            verify_key: Some(self.backend().verify_key()),
            device_key: Some(self.device(name)),
            site_key: None,
        }
    }

    /// An envelope of `kind`, signed by the backend and sealed to the devices in `to`, as JSON.
    pub fn seal(
        &self,
        kind: Kind,
        body: &impl serde::Serialize,
        version: u64,
        recognizer: &str,
        scope: &Scope,
        to: &[&str],
    ) -> Vec<u8> {
        let recipients: Vec<SealingKey> = to.iter().map(|d| self.device(d).sealing_key().clone()).collect();
        let backend = self.backend();
        let sealer = Sealer::Signed {
            by: &backend,
            to: &recipients,
        };
        serde_json::to_vec(&seal_json(kind, body, version, recognizer, scope, sealer)).unwrap()
    }

    /// A roster, signed and sealed to `to`, as JSON.
    pub fn roster(&self, roster: &Roster, version: u64, recognizer: &str, scope: &Scope, to: &[&str]) -> Vec<u8> {
        self.seal(Kind::Roster, roster, version, recognizer, scope, to)
    }
}
