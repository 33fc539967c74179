//! The HTTP client every provider shares: rustls with the ring provider, one timeout per
//! request, and failures sorted into unreachable, timed out and refused.

use std::time::Duration;

/// Installs rustls's crypto provider once (reqwest and the WebSocket client use rustls without
/// choosing one, so the process must).
pub(crate) fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client with a timeout per request.
#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    timeout: Duration,
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum HttpFailure {
    Unreachable(String),
    TimedOut(f64),
    /// `"<status>: <body start>"`.
    Status(String),
    /// A body past this many bytes.
    TooLarge(usize),
}

impl HttpClient {
    pub(crate) fn new(timeout: Duration) -> Self {
        install_crypto();
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .unwrap_or_default();
        Self { client, timeout }
    }

    /// A POST with a bearer token when one is configured.
    pub(crate) fn post(&self, url: &str, api_key: Option<&str>) -> reqwest::RequestBuilder {
        let request = self.client.post(url).timeout(self.timeout);
        match api_key {
            Some(key) if !key.is_empty() => request.bearer_auth(key),
            _ => request,
        }
    }

    /// Sends and reads the body; a status other than 2xx is a failure quoting the body.
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<String, HttpFailure> {
        self.send_bounded(request, usize::MAX).await
    }

    /// [`Self::send`], refusing a body past `max_bytes` (counted as it arrives).
    pub(crate) async fn send_bounded(
        &self,
        request: reqwest::RequestBuilder,
        max_bytes: usize,
    ) -> Result<String, HttpFailure> {
        let mut response = request.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(&e))? {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(HttpFailure::TooLarge(max_bytes));
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&bytes).into_owned();
        if !status.is_success() {
            let excerpt: String = body.chars().take(200).collect();
            return Err(HttpFailure::Status(format!(
                "{} {}",
                status.as_u16(),
                excerpt.trim()
            )));
        }
        Ok(body)
    }

    /// Sends and gives the response as it starts, for a body read as it streams; a status
    /// other than 2xx is a failure quoting the body.
    pub(crate) async fn open(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, HttpFailure> {
        let response = request.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let excerpt: String = body.chars().take(200).collect();
            return Err(HttpFailure::Status(format!(
                "{} {}",
                status.as_u16(),
                excerpt.trim()
            )));
        }
        Ok(response)
    }

    /// The next piece of a streaming body.
    pub(crate) async fn next_chunk(
        &self,
        response: &mut reqwest::Response,
    ) -> Result<Option<Vec<u8>>, HttpFailure> {
        response
            .chunk()
            .await
            .map(|chunk| chunk.map(|bytes| bytes.to_vec()))
            .map_err(|e| self.classify(&e))
    }

    fn classify(&self, error: &reqwest::Error) -> HttpFailure {
        if error.is_timeout() {
            HttpFailure::TimedOut(self.timeout.as_secs_f64())
        } else {
            // The chain says why (connection refused, DNS); the top says only "error sending".
            let mut detail = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                detail = format!("{detail}: {cause}");
                source = cause.source();
            }
            HttpFailure::Unreachable(detail)
        }
    }
}
