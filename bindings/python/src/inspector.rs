//! The inspector: `InspectorSession` (DevTools protocol messages in and
//! out, for a client of the caller's own) and `InspectorServer` (the
//! protocol over a WebSocket on a loopback port, for Chrome DevTools or any
//! WebSocket client).

use pyo3::prelude::*;

use crate::aio::detached;
use crate::errors::OrRaise;

/// A DevTools protocol session with an isolate made with
/// ``inspector=True``: ``dispatch`` sends a request (a JSON string), and
/// `on_message` is called with each response and event (JSON strings) on
/// the isolate's thread. ``close()`` (or leaving a ``with`` block) ends the
/// session, which resumes JavaScript it paused.
#[pyclass(module = "ivm", frozen)]
pub(crate) struct InspectorSession {
    inner: ivm_core::InspectorSession,
}

impl InspectorSession {
    pub(crate) fn open(
        py: Python<'_>,
        isolate: &ivm_core::Isolate,
        on_message: Py<PyAny>,
    ) -> PyResult<InspectorSession> {
        let inner = isolate
            .create_inspector_session(move |message| {
                crate::interpreter::attach(|py| {
                    if let Err(error) = on_message.call1(py, (message.message(),)) {
                        error.write_unraisable(py, None);
                    }
                });
            })
            .or_raise(py)?;
        Ok(InspectorSession { inner })
    }
}

#[pymethods]
impl InspectorSession {
    /// Sends a protocol request such as
    /// ``'{"id": 1, "method": "Debugger.enable"}'``; requests are handled in
    /// the order they were sent.
    fn dispatch(&self, py: Python<'_>, message: String) -> PyResult<()> {
        self.inner.dispatch(message).or_raise(py)
    }

    /// Ends the session; closing twice is harmless.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    /// Whether the session was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: &Bound<'_, PyAny>,
        _error: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) {
        self.close(py);
    }

    fn __repr__(&self) -> &'static str {
        if self.inner.is_closed() { "<ivm.InspectorSession closed>" } else { "<ivm.InspectorSession>" }
    }
}

/// Serves an isolate's inspector to DevTools over a WebSocket on
/// ``127.0.0.1``: open ``devtools_url`` in Chrome, or connect any protocol
/// client to ``websocket_url``. ``close()`` (or leaving a ``with`` block)
/// stops it and ends its sessions.
#[pyclass(module = "ivm", frozen)]
pub(crate) struct InspectorServer {
    inner: ivm_core::InspectorServer,
}

impl InspectorServer {
    pub(crate) fn start(py: Python<'_>, isolate: &ivm_core::Isolate, port: u16) -> PyResult<InspectorServer> {
        Ok(InspectorServer { inner: detached(py, || ivm_core::InspectorServer::start(isolate, port))? })
    }
}

#[pymethods]
impl InspectorServer {
    /// The port it listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.inner.port()
    }

    /// Where a protocol client connects: ``ws://127.0.0.1:<port>/<id>``.
    #[getter]
    fn websocket_url(&self) -> String {
        self.inner.websocket_url()
    }

    /// The address to open in Chrome to debug the isolate with DevTools.
    #[getter]
    fn devtools_url(&self) -> String {
        self.inner.devtools_url()
    }

    /// Stops the server and ends its sessions; closing twice is harmless.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: &Bound<'_, PyAny>,
        _error: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) {
        self.close(py);
    }

    fn __repr__(&self) -> String {
        format!("<ivm.InspectorServer {}>", self.inner.websocket_url())
    }
}
