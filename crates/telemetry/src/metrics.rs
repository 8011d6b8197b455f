//! The process-wide Prometheus recorder. Services record with the `metrics` macros; the edge
//! renders the text format on `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::PrometheusBuilder;
pub use metrics_exporter_prometheus::PrometheusHandle;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the global recorder on first call and return a handle to it; later calls (tests start
/// several services in one process) share the same recorder.
pub fn install_prometheus() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(h) => h,
            // Another recorder was installed first: keep a private one so rendering still works.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        })
        .clone()
}
