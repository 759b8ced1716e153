//! What signed, per-device rosters and signed events cost: the size of a roster envelope of 1000
//! people with 3 SFace templates each, sealed to 1 and to 40 devices; the time to seal and to open
//! it; and the time to sign and to verify one attendance event.
//!
//!     cargo bench --bench keys

use std::time::Instant;

use rollcall::keys::{DeviceKey, SealingKey, SigningKey};
use rollcall::store::Key;
use rollcall::sync::mqtt::signed;
use rollcall::sync::roster::{Opener, Roster, RosterPerson, Scope, Sealer, open_roster, seal};

/// 1000 people with 3 unit templates of 128 values (SFace), deterministic.
fn school() -> Roster {
    let people = (0..1000)
        .map(|p| RosterPerson {
            person_id: format!("s-{p:05}"),
            name: Some(format!("Student {p}")),
            groups: vec![format!("{}{}", 7 + p % 5, ["A", "B", "C"][p % 3])],
            templates: (0..3)
                .map(|t| {
                    let mut v: Vec<f32> = (0..128).map(|i| ((p * 7 + t * 13 + i) as f32 * 0.37).sin()).collect();
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter_mut().for_each(|x| *x /= norm);
                    v
                })
                .collect(),
        })
        .collect();
    Roster {
        people,
        removed: Vec::new(),
    }
}

/// Median seconds of `runs` calls of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

fn main() {
    if !testkit::bench::asked_to_measure() {
        return;
    }
    let backend = SigningKey::from_seed(&Key::generate());
    let devices: Vec<DeviceKey> = (0..40).map(|_| DeviceKey::from_seed(&Key::generate())).collect();
    let roster = school();
    let site = Scope::Site("hillside".into());
    let plain = serde_json::to_vec(&roster).unwrap().len();
    println!("roster of 1000 people x 3 templates (128-d): {plain} bytes of plain JSON");
    let site_key = Key::generate();
    let old = serde_json::to_vec(&seal(&roster, 1, "sface-2021dec", &site, Sealer::SiteKey(&site_key)))
        .unwrap()
        .len();
    println!("  under the site key (rollcall-roster/2):  {old} bytes");
    for n in [1usize, 40] {
        let to: Vec<SealingKey> = devices[..n].iter().map(|d| d.sealing_key().clone()).collect();
        let sealer = Sealer::Signed { by: &backend, to: &to };
        let env = seal(&roster, 1, "sface-2021dec", &site, sealer);
        let bytes = serde_json::to_vec(&env).unwrap().len();
        let seal_s = median(9, || {
            seal(&roster, 1, "sface-2021dec", &site, sealer);
        });
        // A device whose entry is the last of them opens it.
        let device = std::sync::Arc::new(DeviceKey::from_seed(&Key::generate()));
        let mut to_all = to.clone();
        to_all.push(device.sealing_key().clone());
        let env_all = seal(
            &roster,
            1,
            "sface-2021dec",
            &site,
            Sealer::Signed {
                by: &backend,
                to: &to_all,
            },
        );
        let opener = Opener {
            verify_key: Some(backend.verify_key()),
            device_key: Some(device),
            site_key: None,
        };
        let open_s = median(9, || {
            open_roster(&env_all, &opener, &site, 128).unwrap();
        });
        println!(
            "  signed, sealed to {n:>2} device(s) (rollcall-roster/3): {bytes} bytes ({:+} over the site key's), \
             sealed in {:.1} ms, opened and checked in {:.1} ms",
            bytes as i64 - old as i64,
            seal_s * 1e3,
            open_s * 1e3
        );
    }
    let device = &devices[0];
    let event = serde_json::to_vec(&testkit::events::attendance("s-00042", "room-101")).unwrap();
    let topic = "rollcall/v1/hillside/room-101/attendance";
    let signed_event = signed::sign(device.signing_key(), topic, event.clone());
    let public = device.signing_key().verify_key();
    let sign_s = median(2001, || {
        signed::sign(device.signing_key(), topic, event.clone());
    });
    let verify_s = median(2001, || {
        assert!(signed::verify(&public, topic, &signed_event).is_some());
    });
    println!(
        "attendance event of {} bytes (+{} signed): signed in {:.1} us, verified in {:.1} us (medians of 2001, one core)",
        event.len(),
        signed::OVERHEAD,
        sign_s * 1e6,
        verify_s * 1e6
    );
}
