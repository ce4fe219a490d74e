//! The Loymax XML endpoint's side of the generator: one HTTP/1.1 connection per flow.

use super::*;

/// The Loymax login of a generated cashbox.
pub(super) fn xml_login(run: u64, cashbox: u32) -> String {
    format!("load-{run}-{cashbox}")
}

/// One HTTP/1.1 connection to the XML endpoint, one exchange at a time.
pub(super) struct XmlConn {
    send: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    authority: String,
}

impl XmlConn {
    pub(super) async fn open(server: &str) -> anyhow::Result<XmlConn> {
        let uri: http::Uri = server.parse().context("--xml")?;
        let authority = uri
            .authority()
            .context("--xml needs host:port")?
            .to_string();
        let tcp = tokio::net::TcpStream::connect(&authority)
            .await
            .with_context(|| authority.clone())?;
        tcp.set_nodelay(true)?;
        let (send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        Ok(XmlConn { send, authority })
    }

    /// POSTs one document as the till; fails unless the document and its request answer
    /// `ErrorCode` 0.
    pub(super) async fn post(
        &mut self,
        till: &(u32, String),
        login: &str,
        doc: String,
    ) -> anyhow::Result<()> {
        use base64::Engine as _;
        use http_body_util::BodyExt;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{login}:{}", till.1));
        let req = http::Request::post(format!("/XmlExchange/SET/{login}/"))
            .header(http::header::HOST, &self.authority)
            .header(http::header::AUTHORIZATION, format!("Basic {credentials}"))
            .header(http::header::CONTENT_TYPE, "application/xml; charset=utf-8")
            .body(http_body_util::Full::new(bytes::Bytes::from(doc)))?;
        self.send.ready().await?;
        let answer = self.send.send_request(req).await?;
        let status = answer.status();
        let body = answer.into_body().collect().await?.to_bytes();
        let text = String::from_utf8_lossy(&body);
        if !status.is_success()
            || !text.contains("<ErrorCode>0</ErrorCode>")
            || !text.contains("ErrorCode=\"0\"")
        {
            bail!("XML answer {status}: {text}");
        }
        Ok(())
    }
}
