//! What one client saw during a run: an HDR latency histogram and error counts, kept per client
//! (no locks on the request path) and merged when the run ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::client::{Exchange, Failure};

/// Highest latency the histogram tells apart (longer ones count as this), in microseconds.
const MAX_LATENCY_MICROS: u64 = 120_000_000;

/// Latencies and errors of the requests sent inside the measured window, in total and, for
/// scenarios that mix requests, per kind of request.
pub struct Recorder {
    measure_from: Instant,
    histogram: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    kinds: BTreeMap<&'static str, Histogram<u64>>,
    sent: Arc<AtomicU64>,
}

impl Recorder {
    /// A recorder that keeps only requests sent at or after `measure_from`; every request, the
    /// warm-up's too, is counted in `sent` for the progress line.
    ///
    /// # Errors
    /// Never in practice: the histogram's bounds are constants.
    pub fn new(measure_from: Instant, sent: Arc<AtomicU64>) -> anyhow::Result<Self> {
        Ok(Self {
            measure_from,
            histogram: new_histogram()?,
            errors: BTreeMap::new(),
            kinds: BTreeMap::new(),
            sent,
        })
    }

    /// Records one request; returns its outcome for the scenario to act on.
    pub fn record<T>(&mut self, exchange: Exchange<T>) -> Result<T, Failure> {
        self.record_latency(None, exchange)
    }

    /// Records one request as [`Recorder::record`] does, and also under `kind` (e.g. `login`
    /// in the mixed scenario), so that each kind gets its own rate and percentiles.
    pub fn record_as<T>(
        &mut self,
        kind: &'static str,
        exchange: Exchange<T>,
    ) -> Result<T, Failure> {
        self.record_latency(Some(kind), exchange)
    }

    fn record_latency<T>(
        &mut self,
        kind: Option<&'static str>,
        exchange: Exchange<T>,
    ) -> Result<T, Failure> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if exchange.started >= self.measure_from {
            let micros = u64::try_from(exchange.latency.as_micros()).unwrap_or(u64::MAX);
            let micros = micros.clamp(1, MAX_LATENCY_MICROS);
            self.histogram.saturating_record(micros);
            if let Some(kind) = kind {
                if !self.kinds.contains_key(kind) {
                    // The total's bounds, which were accepted when it was created.
                    if let Ok(histogram) = new_histogram() {
                        self.kinds.insert(kind, histogram);
                    }
                }
                if let Some(histogram) = self.kinds.get_mut(kind) {
                    histogram.saturating_record(micros);
                }
            }
            if let Err(failure) = &exchange.outcome {
                *self.errors.entry(failure.label()).or_default() += 1;
            }
        }
        exchange.outcome
    }

    /// Everything recorded, to be merged with the other clients'.
    pub fn finish(self) -> Tally {
        Tally {
            histogram: self.histogram,
            errors: self.errors,
            kinds: self.kinds,
        }
    }
}

/// The merged record of one run.
pub struct Tally {
    histogram: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    kinds: BTreeMap<&'static str, Histogram<u64>>,
}

/// Latency percentiles of one run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Latency {
    /// Median, in milliseconds.
    pub p50_ms: f64,
    /// 90th percentile, in milliseconds.
    pub p90_ms: f64,
    /// 99th percentile, in milliseconds.
    pub p99_ms: f64,
    /// Slowest request, in milliseconds.
    pub max_ms: f64,
}

impl Tally {
    /// An empty tally.
    ///
    /// # Errors
    /// Never in practice: the histogram's bounds are constants.
    pub fn empty() -> anyhow::Result<Self> {
        Ok(Self {
            histogram: new_histogram()?,
            errors: BTreeMap::new(),
            kinds: BTreeMap::new(),
        })
    }

    /// Adds another client's record to this one.
    pub fn merge(&mut self, other: Tally) {
        add(&mut self.histogram, &other.histogram);
        for (label, count) in other.errors {
            *self.errors.entry(label).or_default() += count;
        }
        for (kind, histogram) in other.kinds {
            match self.kinds.get_mut(kind) {
                Some(mine) => add(mine, &histogram),
                None => {
                    self.kinds.insert(kind, histogram);
                }
            }
        }
    }

    /// Requests recorded.
    pub fn requests(&self) -> u64 {
        self.histogram.len()
    }

    /// Requests and latency percentiles per kind, for scenarios that record kinds.
    pub fn kinds(&self) -> impl Iterator<Item = (&'static str, u64, Latency)> + '_ {
        self.kinds
            .iter()
            .map(|(kind, histogram)| (*kind, histogram.len(), latency_of(histogram)))
    }

    /// Errors by label (status code, `transport`, `bad_body`).
    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    /// The percentiles of every recorded latency.
    pub fn latency(&self) -> Latency {
        latency_of(&self.histogram)
    }
}

/// Adds `other` into `into`. Same bounds on both sides, so adding cannot fail; saturate rather
/// than lose the run.
fn add(into: &mut Histogram<u64>, other: &Histogram<u64>) {
    if into.add(other).is_err() {
        for value in other.iter_recorded() {
            into.saturating_record_n(value.value_iterated_to(), value.count_at_value());
        }
    }
}

fn latency_of(histogram: &Histogram<u64>) -> Latency {
    // Divided, not multiplied from seconds, so 381951 µs prints as 381.951.
    let ms = |micros: u64| micros as f64 / 1000.0;
    Latency {
        p50_ms: ms(histogram.value_at_quantile(0.50)),
        p90_ms: ms(histogram.value_at_quantile(0.90)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        max_ms: ms(histogram.max()),
    }
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3)?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn exchange(started: Instant, micros: u64, outcome: Result<(), Failure>) -> Exchange<()> {
        Exchange {
            started,
            latency: Duration::from_micros(micros),
            outcome,
        }
    }

    #[test]
    fn only_requests_sent_in_the_window_are_measured() {
        let sent = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut recorder =
            Recorder::new(start + Duration::from_secs(1), sent.clone()).expect("histogram");
        let _ = recorder.record(exchange(start, 10, Err(Failure::Status(401))));
        let _ = recorder.record(exchange(start + Duration::from_secs(2), 1_000, Ok(())));
        let _ = recorder.record(exchange(
            start + Duration::from_secs(3),
            3_000,
            Err(Failure::Status(401)),
        ));
        let mut tally = Tally::empty().expect("histogram");
        tally.merge(recorder.finish());
        assert_eq!(sent.load(Ordering::Relaxed), 3);
        assert_eq!(tally.requests(), 2);
        assert_eq!(tally.errors().get("401"), Some(&1));
        let latency = tally.latency();
        assert!((latency.max_ms - 3.0).abs() < 0.01, "{latency:?}");
        assert!((latency.p50_ms - 1.0).abs() < 0.01, "{latency:?}");
    }
}
