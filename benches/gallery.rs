//! Open-set search speed: top-2 people over 10 000 and 100 000 templates of 512 values, one
//! matrix-vector product each, on one core.
//!
//!     cargo bench --bench gallery

use std::sync::Arc;
use std::time::Instant;

use rollcall::attend::matching::Gallery;
use rollcall::config::PersonScore;
use rollcall::vision::embed::{Embedding, l2_normalise};

/// Deterministic pseudo-random unit vectors (splitmix64).
fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    (0..n)
        .map(|_| {
            let mut v: Vec<f32> = (0..dim).map(|_| next()).collect();
            l2_normalise(&mut v);
            v
        })
        .collect()
}

fn main() {
    if !testkit::bench::asked_to_measure() {
        return;
    }
    let dim = 512;
    let rec: Arc<str> = Arc::from("arcface-w600k-mbf");
    for n in [10_000usize, 100_000] {
        let mut g = Gallery::new(rec.clone(), dim);
        // Two templates per person.
        for (i, v) in vectors(n, dim, 1).into_iter().enumerate() {
            g.add(
                &format!("p{}", i / 2),
                &Embedding {
                    recognizer: rec.clone(),
                    vector: v,
                },
            )
            .unwrap();
        }
        // Probes like real matches: a stored template plus noise, cosine about 0.6 to it.
        let noise = vectors(200, dim, 2);
        let probes: Vec<Embedding> = noise
            .into_iter()
            .enumerate()
            .map(|(i, nz)| {
                let src = g.template((i * 37) % n);
                let mut v: Vec<f32> = src.iter().zip(&nz).map(|(a, b)| 0.6 * a + 0.8 * b).collect();
                l2_normalise(&mut v);
                Embedding {
                    recognizer: rec.clone(),
                    vector: v,
                }
            })
            .collect();
        let time = |g: &Gallery, score: PersonScore| {
            let mut times = Vec::new();
            let mut tops = Vec::new();
            for p in &probes {
                let t = Instant::now();
                let c = std::hint::black_box(g.search_in(p, None, score).unwrap());
                times.push(t.elapsed().as_secs_f64() * 1e3);
                tops.push(c.best.map(|b| b.0));
            }
            times.sort_by(f64::total_cmp);
            (times[times.len() / 2], times[times.len() * 95 / 100], tops)
        };
        let (m, p95, exact) = time(&g, PersonScore::Best);
        println!("{n:>7} templates x {dim}, f32 best template: median {m:.3} ms, p95 {p95:.3} ms");
        let (m, p95, _) = time(&g, PersonScore::Mean);
        println!("{n:>7} templates x {dim}, f32 mean template: median {m:.3} ms, p95 {p95:.3} ms");
        g.enable_int8();
        let (m, p95, quick) = time(&g, PersonScore::Best);
        let agree = exact.iter().zip(&quick).filter(|(a, b)| a == b).count();
        println!(
            "{n:>7} templates x {dim}, int8 + exact shortlist: median {m:.3} ms, p95 {p95:.3} ms, top-1 recall vs f32 {agree}/{}",
            probes.len()
        );
    }
}
