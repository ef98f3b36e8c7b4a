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
//!   temporary directory (docs/s).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use skiff_format::docs::ItemHead;
use skiff_format::{ArchiveReader, ArchiveWriter, EntryKind, ItemRef, WriterOptions, gojson};
use skiff_testkit::workload::{self, Size};

struct Args {
    objects: Vec<usize>,
    level: u32,
    seed: u64,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        objects: vec![1_000, 10_000, 100_000],
        level: 6,
        seed: 42,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--objects" => {
                let v = it.next().context("--objects needs a value")?;
                args.objects = v
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .context("--objects takes numbers, e.g. 1000,10000")?;
            }
            "--level" => args.level = it.next().context("--level needs a value")?.parse()?,
            "--seed" => args.seed = it.next().context("--seed needs a value")?.parse()?,
            "-h" | "--help" => {
                println!("usage: archive [--objects N[,N…]] [--level 0-9] [--seed S]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(args)
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
    let args = parse_args()?;
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
            "       ratio skiff/tar: {:.2}x (goal: >= 100k docs/s per core)\n",
            tar_read.as_secs_f64() / skiff_read.as_secs_f64()
        );
    }
    Ok(())
}
