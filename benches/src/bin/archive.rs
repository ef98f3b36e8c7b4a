//! Archive write and read throughput of skiff-format against GNU gzip/tar, same bytes, same run.
//!
//! ```text
//! cargo run --release -p skiff-benches --bin archive -- [--objects N] [--level L]
//! ```
//!
//! For each size (1k, 10k, 100k objects unless `--objects` is given) it generates a workload with
//! server-set fields, then measures:
//! * write: skiff's parallel multi-member writer vs single-threaded `gzip -6 -c` over the exact same
//!   uncompressed tar stream (MB/s of tar input, objects/s, compressed ratio);
//! * read/validate: skiff's reader parsing every item entry as JSON vs `gzip -dc | tar -x` into a
//!   temporary directory (docs/s);
//! * validate: `skiff validate` with every check (the engine's `offline::validate` on a backup
//!   folder holding the archive, its integrity index, resource list and `velero-backup.json`),
//!   one reading thread, in docs/s against the same `gzip -dc | tar -x` baseline.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use skiff_format::docs::ItemHead;
use skiff_format::{ArchiveReader, ArchiveWriter, EntryKind, ItemRef, WriterOptions, gojson};
use skiff_testkit::workload::{self, Size};

/// Archive write and read throughput of skiff-format against GNU gzip/tar.
#[derive(Debug, Parser)]
struct Args {
    /// Workload sizes in objects, e.g. `1000,10000`.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 10_000, 100_000])]
    objects: Vec<usize>,
    /// gzip level of both writers.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    level: u32,
    /// Seed of the workload generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn mb_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn per_s(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Items ready to write: (ref, preferred version, Go-encoded JSON), grouped by resource.
fn items_for(n: usize, seed: u64) -> Vec<(ItemRef, &'static str, Vec<u8>)> {
    let size = if n <= 1_000 {
        Size::S
    } else if n <= 10_000 {
        Size::M
    } else {
        Size::L
    };
    let w = workload::generate(size, seed);
    let mut out: Vec<(ItemRef, &'static str, Vec<u8>)> = w
        .objects
        .iter()
        .take(n)
        .filter_map(|o| {
            let info = workload::resource_info(o)?;
            let name = o["metadata"]["name"].as_str()?.to_owned();
            let item = if info.namespaced {
                ItemRef::namespaced(info.group_resource, o["metadata"]["namespace"].as_str()?, name)
            } else {
                ItemRef::cluster(info.group_resource, name)
            };
            Some((
                item,
                info.version,
                gojson::to_vec(&workload::with_server_fields(o, seed)),
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.group_resource.cmp(&b.0.group_resource));
    out
}

/// A backup folder `<dir>/bench/` for `offline::validate`: the archive, its index, a resource
/// list and `velero-backup.json`, all consistent (so validate finds nothing and runs every check).
fn backup_folder(
    dir: &std::path::Path,
    items: &[(ItemRef, &'static str, Vec<u8>)],
    archive: &[u8],
    index: &skiff_format::ArchiveIndex,
) -> Result<std::path::PathBuf> {
    let folder = dir.join("bench");
    std::fs::create_dir_all(&folder)?;
    std::fs::write(folder.join("bench.tar.gz"), archive)?;
    std::fs::write(folder.join("bench-skiff-index.json.gz"), index.to_gzip_json()?)?;
    let mut list: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for (item, _, json) in items {
        let head = ItemHead::parse(json, &item.to_string())?;
        let key = match &item.namespace {
            Some(ns) => format!("{ns}/{}", item.name),
            None => item.name.clone(),
        };
        list.entry(format!("{}/{}", head.api_version, head.kind))
            .or_default()
            .push(key);
    }
    for keys in list.values_mut() {
        keys.sort();
    }
    let total: usize = list.values().map(Vec::len).sum();
    std::fs::write(
        folder.join("bench-resource-list.json.gz"),
        skiff_format::docs::encode_resource_list(&list)?,
    )?;
    let doc = serde_json::json!({
        "kind": "Backup", "apiVersion": "velero.io/v1",
        "metadata": {"name": "bench", "namespace": "velero"},
        "spec": {"storageLocation": "default", "ttl": "720h0m0s"},
        "status": {
            "version": 1, "formatVersion": "1.1.0", "phase": "Completed",
            "expiration": "2030-01-01T00:00:00Z",
            "progress": {"totalItems": total, "itemsBackedUp": total}
        }
    });
    std::fs::write(
        folder.join("velero-backup.json"),
        serde_json::to_vec_pretty(&doc)?,
    )?;
    Ok(folder)
}

/// `skiff validate` of `folder` through the engine; returns the tarball entries it read.
fn engine_validate(rt: &tokio::runtime::Runtime, folder: &std::path::Path) -> Result<u64> {
    let source = skiff_engine::offline::BackupSource::Folder {
        dir: folder.to_path_buf(),
        name: "bench".into(),
    };
    let report = rt.block_on(skiff_engine::offline::validate(
        &source,
        &skiff_engine::NoProgress,
    ))?;
    ensure!(
        report.findings.is_empty(),
        "validate of the bench archive found: {:?}",
        &report.findings[..report.findings.len().min(5)]
    );
    Ok(report.entries)
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f()?;
        let d = t.elapsed();
        if best.as_ref().is_none_or(|(b, _)| d < *b) {
            best = Some((d, v));
        }
    }
    best.context("no run")
}

fn main() -> Result<()> {
    let args = Args::parse();
    let threads = rayon::current_num_threads();
    println!(
        "skiff archive bench — rayon threads: {threads}, gzip level {}",
        args.level
    );
    println!("(best of 3 runs each; write MB/s are of the uncompressed tar stream)\n");
    let tmp = tempfile::tempdir()?;
    for &n in &args.objects {
        let items = items_for(n, args.seed);
        let objects = items.len() as u64;
        let runs = if n >= 100_000 { 2 } else { 3 };

        // ----- write -----
        let opts = WriterOptions {
            level: args.level,
            ..WriterOptions::default()
        };
        let (skiff_write, (archive, index)) = best_of(runs, || {
            let mut w = ArchiveWriter::with_options(Vec::new(), opts);
            for (item, ver, json) in &items {
                w.add_item(item, ver, json)?;
            }
            Ok(w.finish()?)
        })?;
        let tar_bytes = {
            let mut v = Vec::with_capacity(index.uncompressed_size as usize);
            flate2::read::MultiGzDecoder::new(&archive[..]).read_to_end(&mut v)?;
            v
        };
        let tar_path = tmp.path().join(format!("a{n}.tar"));
        std::fs::write(&tar_path, &tar_bytes)?;
        let (gzip_write, gz_size) = best_of(runs, || {
            let out = Command::new("gzip")
                .arg(format!("-{}", args.level))
                .arg("-c")
                .stdin(std::fs::File::open(&tar_path)?)
                .stderr(Stdio::inherit())
                .output()
                .context("running gzip")?;
            if !out.status.success() {
                bail!("gzip failed");
            }
            Ok(out.stdout.len() as u64)
        })?;
        let raw = tar_bytes.len() as u64;
        let skiff_ratio = archive.len() as f64 / raw as f64;
        let gzip_ratio = gz_size as f64 / raw as f64;

        // ----- read / validate -----
        let (skiff_read, docs) = best_of(runs, || {
            let mut r = ArchiveReader::new(&archive[..]);
            let mut docs = 0u64;
            for e in r.entries()? {
                let e = e?;
                if let EntryKind::Item(item, _) = &e.kind {
                    let head = ItemHead::parse(&e.data, &e.path)?;
                    if head.metadata.name != item.name || head.kind.is_empty() {
                        bail!("name mismatch in {}", e.path);
                    }
                    docs += 1;
                }
            }
            Ok(docs)
        })?;
        // A validate-style pass: every reader check (limits, duplicates, end marker, gzip
        // trailers), every item checked in one pass (JSON, depth, head), every entry hashed
        // against skiff's index.
        let (skiff_validate, vdocs) = best_of(runs, || {
            let mut r = ArchiveReader::new(&archive[..]);
            let mut verifier = index.verifier();
            let mut docs = 0u64;
            while let Some(e) = r.next_entry()? {
                verifier.check(e.path, e.data);
                if let EntryKind::Item(item, _) = e.kind {
                    let (head, _) = skiff_format::json::check_item(e.data, e.path)?;
                    if head.metadata.name != item.name || head.kind.is_empty() {
                        bail!("name mismatch in {}", e.path);
                    }
                    docs += 1;
                }
            }
            if !verifier.finish().is_ok() {
                bail!("index mismatch");
            }
            Ok(docs)
        })?;
        let gz_path = tmp.path().join(format!("a{n}.tar.gz"));
        std::fs::write(&gz_path, &archive)?;
        let (tar_read, ()) = best_of(runs, || {
            let dir = tmp.path().join(format!("x{n}"));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            let st = Command::new("sh")
                .arg("-c")
                .arg("gzip -dc \"$1\" | tar -x -C \"$2\"")
                .arg("sh")
                .arg(&gz_path)
                .arg(&dir)
                .status()?;
            if !st.success() {
                bail!("gzip -dc | tar -x failed");
            }
            Ok(())
        })?;

        // ----- validate (engine, every check) -----
        let folder = backup_folder(&tmp.path().join(format!("v{n}")), &items, &archive, &index)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (engine_validate_time, entries) = best_of(runs, || engine_validate(&rt, &folder))?;
        ensure!(
            entries == docs + 1,
            "validate read {entries} entries, want {}",
            docs + 1
        );

        println!(
            "== {objects} objects: tar {:.1} MB, {} gzip members ==",
            raw as f64 / 1e6,
            index.members.len()
        );
        println!(
            "write  skiff   {:8.1} MB/s {:10.0} objects/s  size {:6.3} of tar",
            mb_s(raw, skiff_write),
            per_s(objects, skiff_write),
            skiff_ratio
        );
        println!(
            "write  gzip -{} {:8.1} MB/s {:10.0} objects/s  size {:6.3} of tar",
            args.level,
            mb_s(raw, gzip_write),
            per_s(objects, gzip_write),
            gzip_ratio
        );
        println!(
            "       ratio skiff/gzip: speed {:.2}x (goal >= 2x on 2 cores), size {:.3}",
            gzip_write.as_secs_f64() / skiff_write.as_secs_f64(),
            skiff_ratio / gzip_ratio
        );
        println!(
            "read   skiff   {:10.0} docs/s ({:.0} docs/s per core: 1 thread) parsing every item entry (ItemHead)",
            per_s(docs, skiff_read),
            per_s(docs, skiff_read)
        );
        println!(
            "validate skiff {:10.0} docs/s (1 thread) reader checks + item check + index sha256 of every entry",
            per_s(vdocs, skiff_validate)
        );
        println!(
            "read   gzip -dc | tar -x  {:10.0} docs/s (extract only, no parsing)",
            per_s(docs, tar_read)
        );
        println!(
            "       ratio skiff/tar: {:.2}x (goal: >= 100k docs/s per core)",
            tar_read.as_secs_f64() / skiff_read.as_secs_f64()
        );
        println!(
            "validate engine {:9.0} docs/s (`skiff validate`, one reading thread; every check: documents, index, items, copies, duplicates, resource list)",
            per_s(docs, engine_validate_time)
        );
        println!(
            "       ratio validate/tar: {:.2}x (goal: >= 100k docs/s and >= 10x)\n",
            tar_read.as_secs_f64() / engine_validate_time.as_secs_f64()
        );
    }
    Ok(())
}
