//! `rollcall enroll`: people enrolled from photos (one person, a folder per person, or a CSV);
//! with `--camera`, one person live at a camera (`enroll_live.rs`).

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use super::{CliError, ModelArgs, append_audit, open_store};
use rollcall::config::Config;
use rollcall::enroll::{EnrollError, EnrollPolicy, Enrollee, enroll_person};
use rollcall::event::AuditAction;
use rollcall::store::Store;
use rollcall::vision::analyze::FaceAnalyzer;

/// Arguments of `rollcall enroll`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The person's id in the school's system.
    #[arg(long, required_unless_present_any = ["dir", "csv"], conflicts_with_all = ["dir", "csv"])]
    pub person: Option<String>,
    /// Display name.
    #[arg(long, requires = "person")]
    pub name: Option<String>,
    /// Class group (repeatable).
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Photos of the person.
    #[arg(requires = "person", conflicts_with = "camera")]
    pub photos: Vec<PathBuf>,
    /// Live: enroll the person standing at this camera (from the config), guided through poses.
    #[arg(long, requires = "person")]
    pub camera: Option<String>,
    /// Live: the person is already enrolled; replace their templates.
    #[arg(long, requires = "camera", conflicts_with = "add")]
    pub replace: bool,
    /// Live: the person is already enrolled; add to their templates.
    #[arg(long, requires = "camera")]
    pub add: bool,
    /// Live: print the prompts as JSON lines on stdout (for a kiosk UI).
    #[arg(long, requires = "camera")]
    pub json: bool,
    /// Bulk: a folder holding one folder of photos per person, named by person id.
    #[arg(long, conflicts_with = "csv")]
    pub dir: Option<PathBuf>,
    /// Bulk: a CSV of `id,name,path` rows (paths relative to the CSV).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    #[command(flatten)]
    models: ModelArgs,
}

/// The people to enroll: (id, name, photos).
pub type Batch = Vec<(String, Option<String>, Vec<PathBuf>)>;

fn batch_from_dir(dir: &Path) -> Result<Batch, CliError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|source| CliError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut folders: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for folder in folders {
        let id = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = std::fs::read_to_string(folder.join("name.txt"))
            .ok()
            .map(|s| s.trim().to_string());
        let photos = super::bench::collect_photos(std::slice::from_ref(&folder)).unwrap_or_default();
        out.push((id, name, photos));
    }
    if out.is_empty() {
        return Err(CliError::Usage(format!(
            "{} holds no folders; make one folder of photos per person id",
            dir.display()
        )));
    }
    Ok(out)
}

/// The people a CSV of `id,name,path` rows names (a header row is skipped, a person's rows are
/// gathered), with each path relative to the CSV; `rollcall eval --roster` reads the same file.
pub fn batch_from_csv(csv: &Path) -> Result<Batch, CliError> {
    let text = std::fs::read_to_string(csv).map_err(|source| CliError::Read {
        path: csv.to_path_buf(),
        source,
    })?;
    let base = csv.parent().unwrap_or(Path::new("."));
    let mut out: Batch = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (n == 0 && line.to_ascii_lowercase().starts_with("id,")) {
            continue;
        }
        let fields: Vec<&str> = line.splitn(3, ',').map(str::trim).collect();
        let [id, name, path] = fields[..] else {
            return Err(CliError::Usage(format!(
                "{}:{}: expected `id,name,path`, got {:?}",
                csv.display(),
                n + 1,
                rollcall::untrusted::summary(line)
            )));
        };
        let name = (!name.is_empty()).then(|| name.to_string());
        let photo = base.join(path);
        match out.iter_mut().find(|p| p.0 == id) {
            Some(p) => p.2.push(photo),
            None => out.push((id.to_string(), name, vec![photo])),
        }
    }
    Ok(out)
}

/// Runs `rollcall enroll`.
pub fn run(mut config: Config, args: Args) -> Result<(), CliError> {
    args.models.apply(&mut config);
    if let (Some(camera), Some(person)) = (&args.camera, &args.person) {
        return super::enroll_live::run(
            &config,
            super::enroll_live::LiveEnrollee {
                camera,
                person,
                name: args.name.as_deref(),
                groups: &args.groups,
                replace: args.replace,
                may_update: args.replace || args.add,
                json: args.json,
            },
        );
    }
    let batch: Batch = match (&args.person, &args.dir, &args.csv) {
        (Some(id), _, _) => vec![(id.clone(), args.name.clone(), args.photos.clone())],
        (_, Some(dir), _) => batch_from_dir(dir)?,
        (_, _, Some(csv)) => batch_from_csv(csv)?,
        _ => {
            return Err(CliError::Usage(
                "give --person ID PHOTO..., --dir DIR or --csv FILE".into(),
            ));
        }
    };
    let mut store = open_store(&config)?;
    let mut analyzer = FaceAnalyzer::from_config(&config)?;
    let failed = enroll_batch(
        &mut analyzer,
        &mut store,
        &batch,
        &args.groups,
        config.images.max_pixels,
    )?;
    for (id, _, photos) in batch.iter().filter(|(id, _, _)| !failed.contains(id)) {
        let detail = format!(
            "from {} photo(s) given, groups [{}]",
            photos.len(),
            args.groups.join(", ")
        );
        append_audit(&mut store, &config, AuditAction::Enroll, id, &detail)?;
    }
    outln!("{} enrolled, {} not enrolled", batch.len() - failed.len(), failed.len());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::PartlyFailed(format!("not enrolled: {}", failed.join(", "))))
    }
}

/// Enrolls each person of `batch` into `groups`, saying on stderr what was accepted and
/// rejected; returns the ids of those not enrolled (no photo accepted).
pub fn enroll_batch(
    analyzer: &mut FaceAnalyzer,
    store: &mut Store,
    batch: &Batch,
    groups: &[String],
    max_pixels: u64,
) -> Result<Vec<String>, CliError> {
    let policy = EnrollPolicy::default();
    let bar = ProgressBar::new(batch.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut failed = Vec::new();
    for (id, name, photos) in batch {
        bar.set_message(id.clone());
        let who = Enrollee {
            person: id,
            name: name.as_deref(),
            groups,
        };
        match enroll_person(analyzer, store, &who, photos, &policy, max_pixels) {
            Ok(report) => {
                bar.suspend(|| eprintln!("{id}: enrolled from {} photo(s)", report.accepted.len()));
                for (p, why) in report.rejected {
                    bar.suspend(|| eprintln!("  rejected {}: {why}", p.display()));
                }
            }
            Err(EnrollError::NothingAccepted { reasons, .. }) => {
                bar.suspend(|| eprintln!("{id}: NOT enrolled, no photo accepted: {reasons}"));
                failed.push(id.clone());
            }
            Err(e) => return Err(e.into()),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(failed)
}
