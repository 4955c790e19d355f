//! The README's settings table says what `serve` takes: every flag of `serve` has a row, every
//! row names real flags, and each row's environment variable is the flag's.

use std::collections::BTreeSet;

use clap::CommandFactory;

/// The settings table's rows: the flags in the first column, the env names in the second.
fn table_rows() -> Vec<(Vec<String>, Vec<String>)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("## Settings")
        .nth(1)
        .expect("a Settings section")
        .lines()
        .skip_while(|l| !l.starts_with("| flag"))
        .skip(2)
        .take_while(|l| l.starts_with('|'));
    let ticked = |cell: &str, prefix: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .filter(|t| t.starts_with(prefix))
            .map(|t| t.trim_start_matches("--").to_owned())
            .collect()
    };
    table
        .map(|row| {
            let cells: Vec<&str> = row.split('|').collect();
            (ticked(cells[1], "--"), ticked(cells[2], "SWITCHBOARD_"))
        })
        .collect()
}

#[test]
fn the_settings_table_matches_serve() {
    let serve = switchboard::Settings::command();
    let flags: BTreeSet<String> = serve
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_owned))
        .filter(|l| l != "help")
        .collect();
    let aliases: BTreeSet<String> = serve
        .get_arguments()
        .flat_map(|a| a.get_all_aliases().into_iter().flatten())
        .map(str::to_owned)
        .collect();
    let rows = table_rows();
    let listed: BTreeSet<String> = rows.iter().flat_map(|(f, _)| f.iter().cloned()).collect();
    let missing: Vec<_> = flags.difference(&listed).collect();
    let unknown: Vec<_> = listed
        .iter()
        .filter(|l| !flags.contains(*l) && !aliases.contains(*l))
        .collect();
    assert!(
        missing.is_empty(),
        "flags without a README row: {missing:?}"
    );
    assert!(unknown.is_empty(), "README rows for no flag: {unknown:?}");
    for (row_flags, envs) in &rows {
        let [flag] = row_flags.as_slice() else {
            continue;
        };
        let arg = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(flag.as_str()))
            .unwrap();
        let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
        assert_eq!(
            envs.first(),
            env.as_ref(),
            "--{flag}: the README's env name"
        );
    }
}

/// Every directory the README hands `--tls-self-signed` inside the clone is ignored by git: the
/// CA's private key written there must never be committed.
#[test]
fn git_ignores_the_tls_directories_the_readme_uses() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let dirs: BTreeSet<&str> = readme
        .split("--tls-self-signed ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|dir| dir.trim_end_matches(['`', ')', ',']))
        .filter(|dir| {
            !dir.starts_with('/')
                && dir
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
                && *dir != "DIR"
        })
        .collect();
    assert!(!dirs.is_empty(), "the README uses --tls-self-signed");
    for dir in dirs {
        let status = std::process::Command::new("git")
            .args(["check-ignore", "-q", &format!("{dir}/ca-key.pem")])
            .current_dir(root)
            .status()
            .expect("git runs");
        assert!(
            status.success(),
            "`{dir}` (README) is not ignored by .gitignore"
        );
    }
}

/// `-h` fits a newcomer: the commands and the dozen common settings, and where the rest are;
/// `--help` has every setting.
#[test]
fn short_help_shows_the_common_settings_and_where_the_rest_are() {
    let help = |flag: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg(flag)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    let short = help("-h");
    assert!(short.lines().count() < 60, "{short}");
    for wanted in [
        "serve",
        "publish",
        "subscribe",
        "--listen",
        "--schema",
        "--api-key",
        "--redis-url",
        "--help",
    ] {
        assert!(short.contains(wanted), "`{wanted}` in -h:\n{short}");
    }
    let long = help("--help");
    assert!(long.contains("--history-per-topic") && long.contains("--redis-timeout"));
    assert!(!short.contains("--redis-timeout"), "{short}");
}
