//! Command-line handling shared by the plain (`harness = false`, no criterion) benches that
//! `scripts/perf-report` runs (`perf::args`).
//!
//! `cargo bench` runs every bench binary with `--bench` and whatever follows `--`, which may be a
//! criterion filter meant for another bench (`cargo bench -- fanout`). So a binary run with
//! `--bench` only measures when no filter is given or the filter is part of its name, and never
//! treats a filter as one of its commands; `scripts/perf-report` runs the binaries directly,
//! without `--bench`.

/// The arguments of this process, without the program name.
pub struct Args {
    args: Vec<String>,
    /// Started by `cargo bench`.
    bench: bool,
}

impl Args {
    pub fn from_env() -> Args {
        let mut args: Vec<String> = std::env::args().skip(1).collect();
        let bench = args.iter().any(|a| a == "--bench");
        args.retain(|a| a != "--bench");
        Args { args, bench }
    }

    /// The command (a first argument that is not an option), unless started by `cargo bench`.
    pub fn command(&self) -> Option<&str> {
        match self.args.first() {
            Some(first) if !self.bench && !first.starts_with('-') => Some(first),
            _ => None,
        }
    }

    /// Whether a `cargo bench` filter leaves this bench out. Every `--option` is taken to have a
    /// value, so a filter is a word that does not follow one.
    pub fn filtered_out(&self, name: &str) -> bool {
        if !self.bench {
            return false;
        }
        let mut filters = Vec::new();
        let mut after_option = false;
        for arg in &self.args {
            if arg.starts_with('-') {
                after_option = true;
            } else if !std::mem::take(&mut after_option) {
                filters.push(arg.as_str());
            }
        }
        !filters.is_empty() && !filters.iter().any(|f| name.contains(f))
    }

    /// The value of `--name`, or `default`.
    pub fn opt<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.args.iter().position(|a| a == name) {
            None => Ok(default),
            Some(i) => self
                .args
                .get(i + 1)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a valid value")),
        }
    }
}
