//! This process's memory and threads, read from `/proc/self` (Linux only; elsewhere every
//! reading is `None`). With the in-process server that is the server's footprint plus the load
//! generator's, a few MiB.

/// One reading of `/proc/self/status`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Footprint {
    /// Resident set now (`VmRSS`), in MiB.
    pub rss_mib: f64,
    /// Highest resident set since the start or the last [`reset_peak`] (`VmHWM`), in MiB.
    pub peak_rss_mib: f64,
    /// Threads now.
    pub threads: u64,
}

/// Reads this process's footprint now; `None` where `/proc/self/status` cannot be read.
pub fn now() -> Option<Footprint> {
    parse(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// Starts the peak resident set (`VmHWM`) over from the current one, so that a run measures
/// its own peak. Returns whether the kernel took it (Linux ≥ 4.0).
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The figures of a `/proc/<pid>/status` text.
fn parse(status: &str) -> Option<Footprint> {
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    Some(Footprint {
        rss_mib: mib(field("VmRSS")?),
        peak_rss_mib: mib(field("VmHWM")?),
        threads: field("Threads")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_of_a_status_file() {
        let status = "Name:\ttokenauth\nVmHWM:\t  65536 kB\nVmRSS:\t   32768 kB\nThreads:\t12\n";
        assert_eq!(
            parse(status),
            Some(Footprint {
                rss_mib: 32.0,
                peak_rss_mib: 64.0,
                threads: 12
            })
        );
        assert_eq!(parse("Name:\tx\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_a_footprint() {
        let footprint = now().expect("/proc/self/status");
        assert!(footprint.threads >= 1);
        assert!(footprint.peak_rss_mib >= footprint.rss_mib);
    }
}
