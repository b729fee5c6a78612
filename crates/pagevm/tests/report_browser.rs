//! The report in a real browser: `pagevm eval` writes `report/index.html`, headless Chromium
//! loads it from disk with networking off, and the serialized DOM must hold every chart as an
//! `<svg>` with its id and drawn content. Needs `/usr/bin/chromium` (`bash
//! scripts/install-chromium`); runs only with `--features browser-test`, so the rest of the
//! suite needs no browser.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking on an unexpected error"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs Chromium's `--dump-dom` on `page`, killing it after two minutes.
fn dump_dom(page: &Path, profile: &Path) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run `bash scripts/install-chromium` first"
    );
    let url = format!("file://{}", page.display());
    // The DOM goes to a file: a pipe nobody reads while waiting would fill and stall Chromium.
    let dump = profile.join("dom.html");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &url])
        .stdout(std::fs::File::create(&dump).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromium");
    // Poll instead of blocking, so a hung browser fails the test instead of the CI job.
    for _ in 0..1200 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            return std::fs::read_to_string(&dump).unwrap();
        }
        sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("chromium did not finish within two minutes");
}

#[test]
fn report_renders_every_chart_in_headless_chromium() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_pagevm"))
        .args(["eval", "--quiet", "--out"])
        .arg(out.path())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pagevm eval failed");
    let page = out.path().join("report/index.html");
    let profile = tempfile::tempdir().unwrap();
    let dom = dump_dom(&page, profile.path());

    assert!(
        dom.contains("<h1>pagevm evaluation report</h1>"),
        "{dom:.400}"
    );
    assert!(!dom.contains("parsererror"), "the page did not parse");
    for id in [
        "chart-sweep-faults",
        "chart-sweep-thrash",
        "chart-real-faults",
        "chart-real-thrash",
        "chart-retention",
        "chart-residency",
    ] {
        let start = dom
            .find(&format!("<svg id=\"{id}\""))
            .unwrap_or_else(|| panic!("chart {id} is not in the rendered DOM"));
        let end = start + dom[start..].find("</svg>").expect("an unclosed <svg>");
        let svg = &dom[start..end];
        let drawn = svg.matches("<polyline").count() + svg.matches("<rect").count();
        assert!(drawn >= 5, "chart {id} has {drawn} drawn elements");
    }
    // The paper's six policies in the sweep's charts; those and cache_stable in the recorded
    // sessions' charts.
    for (id, lines) in [
        ("chart-sweep-faults", 6),
        ("chart-real-faults", 7),
        ("chart-real-billed", 7),
    ] {
        let start = dom.find(&format!("<svg id=\"{id}\"")).unwrap();
        let end = start + dom[start..].find("</svg>").unwrap();
        assert_eq!(dom[start..end].matches("<polyline").count(), lines, "{id}");
    }
    // Links to decision traces resolve to files the evaluation wrote.
    let href = "href=\"../traces/real/";
    let at = dom.find(href).expect("a link to a real-session trace");
    let rel = &dom[at + "href=\"../".len()..];
    let rel = &rel[..rel.find('"').unwrap()];
    assert!(
        out.path().join(rel).is_file(),
        "{rel} is linked but missing"
    );
}
