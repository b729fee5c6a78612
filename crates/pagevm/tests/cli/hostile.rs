//! Hostile and malformed input, as a table: (what, how the scene is set up, the arguments,
//! whether the command succeeds, a fragment its output must hold), plus what must survive
//! each case untouched. A new failure mode gets a row here, so none of it regresses.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::fixture;

const CODEX: &str = "codex/rollout-2025-09-18T14-02-11-tinykv.jsonl";

fn zeph_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../zeph-integration/fixtures/zeph-0.21.4.db")
}

/// The scene a case runs in: a scratch directory and the files it sets up there.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn path(&self, rel: &str) -> String {
        self.dir.path().join(rel).display().to_string()
    }

    fn write(&self, rel: &str, bytes: &[u8]) {
        let path = self.dir.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn copy(&self, from: &Path, rel: &str) {
        let path = self.dir.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::copy(from, path).unwrap();
    }

    #[cfg(unix)]
    fn link(&self, target: &str, rel: &str) {
        std::os::unix::fs::symlink(target, self.dir.path().join(rel)).unwrap();
    }

    #[cfg(unix)]
    fn fifo(&self, rel: &str) {
        let made = Command::new("mkfifo")
            .arg(self.dir.path().join(rel))
            .status()
            .unwrap();
        assert!(made.success());
    }

    /// Every file below the scene with its bytes, to prove a case changed nothing it should not.
    fn snapshot(&self, rel: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.path().join(rel)];
        while let Some(p) = stack.pop() {
            let Ok(meta) = fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                for e in fs::read_dir(&p).unwrap() {
                    stack.push(e.unwrap().path());
                }
            } else if meta.is_file() {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
        out.sort();
        out
    }
}

struct Case {
    what: &'static str,
    setup: fn(&Scene),
    args: fn(&Scene) -> Vec<String>,
    succeeds: bool,
    says: &'static str,
    /// A path (relative to the scene) whose files must be byte-identical afterwards.
    untouched: Option<&'static str>,
}

/// `pagevm migrate --zeph-db ZEPH --store STORE`, both relative to the scene.
fn migrate(sc: &Scene, zeph: &str, store: &str) -> Vec<String> {
    s(&[
        "migrate",
        "--zeph-db",
        &sc.path(zeph),
        "--store",
        &sc.path(store),
    ])
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "eval whose output holds its traces",
            setup: |sc| {
                sc.copy(
                    &PathBuf::from(fixture(CODEX)),
                    "proj/traces/codex/rollout.jsonl",
                )
            },
            args: |sc| {
                s(&[
                    "eval",
                    "--quiet",
                    "--out",
                    &sc.path("proj"),
                    "--traces",
                    &sc.path("proj/traces"),
                ])
            },
            succeeds: false,
            says: "overlap",
            untouched: Some("proj"),
        },
        Case {
            what: "eval whose traces hold its output",
            setup: |sc| sc.copy(&PathBuf::from(fixture(CODEX)), "traces/rollout.jsonl"),
            args: |sc| {
                s(&[
                    "eval",
                    "--quiet",
                    "--out",
                    &sc.path("traces/out"),
                    "--traces",
                    &sc.path("traces"),
                ])
            },
            succeeds: false,
            says: "overlap",
            untouched: Some("traces"),
        },
        Case {
            what: "eval onto a place that cannot be a directory fails before computing",
            setup: |sc| sc.write("file", b"not a directory"),
            args: |sc| s(&["eval", "--quiet", "--out", &sc.path("file/out")]),
            succeeds: false,
            says: "preparing the output directory",
            untouched: Some("file"),
        },
        Case {
            what: "replay of a nonexistent path",
            setup: |_| {},
            args: |sc| s(&["replay", "--trace", &sc.path("missing.jsonl")]),
            succeeds: false,
            says: "No such file",
            untouched: None,
        },
        Case {
            what: "replay of an empty file",
            setup: |sc| sc.write("empty.jsonl", b""),
            args: |sc| s(&["replay", "--trace", &sc.path("empty.jsonl")]),
            succeeds: false,
            says: "cannot tell the format",
            untouched: None,
        },
        Case {
            what: "replay of random bytes",
            setup: |sc| {
                sc.write(
                    "noise.bin",
                    &[0x8f, 0x00, 0xff, 0x13, 0x37, 0xfe, 0x7b, 0x22],
                )
            },
            args: |sc| s(&["replay", "--trace", &sc.path("noise.bin")]),
            succeeds: false,
            says: "cannot tell the format",
            untouched: None,
        },
        Case {
            what: "replay of truncated JSON",
            setup: |sc| {
                let text = fs::read(fixture("swe-agent/ctf__pwn__warmup.traj")).unwrap();
                sc.write("cut.traj", &text[..text.len() / 2]);
            },
            args: |sc| {
                s(&[
                    "replay",
                    "--trace",
                    &sc.path("cut.traj"),
                    "--format",
                    "swe-agent",
                ])
            },
            succeeds: false,
            says: "not a swe-agent file",
            untouched: None,
        },
        Case {
            what: "replay of a file of a known format with no session in it",
            setup: |sc| sc.write("none.json", b"{\"trajectory\": [], \"history\": []}"),
            args: |sc| {
                s(&[
                    "replay",
                    "--trace",
                    &sc.path("none.json"),
                    "--format",
                    "swe-agent",
                ])
            },
            succeeds: false,
            says: "no sessions found in",
            untouched: None,
        },
        Case {
            what: "replay of a session behind a UTF-8 byte-order mark",
            setup: |sc| {
                let mut bytes = "\u{feff}".as_bytes().to_vec();
                bytes.extend(fs::read(fixture(CODEX)).unwrap());
                sc.write("bom.jsonl", &bytes);
            },
            args: |sc| {
                s(&[
                    "replay",
                    "--trace",
                    &sc.path("bom.jsonl"),
                    "--budget",
                    "200",
                ])
            },
            succeeds: true,
            says: "| codex | clawvm | on | 200 |",
            untouched: None,
        },
        Case {
            what: "replay of a session with invalid UTF-8 reports where",
            setup: |sc| {
                let mut bytes = fs::read(fixture(CODEX)).unwrap();
                bytes.extend_from_slice(b"{\"type\":\"\xff\"}\n");
                sc.write("bad.jsonl", &bytes);
            },
            args: |sc| {
                s(&[
                    "replay",
                    "--trace",
                    &sc.path("bad.jsonl"),
                    "--budget",
                    "200",
                ])
            },
            succeeds: true,
            says: "invalid UTF-8",
            untouched: None,
        },
        #[cfg(unix)]
        Case {
            what: "replay of a FIFO",
            setup: |sc| sc.fifo("pipe.jsonl"),
            args: |sc| s(&["replay", "--trace", &sc.path("pipe.jsonl")]),
            succeeds: false,
            says: "not a regular file (a FIFO)",
            untouched: None,
        },
        #[cfg(unix)]
        Case {
            what: "replay of /dev/zero",
            setup: |_| {},
            args: |_| s(&["replay", "--trace", "/dev/zero"]),
            succeeds: false,
            says: "not a regular file (a character device)",
            untouched: None,
        },
        #[cfg(unix)]
        Case {
            what: "replay of a directory with cycles, a device link, a dangling link and a FIFO",
            setup: |sc| {
                sc.copy(&PathBuf::from(fixture(CODEX)), "d/a/s.jsonl");
                sc.link(&sc.path("d"), "d/a/loop");
                sc.link(&sc.path("d/a"), "d/a/self");
                sc.link("/dev/zero", "d/zero.jsonl");
                sc.link(&sc.path("d/gone.jsonl"), "d/dangling.jsonl");
                sc.fifo("d/pipe.jsonl");
            },
            args: |sc| s(&["replay", "--trace", &sc.path("d"), "--budget", "200"]),
            succeeds: true,
            says: "symlink to nothing",
            untouched: None,
        },
        Case {
            what: "migrate into the Zeph database itself",
            setup: |sc| sc.copy(&zeph_fixture(), "z/zeph.db"),
            args: |sc| migrate(sc, "z/zeph.db", "z/zeph.db"),
            succeeds: false,
            says: "is the Zeph database",
            untouched: Some("z"),
        },
        #[cfg(unix)]
        Case {
            what: "migrate into the Zeph database through a symlink",
            setup: |sc| {
                sc.copy(&zeph_fixture(), "z/zeph.db");
                sc.link(&sc.path("z/zeph.db"), "store.db");
            },
            args: |sc| migrate(sc, "z/zeph.db", "store.db"),
            succeeds: false,
            says: "is the Zeph database",
            untouched: Some("z"),
        },
        Case {
            what: "migrate into another SQLite database that is not a pagevm store",
            setup: |sc| {
                sc.copy(&zeph_fixture(), "z/zeph.db");
                sc.copy(&zeph_fixture(), "other/app.db");
            },
            args: |sc| migrate(sc, "z/zeph.db", "other/app.db"),
            succeeds: false,
            says: "is not a pagevm store",
            untouched: Some("other"),
        },
        Case {
            what: "migrate into a read-only store leaves no -wal/-shm beside it",
            setup: |sc| {
                sc.copy(&zeph_fixture(), "z/zeph.db");
                sc.write("ro/store.db", b"");
                let path = sc.dir.path().join("ro/store.db");
                let mut perms = fs::metadata(&path).unwrap().permissions();
                perms.set_readonly(true);
                fs::set_permissions(&path, perms).unwrap();
            },
            args: |sc| migrate(sc, "z/zeph.db", "ro/store.db"),
            succeeds: false,
            says: "is a read-only file",
            untouched: Some("ro"),
        },
        #[cfg(unix)]
        Case {
            what: "migrate from a FIFO",
            setup: |sc| sc.fifo("zeph.db"),
            args: |sc| migrate(sc, "zeph.db", "s.db"),
            succeeds: false,
            says: "not a regular file",
            untouched: None,
        },
        Case {
            what: "migrate from a file that is not SQLite",
            setup: |sc| sc.write("notes.txt", b"hello"),
            args: |sc| migrate(sc, "notes.txt", "s.db"),
            succeeds: false,
            says: "notes.txt",
            untouched: None,
        },
        Case {
            what: "replay with a bad budget number",
            setup: |_| {},
            args: |_| s(&["replay", "--trace", &fixture("codex"), "--budget", "lots"]),
            succeeds: false,
            says: "--budget",
            untouched: None,
        },
    ]
}

#[test]
fn hostile_inputs_get_clear_errors_and_lose_nothing() {
    let mut failures = Vec::new();
    for case in cases() {
        let scene = Scene {
            dir: tempfile::tempdir().unwrap(),
        };
        (case.setup)(&scene);
        let before = case.untouched.map(|rel| scene.snapshot(rel));
        let out = Command::new(env!("CARGO_BIN_EXE_pagevm"))
            .args((case.args)(&scene))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() != case.succeeds {
            failures.push(format!(
                "{}: expected {}, got exit {:?}: {text}",
                case.what,
                if case.succeeds { "success" } else { "failure" },
                out.status.code()
            ));
        } else if !text.contains(case.says) {
            failures.push(format!(
                "{}: output lacks {:?}: {text}",
                case.what, case.says
            ));
        }
        if let (Some(rel), Some(before)) = (case.untouched, before)
            && scene.snapshot(rel) != before
        {
            failures.push(format!("{}: {rel} was changed", case.what));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
